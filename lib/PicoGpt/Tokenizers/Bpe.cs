using System.Text;

namespace PicoGpt.Tokenizers;

/// <summary>
/// Byte-pair encoding of one word, written the way picoGPT's encoder.py (OpenAI's GPT-2 encoder) writes its
/// <c>bpe()</c>: start from the word's symbols, repeatedly merge the adjacent pair with the lowest rank (every
/// occurrence of it, left to right, in one pass) until no adjacent pair has a rank, and return the pieces.
/// This is the reference of notebook 00's exercise and of the notebook's step-by-step pictures; <see cref="Gpt2Tokenizer"/>
/// encodes with Microsoft.ML.Tokenizers and gives the same pieces (a test checks this on thousands of words).
/// </summary>
public static class Bpe
{
    /// <summary>One merge: the pair that was merged, its rank, and the pieces after the merge.</summary>
    public sealed record Step(string Left, string Right, int Rank, IReadOnlyList<string> Pieces);

    /// <summary>
    /// The rank table of a merge list: merges[0] gets rank 0 (the first pair learned, the most frequent), merges[1]
    /// rank 1, and so on. Like encoder.py's <c>dict(zip(bpe_merges, range(len(bpe_merges))))</c>.
    /// </summary>
    public static Dictionary<(string Left, string Right), int> Ranks(IEnumerable<(string Left, string Right)> merges)
    {
        ArgumentNullException.ThrowIfNull(merges);
        var ranks = new Dictionary<(string, string), int>();
        foreach (var pair in merges) ranks.TryAdd(pair, ranks.Count);
        return ranks;
    }

    /// <summary>
    /// A word's starting symbols in GPT-2's byte-level alphabet: its UTF-8 bytes, each shown as one printable character
    /// (the space is "Ġ", the newline "Ċ"). " hello" gives [Ġ, h, e, l, l, o].
    /// </summary>
    public static string[] Symbols(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        return Encoding.UTF8.GetBytes(word).Select(b => Gpt2Tokenizer.ByteToChar[b].ToString()).ToArray();
    }

    /// <summary>
    /// Learns merges the way BPE was introduced for words (Sennrich et al. 2016, Algorithm 1, without the end-of-word
    /// marker, as GPT-2 has none): count every adjacent pair of symbols in the corpus (each word weighted by its
    /// count), merge the most frequent pair everywhere, write it down, and count again. Ties go to the pair seen first
    /// (words in the given order, pairs left to right). Returns the merges in rank order with the count each had.
    /// A teaching version for small corpora; GPT-2's 50,000 merges were learned the same way on bytes of web text.
    /// </summary>
    public static IReadOnlyList<(string Left, string Right, int Count)> Learn(IEnumerable<(string Word, int Count)> words, int merges)
    {
        ArgumentNullException.ThrowIfNull(words);
        var corpus = words.Select(w => (Symbols: (IReadOnlyList<string>)w.Word.Select(c => c.ToString()).ToArray(), w.Count)).ToList();
        var learned = new List<(string, string, int)>();
        while (learned.Count < merges)
        {
            var counts = new Dictionary<(string, string), int>();
            var seen = new List<(string, string)>();                           // first-seen order, for ties
            foreach (var (symbols, count) in corpus)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var pair = (symbols[i], symbols[i + 1]);
                    if (!counts.TryAdd(pair, count)) counts[pair] += count;
                    else seen.Add(pair);
                }
            if (seen.Count == 0) break;                                          // every word is one symbol
            var best = seen.MaxBy(p => counts[p]);                               // the first of the most frequent
            learned.Add((best.Item1, best.Item2, counts[best]));
            var only = new Dictionary<(string Left, string Right), int> { [best] = 0 };
            corpus = corpus.Select(w => ((IReadOnlyList<string>)Merge(w.Symbols, only), w.Count)).ToList();
        }
        return learned;
    }

    /// <summary>The final pieces of <paramref name="symbols"/> after every merge that applies.</summary>
    public static string[] Merge(IReadOnlyList<string> symbols, IReadOnlyDictionary<(string Left, string Right), int> ranks)
    {
        var steps = MergeSteps(symbols, ranks);
        return steps.Count == 0 ? symbols.ToArray() : steps[^1].Pieces.ToArray();
    }

    /// <summary>Every merge in order, with the pieces after it (empty when no pair has a rank).</summary>
    public static IReadOnlyList<Step> MergeSteps(IReadOnlyList<string> symbols, IReadOnlyDictionary<(string Left, string Right), int> ranks)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        ArgumentNullException.ThrowIfNull(ranks);
        var word = symbols.ToList();
        var steps = new List<Step>();
        while (word.Count > 1)
        {
            // the adjacent pair with the lowest rank
            (string Left, string Right) best = ("", "");
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < word.Count; i++)
                if (ranks.TryGetValue((word[i], word[i + 1]), out int rank) && rank < bestRank)
                    (best, bestRank) = ((word[i], word[i + 1]), rank);
            if (bestRank == int.MaxValue) break;                             // no pair has a rank: done

            // merge every occurrence of it, left to right
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count; i++)
            {
                if (i + 1 < word.Count && word[i] == best.Left && word[i + 1] == best.Right)
                {
                    merged.Add(best.Left + best.Right);
                    i++;                                                     // the pair's second symbol is used up
                }
                else merged.Add(word[i]);
            }
            word = merged;
            steps.Add(new Step(best.Left, best.Right, bestRank, word.ToArray()));
        }
        return steps;
    }
}
