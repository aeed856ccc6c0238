using System.Text;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

/// <summary>Bpe: picoGPT's merge loop for one word (the reference of notebook 00's exercise).</summary>
public class BpeTests
{
    static readonly Dictionary<(string Left, string Right), int> Toy =
        Bpe.Ranks([("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w"), ("n", "e"), ("ne", "w"), ("new", "est")]);

    [Theory]
    [InlineData("lowest", new[] { "low", "est" })]
    [InlineData("newest", new[] { "newest" })]
    [InlineData("lower", new[] { "low", "e", "r" })]
    [InlineData("x", new[] { "x" })]
    [InlineData("", new string[0])]
    public void Toy_table(string word, string[] pieces) =>
        Assert.Equal(pieces, Bpe.Merge(word.Select(c => c.ToString()).ToArray(), Toy));

    [Fact]
    public void Steps_follow_the_ranks_and_end_at_the_pieces()
    {
        var steps = Bpe.MergeSteps(["n", "e", "w", "e", "s", "t"], Toy);
        Assert.Equal(new[] { 0, 1, 4, 5, 6 }, steps.Select(s => s.Rank));                     // lowest rank first, each once
        Assert.Equal(new[] { "n", "e", "w", "es", "t" }, steps[0].Pieces);
        Assert.Equal(("ne", "w"), (steps[3].Left, steps[3].Right));
        Assert.Equal(new[] { "newest" }, steps[^1].Pieces);
        Assert.Empty(Bpe.MergeSteps(["t", "l"], Toy));
    }

    [Fact]
    public void Every_occurrence_of_the_best_pair_merges_in_one_pass_left_to_right()
    {
        var aa = Bpe.Ranks([("a", "a"), ("aa", "a")]);
        var steps = Bpe.MergeSteps(["a", "a", "a", "a", "a"], aa);
        Assert.Equal(new[] { "aa", "aa", "a" }, steps[0].Pieces);                              // two occurrences in one step
        Assert.Equal(new[] { "aa", "aaa" }, Bpe.Merge(["a", "a", "a", "a", "a"], aa));
        Assert.Equal(new[] { "aa", "a" }, Bpe.Merge(["a", "a", "a"], Bpe.Ranks([("a", "a")])));  // overlapping: the left pair wins
    }

    [Fact]
    public void Ranks_number_the_merges_in_order_and_keep_the_first_of_a_repeat()
    {
        var r = Bpe.Ranks([("a", "b"), ("c", "d"), ("a", "b")]);
        Assert.Equal(2, r.Count);
        Assert.Equal(0, r[("a", "b")]);
        Assert.Equal(1, r[("c", "d")]);
    }

    [Fact]
    public void Symbols_are_gpt2_byte_characters()
    {
        Assert.Equal(new[] { "Ġ", "h", "e", "l", "l", "o" }, Bpe.Symbols(" hello"));
        Assert.Equal(new[] { "Ċ" }, Bpe.Symbols("\n"));
        Assert.Equal(new[] { "Ã", "¯" }, Bpe.Symbols("ï"));                                    // two UTF-8 bytes, C3 AF
        Assert.Equal(4, Bpe.Symbols("🤖").Length);
    }

    [Fact]
    public void Learn_on_sennrichs_dictionary_merges_the_most_frequent_pair_first()
    {
        // Sennrich et al. 2016's example dictionary, without the end-of-word marker
        var merges = Bpe.Learn([("low", 5), ("lower", 2), ("newest", 6), ("widest", 3)], 10);
        Assert.Equal(new[] { ("e", "s", 9), ("es", "t", 9), ("l", "o", 7), ("lo", "w", 7), ("n", "e", 6), ("ne", "w", 6), ("new", "est", 6),
                             ("w", "i", 3), ("wi", "d", 3), ("wid", "est", 3) }, merges);
        var ranks = Bpe.Ranks(merges.Select(m => (m.Left, m.Right)));
        Assert.Equal(new[] { "low", "est" }, Bpe.Merge(Bpe.Symbols("lowest"), ranks));        // a word it never saw
        Assert.Equal(new[] { "new", "e", "r" }, Bpe.Merge(Bpe.Symbols("newer"), ranks));
        Assert.Equal(12, Bpe.Learn([("low", 5), ("lower", 2), ("newest", 6), ("widest", 3)], 100).Count);   // until every word is one piece
    }

    [Fact]
    public void Gpt2_merges_give_the_tokenizers_pieces_on_every_word_of_tinyshakespeare_and_more()
    {
        // every piece of GPT-2's pre-tokenizer in tinyshakespeare and in the tokenizer fixture's texts (many scripts,
        // emoji, digits, white-space runs), except texts with lone surrogates (the tokenizer replaces those first)
        var fixture = Gpt2ReferenceFixture.Cases.Where(c => c.Replaced == null).Select(c => c.Text);
        var text = string.Join("\n", fixture.Prepend(File.ReadAllText(Paths.TinyShakespeare)));
        var words = Gpt2SplitRegex.Regex.Matches(text).Select(m => m.Value).Distinct().ToArray();
        Assert.True(words.Length > 15_000, $"{words.Length} words");
        var tok = Gpt2Tokenizer.Default;
        var ranks = Bpe.Ranks(tok.Merges);
        Assert.Equal(50_000, ranks.Count);
        int multiPiece = 0;
        foreach (var word in words)
        {
            var pieces = Bpe.Merge(Bpe.Symbols(word), ranks);
            var expected = tok.Encode(word).Select(id => Convert.ToHexString(tok.TokenBytes(id))).ToArray();
            var got = pieces.Select(p => Convert.ToHexString(p.Select(c => (byte)Array.IndexOf(Gpt2Tokenizer.ByteToChar, c)).ToArray())).ToArray();
            Assert.True(expected.SequenceEqual(got), $"{TokenText.Quote(word)}: tokenizer [{string.Join(", ", expected)}], Bpe.Merge [{string.Join(", ", got)}]");
            if (pieces.Length > 1) multiPiece++;
        }
        Assert.True(multiPiece > 2_000, $"only {multiPiece} words of several pieces");
    }

    [Theory]
    [InlineData(" hello", new[] { "Ġhello" })]
    [InlineData(" tokenization", new[] { "Ġtoken", "ization" })]
    [InlineData("lower", new[] { "lower" })]
    [InlineData(" naïve", new[] { "ĠnaÃ¯ve" })]
    public void Gpt2_merges_on_the_notebooks_words(string word, string[] pieces) =>
        Assert.Equal(pieces, Bpe.Merge(Bpe.Symbols(word), Bpe.Ranks(Gpt2Tokenizer.Default.Merges)));
}
