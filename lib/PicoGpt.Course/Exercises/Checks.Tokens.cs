using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/00-tokens-and-embeddings.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- embedding

    /// <summary>embed(ids, wte, wpe) = wte[ids] + wpe[0, 1, ..., n_seq - 1]: token plus position embeddings.</summary>
    public static CheckResult Embedding(Func<Tensor, Tensor, Tensor, Tensor> embed)
    {
        Case<(Tensor Ids, Tensor Wte, Tensor Wpe)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        return new CheckEngine<(Tensor Ids, Tensor Wte, Tensor Wpe)>
        {
            Name = "embedding",
            Deterministic = true,
            Reference = i => Ops.Embed(i.Ids, i.Wte, i.Wpe),
            ReferenceName = "Ops.Embed",
            Learner = i => embed(i.Ids, i.Wte, i.Wpe),
            Cases =
            [
                C("ids [3, 1, 4, 1, 5] (token 1 twice), wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([3, 1, 4, 1, 5]), R(111, Float64, 10, 8), R(112, Float64, 16, 8))),
                C("ids [7, 0, 11, 2, 9, 11], wte [12, 4], wpe [6, 4]: n_seq = n_ctx (float32)", F32, () => (Ids([7, 0, 11, 2, 9, 11]), R(113, Float32, 12, 4), R(114, Float32, 6, 4))),
                C("one id [9], wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([9]), R(115, Float64, 10, 8), R(116, Float64, 16, 8))),
                C("batch of ids [2, 5], wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([0, 1, 2, 3, 4, 9, 9, 8, 1, 0]).reshape(2, 5), R(117, Float64, 10, 8), R(118, Float64, 16, 8))),
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[positions], positions 0, 1, ..., n_seq - 1", i => i.Wte[i.Ids]),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => i.Wte[i.Ids] + i.Wpe[i.Ids]),
                new("wte is indexed by token id and wpe by position, not the other way round", i => i.Wte[Pos(i.Ids)] + i.Wpe[i.Ids]),
                new("positions start at 0: wpe[0] for the first token, wpe[n_seq - 1] for the last", i => i.Wte[i.Ids] + i.Wpe[Pos(i.Ids) + 1]),
                new("add the two embeddings (wte[ids] + wpe[positions]); do not multiply them", i => i.Wte[i.Ids] * i.Wpe[Pos(i.Ids)]),
                new(SamePositionEveryToken, i => i.Wte[i.Ids] + i.Wpe[i.Ids.shape[^1] - 1]),
                new("every token got the same position vector, wpe[n_seq], one row past the last position: each token needs its own row, wpe[torch.arange(n_seq)] (rows 0 to n_seq - 1)",
                    i => i.Wte[i.Ids] + i.Wpe[i.Ids.shape[^1]]),
                new("positions run forward: the first token gets wpe[0] and the last wpe[n_seq - 1]; you reversed them",
                    i => i.Wte[i.Ids] + i.Wpe[Pos(i.Ids).flip(0)]),
                new("GPT-2 adds the embeddings as they are: x = wte[ids] + wpe[positions]; the 2017 Transformer multiplies its token embeddings by √d_model, GPT-2 does not",
                    i => i.Wte[i.Ids] * Math.Sqrt(i.Wte.shape[^1]) + i.Wpe[Pos(i.Ids)]),
                new("GPT-2 learns its positions: add the rows of wpe (wpe[positions]), not the sinusoidal table of the 2017 Transformer",
                    i => i.Wte[i.Ids] + CourseOps.SinusoidalPositions(i.Ids.shape[^1], i.Wte.shape[^1], i.Wte.dtype)),
            ],
            InputsUnchanged = true,
            ExceptionHint = e =>
                e.Message.Contains("tensors used as indices must be")
                    ? "index with an integer tensor: torch.arange(n) is int64 already; an arange made with dtype: float32 or float64 cannot index wpe (drop the dtype)"
                : e.Message.Contains("out of range") || e.Message.Contains("out of bounds")
                    ? "an index is out of range: wte has n_vocab rows (index it with the token ids), wpe has n_ctx rows (index it with the positions 0, 1, ..., n_seq - 1)"
                : e.Message.Contains("must match the size")
                    ? "wte[ids] and the position vectors must have the same shape: add wpe[positions] with positions = torch.arange(ids.shape[^1]), " +
                      "one row of wpe per token (not all n_ctx rows of wpe; the positions run along the last axis of ids, so a batch [B, n_seq] has n_seq positions, not B)"
                : e.Message.Contains("vector") || e.Message.Contains("1-D") || e.Message.Contains("one dimension")
                    ? "index with wte[ids] and wpe[positions], which also work for a batch of ids [B, n_seq] (index_select needs a 1-D index)"
                : null,
            Diagnose = (i, expected, got) => got.shape.Length == expected.shape.Length && got.shape[^1] == 2 * expected.shape[^1]
                ? "add the two embeddings (both are n_embd wide); do not concatenate them" : null,
        }.Run();
    }

    const string SamePositionEveryToken =
        "every token got the same position vector, wpe[n_seq - 1]: each token needs its own row, wpe[torch.arange(n_seq)] (row 0 for the first token, row n_seq - 1 for the last)";

    // ---------------------------------------------------------------- sinusoidal positions

    /// <summary>
    /// positions(n_ctx, n_embd): the original Transformer's PE[pos, 2i] = sin(pos / 10000^(2i/d)),
    /// PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), compared with CourseOps.SinusoidalPositions in float64 (any float dtype is fine).
    /// </summary>
    public static CheckResult SinusoidalPositions(Func<long, long, Tensor> positions)
    {
        Case<(long NCtx, long NEmbd)> C(string name, double tol, long nCtx, long nEmbd) => new() { Name = name, Tol = tol, Inputs = () => (nCtx, nEmbd) };
        // a wrong encoding built from the angle rule: angle(pos [n_ctx, 1], column j [n_embd]) -> [n_ctx, n_embd]
        static Tensor Wrong((long NCtx, long NEmbd) i, Func<Tensor, Tensor, Tensor> angle, bool cosFirst = false, double posFrom = 0)
        {
            var pos = (torch.arange(i.NCtx, dtype: Float64) + posFrom).unsqueeze(1);           // [n_ctx, 1]
            var j = torch.arange(i.NEmbd, dtype: Float64);                                      // [n_embd]
            var a = angle(pos, j);                                                               // [n_ctx, n_embd]
            var even = (j.remainder(2) == 0).unsqueeze(0);                                       // [1, n_embd]
            return cosFirst ? torch.where(even, a.cos(), a.sin()) : torch.where(even, a.sin(), a.cos());
        }
        static Tensor Pair(Tensor j) => (j / 2).floor();                                       // i, the pair index of column j
        static Tensor Right(Tensor pos, Tensor j, double d) => pos / torch.pow(10000.0, 2 * Pair(j) / d);
        return new CheckEngine<(long NCtx, long NEmbd)>
        {
            Name = "sinusoidal positions",
            Reference = i => CourseOps.SinusoidalPositions(i.NCtx, i.NEmbd, Float64),
            ReferenceName = "CourseOps.SinusoidalPositions",
            Learner = i => { var t = positions(i.NCtx, i.NEmbd); return t is not null && t.is_floating_point() ? t.to(Float64) : t!; },
            Cases =
            [
                C("n_ctx 4, n_embd 4: row 1 is [sin 1, cos 1, sin 0.01, cos 0.01]", F32, 4, 4),
                C("n_ctx 1, n_embd 8: position 0 is [0, 1, 0, 1, ...]", F32, 1, 8),
                C("n_ctx 50, n_embd 16", F32, 50, 16),
                C("n_ctx 64, n_embd 128", 1e-4, 64, 128),
                C("GPT-2's size: n_ctx 1024, n_embd 768 (float32 rounds angles near 1000 to about 1e-4)", 1e-3, 1024, 768),
            ],
            Traps =
            [
                new("sin goes in the even columns (2i) and cos in the odd ones (2i+1): you swapped them",
                    i => Wrong(i, (pos, j) => Right(pos, j, i.NEmbd), cosFirst: true)),
                new("interleave sin and cos: column 2i is sin, column 2i+1 is cos of the same angle (you put all the sines first, then all the cosines)",
                    i => { var a = Right(torch.arange(i.NCtx, dtype: Float64).unsqueeze(1), torch.arange(0, i.NEmbd, 2, dtype: Float64), i.NEmbd); return torch.cat([a.sin(), a.cos()], 1); }),
                new("every column has the frequency of column 0: in C# 2 * i / d with integers is 0 (integer division); compute the exponent in floating point, 2.0 * i / d",
                    i => Wrong(i, (pos, j) => pos.expand(-1, j.shape[0]))),
                new("columns 2i and 2i+1 share one frequency, 1 / 10000^(2i/d): you used the column number in the exponent, so the cos columns got 10000^((2i+1)/d)",
                    i => Wrong(i, (pos, j) => pos / torch.pow(10000.0, j / i.NEmbd))),
                new("the exponent is 2i/d, where i is the pair number (columns 2i and 2i+1): you used i/d",
                    i => Wrong(i, (pos, j) => pos / torch.pow(10000.0, Pair(j) / i.NEmbd))),
                new("divide the position by 10000^(2i/d) (the frequencies fall with the column); you multiplied",
                    i => Wrong(i, (pos, j) => pos * torch.pow(10000.0, 2 * Pair(j) / i.NEmbd))),
                new("positions start at 0: row 0 is sin 0 = 0, cos 0 = 1",
                    i => Wrong(i, (pos, j) => Right(pos, j, i.NEmbd), posFrom: 1)),
                new("the angles are in radians already: sin(pos / 10000^(2i/d)) with no conversion from degrees",
                    i => Wrong(i, (pos, j) => Right(pos, j, i.NEmbd) * Math.PI / 180)),
                new("rows are positions and columns are dimensions: return [n_ctx, n_embd], not its transpose",
                    i => CourseOps.SinusoidalPositions(i.NEmbd, i.NCtx, Float64).T),
                new("interleave sin and cos, and sin first: column 2i is sin, column 2i+1 is cos of the same angle (you put all the cosines first, then all the sines)",
                    i => { var a = Right(torch.arange(i.NCtx, dtype: Float64).unsqueeze(1), torch.arange(0, i.NEmbd, 2, dtype: Float64), i.NEmbd); return torch.cat([a.cos(), a.sin()], 1); }),
                new("columns 2i and 2i+1 share one frequency, 1 / 10000^(2i/d), with i the pair number: you used 2·j/d with j the column number (so column 1 got 10000^(2/d), and column 2 10000^(4/d))",
                    i => Wrong(i, (pos, j) => pos / torch.pow(10000.0, 2 * j / i.NEmbd))),
                new("stack sin and cos along the LAST axis, torch.stack([sin, cos], -1), so each row's pairs are (sin, cos) side by side before the reshape; " +
                    "stacked along axis 0 the reshape gives all the sines of the first positions, then their cosines",
                    i =>
                    {
                        var angle = Right(torch.arange(i.NCtx, dtype: Float64).unsqueeze(1), torch.arange(0, i.NEmbd, 2, dtype: Float64), i.NEmbd);   // [n_ctx, n_embd / 2]
                        return torch.stack([angle.sin(), angle.cos()], 0).reshape(i.NCtx, i.NEmbd);
                    }),
                new("the positions go down the rows: pos = torch.arange(nCtx).unsqueeze(1) is a column [n_ctx, 1] and the 2i values a row [n_embd / 2], " +
                    "so the angles are [n_ctx, n_embd / 2]; yours were [n_embd / 2, n_ctx] (positions along the columns) before the stack and reshape",
                    i =>
                    {
                        var pos = torch.arange(i.NCtx, dtype: Float64).unsqueeze(0);                     // [1, n_ctx]
                        var twoI = torch.arange(0, i.NEmbd, 2, dtype: Float64).unsqueeze(1);            // [n_embd / 2, 1]
                        var angle = pos / torch.pow(10000.0, twoI / i.NEmbd);                           // [n_embd / 2, n_ctx]
                        return torch.stack([angle.sin(), angle.cos()], -1).reshape(i.NCtx, i.NEmbd);
                    }),
            ],
            ExceptionHint = e => ShapeError(e) || e.Message.Contains("size")
                ? "build the angles as positions [n_ctx, 1] divided by frequencies [n_embd / 2] (broadcasting gives [n_ctx, n_embd / 2]), then put sin and cos side by side: torch.stack([s, c], -1).reshape(n_ctx, n_embd)"
                : null,
            Diagnose = (i, expected, got) =>
                got.shape.SequenceEqual(expected.shape) && got.shape[1] >= 4
                && CheckEngine.Matches(got.narrow(1, 0, 2), expected.narrow(1, 0, 2), 1e-4)
                    ? "columns 0 and 1 are right and later ones are not: check the frequency 1 / 10000^(2i/d) (base 10000, exponent 2i/d with i the pair number)"
                : got.shape.Length == 2 && got.shape[0] == expected.shape[1] && got.shape[1] == expected.shape[0] && got.shape[0] != got.shape[1]
                    ? "rows are positions and columns are dimensions: return [n_ctx, n_embd], not its transpose"
                : null,
        }.Run();
    }

    // ---------------------------------------------------------------- byte-pair encoding of one word

    /// <summary>
    /// bpe(symbols, ranks): merge the adjacent pair with the lowest rank (every occurrence, left to right) until no
    /// adjacent pair has a rank, and return the pieces; compared with <see cref="Tokenizers.Bpe.Merge"/>, on toy merge tables made to
    /// tell typical mistakes apart, then on GPT-2's real merges.
    /// </summary>
    public static CheckResult Bpe(Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>> bpe)
    {
        var toy = Tokenizers.Bpe.Ranks([("o", "w"), ("w", "e"), ("s", "t"), ("l", "o"), ("e", "s")]);
        var aaa = Tokenizers.Bpe.Ranks([("a", "a"), ("aa", "a")]);
        var cases = new List<PiecesCase>
        {
            new("l o w e s t with ranks (o w) 0, (w e) 1, (s t) 2, (l o) 3, (e s) 4", ["l", "o", "w", "e", "s", "t"], toy),
            new("a a a a a with ranks (a a) 0, (aa a) 1", ["a", "a", "a", "a", "a"], aaa),
            new("one symbol [x]: no pair to merge", ["x"], toy),
            new("no pair has a rank: [t, e, l, s]", ["t", "e", "l", "s"], toy),
            new("pieces [ab, c, a, bc] (after earlier merges) with ranks (ab c) 0, (c a) 1: only (ab, c) merges, not (a, bc)",
                ["ab", "c", "a", "bc"], Tokenizers.Bpe.Ranks([("ab", "c"), ("c", "a")])),
        };
        var gpt2 = Gpt2Ranks();
        foreach (var word in Gpt2Words)
            cases.Add(new($"GPT-2's merges on {TokenText.Quote(word)}: symbols [{string.Join(", ", Tokenizers.Bpe.Symbols(word))}]", Tokenizers.Bpe.Symbols(word), gpt2));
        return RunPieces("bpe", "Bpe.Merge", cases, bpe,
        [
            new("merge the pair with the LOWEST rank first (rank 0 is the first merge learned, from the most frequent pair); you merged the highest",
                (w, r) => BpeLoop(w, r, pick: pairs => Ranked(pairs, r).MaxBy(p => r[p!.Value]))),
            new("keep merging until no adjacent pair has a rank: you stopped after the first merge",
                (w, r) => BpeLoop(w, r, maxSteps: 1)),
            new("stop when no adjacent pair has a rank: you went on merging pairs that are not in the table",
                (w, r) => [string.Concat(w)]),
            new("take the lowest rank among ALL adjacent pairs, not the first pair (from the left) that has a rank",
                (w, r) => BpeLoop(w, r, pick: pairs => Ranked(pairs, r).FirstOrDefault())),
            new("keep merging while the word has two or more pieces (while word.Count > 1): you stopped at two",
                (w, r) => BpeLoop(w, r, minPieces: 2)),
            new("look at every adjacent pair, including the last one (word[n - 2], word[n - 1]): loop i from 0 while i + 1 < n",
                (w, r) => BpeLoop(w, r, pick: pairs => Ranked(pairs.Take(pairs.Count - 1), r).MinBy(p => r[p!.Value]))),
            new("after merging word[i] and word[i + 1], skip word[i + 1] (continue at i + 2): your pieces repeat a symbol",
                (w, r) => BpeLoop(w, r, skip: false)),
            new("merge symbols, not text: joining the pieces with spaces and calling Replace also matches across piece boundaries (\"aa a\" inside \"aa aa a\")",
                (w, r) => BpeLoop(w, r, replace: true)),
            new("merge the occurrences from left to right: in a a a the left pair (a, a) merges first, giving [aa, a], not [a, aa]; walk i upwards from 0",
                (w, r) => BpeLoop(w, r, rightToLeft: true)),
            new("compare the pair itself, (word[i], word[i + 1]) == best, not the joined text: \"ab\" + \"c\" and \"a\" + \"bc\" are both \"abc\", but only the pair (ab, c) has the rank",
                (w, r) => BpeLoop(w, r, concat: true)),
        ],
            exceptionHint: e =>
                e is TimeoutException
                    ? "the loop never ends: after each merge, replace the word by the merged list (word = merged), and stop (break) when no adjacent pair has a rank. " +
                      "The endless loop keeps running in the background: restart the kernel after fixing it"
                : e is KeyNotFoundException
                    ? "not every adjacent pair is in the table: look it up with ranks.TryGetValue(pair, out var rank) and treat a missing pair as 'no rank'"
                : e is InvalidOperationException && e.Message.Contains("no elements")
                    ? "a word of one symbol (or one piece) has no pairs: stop when there is no pair left, before taking the minimum"
                : e is ArgumentOutOfRangeException or IndexOutOfRangeException
                    ? "an index ran past the end: the pairs are (word[i], word[i + 1]) for i = 0, 1, ..., n - 2"
                : e is InvalidCastException
                    ? "a cast to another collection type failed: symbols is an IReadOnlyList<string>, and this check passes a string[], " +
                      "so (List<string>)symbols works only when a caller happens to pass a List. Make a new list instead, symbols.ToList(), " +
                      "also for a word of one symbol, where there is nothing to merge"
                : null,
            diagnose: (symbols, got) =>
                got.SequenceEqual(symbols)
                    ? "your pieces are the symbols you were given: nothing was merged. After each step, replace the word by the merged list (word = merged) and look for the next pair; return the word, not the input"
                : string.Concat(got) != string.Concat(symbols)
                    ? $"your pieces join to \"{string.Concat(got)}\", not to the word \"{string.Concat(symbols)}\": merging only glues neighbours together"
                : null);
    }

    /// <summary>Words for the GPT-2 cases (each is one piece of GPT-2's pre-tokenizer: a word and the space before it).</summary>
    internal static readonly string[] Gpt2Words = [" hello", "lower", " tokenization", " aaaaaaa", " naïve"];

    /// <summary>GPT-2's merge ranks, built once.</summary>
    static IReadOnlyDictionary<(string Left, string Right), int> Gpt2Ranks() => _gpt2Ranks.Value;
    static readonly Lazy<Dictionary<(string Left, string Right), int>> _gpt2Ranks = new(() => Tokenizers.Bpe.Ranks(Gpt2Tokenizer.Default.Merges));

    static IEnumerable<(string, string)?> Ranked(IEnumerable<(string, string)> pairs, IReadOnlyDictionary<(string Left, string Right), int> ranks) =>
        pairs.Where(p => ranks.ContainsKey(p)).Select(p => ((string, string)?)p);

    /// <summary>The merge loop with switches for its typical mistakes (the reference is Bpe.Merge).</summary>
    static IReadOnlyList<string> BpeLoop(IReadOnlyList<string> symbols, IReadOnlyDictionary<(string Left, string Right), int> ranks,
        Func<List<(string, string)>, (string, string)?>? pick = null, int maxSteps = int.MaxValue, bool skip = true, bool replace = false, bool concat = false,
        int minPieces = 1, bool rightToLeft = false)
    {
        pick ??= pairs => Ranked(pairs, ranks).MinBy(p => ranks[p!.Value]);
        var word = symbols.ToList();
        for (int step = 0; step < maxSteps && word.Count > minPieces; step++)
        {
            var pairs = Enumerable.Range(0, word.Count - 1).Select(i => (word[i], word[i + 1])).ToList();
            if (pick(pairs) is not { } best) break;
            if (replace)
            {
                word = string.Join(" ", word).Replace(best.Item1 + " " + best.Item2, best.Item1 + best.Item2).Split(' ').ToList();
                continue;
            }
            if (rightToLeft)
            {
                var reversed = new List<string>();                          // walk from the end, merging (word[i - 1], word[i])
                for (int i = word.Count - 1; i >= 0; i--)
                    if (i > 0 && (word[i - 1], word[i]) == best) { reversed.Add(best.Item1 + best.Item2); i--; }
                    else reversed.Add(word[i]);
                reversed.Reverse();
                word = reversed;
                continue;
            }
            var merged = new List<string>();
            for (int i = 0; i < word.Count; i++)
            {
                if (i + 1 < word.Count && (concat ? word[i] + word[i + 1] == best.Item1 + best.Item2 : (word[i], word[i + 1]) == best))
                {
                    merged.Add(best.Item1 + best.Item2);
                    if (skip) i++;
                }
                else merged.Add(word[i]);
            }
            word = merged;
            if (word.Count > 64) break;                                     // the no-skip mistake can grow the word
        }
        return word;
    }

    // ---------------------------------------------------------------- checks whose answer is a list of strings

    sealed record PiecesCase(string Name, string[] Symbols, IReadOnlyDictionary<(string Left, string Right), int> Ranks);

    sealed record PiecesTrap(string Hint, Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>> Wrong);

    /// <summary>
    /// Like CheckEngine, for functions that return pieces of text: runs the cases in order, stops at the first failure,
    /// names the case, shows expected and got, and gives the first matching trap's hint (or the exception's, or a diagnosis).
    /// </summary>
    static CheckResult RunPieces(string name, string referenceName, IReadOnlyList<PiecesCase> cases,
        Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>> learner,
        IReadOnlyList<PiecesTrap> traps, Func<Exception, string?> exceptionHint, Func<IReadOnlyList<string>, IReadOnlyList<string>, string?> diagnose) =>
        CheckEngine.Guarded(name, () =>
    {
        static string List(IEnumerable<string> pieces) => "[" + string.Join(", ", pieces) + "]";
        static string? Safe(Func<string?> f) { try { return f(); } catch (Exception) { return null; } }
        var details = new List<string>();
        string? failure = null, hint = null;
        foreach (var c in cases)
        {
            if (failure != null) { details.Add($"· {c.Name}: not run (the check stops at the first failing case)"); continue; }
            var expected = Tokenizers.Bpe.Merge(c.Symbols, c.Ranks);
            IReadOnlyList<string>? got;
            try { got = WithTimeLimit(() => learner(c.Symbols.ToArray(), c.Ranks), name); }
            catch (Exception e) when (CheckEngine.IsNotImplemented(e)) { return CheckEngine.NotImplementedResult(name); }
            catch (Exception e)
            {
                var problem = CheckEngine.Threw(e);
                details.Add($"✗ {c.Name}: {problem}");
                failure = $"case '{c.Name}': {problem}";
                hint = Safe(() => exceptionHint(e)) ?? CheckEngine.LearnerExceptionHint(e);
                continue;
            }
            if (got is null)
            {
                details.Add($"✗ {c.Name}: returned null");
                failure = $"case '{c.Name}': your function returned null";
                continue;
            }
            if (got.SequenceEqual(expected))
            {
                details.Add($"✓ {c.Name}: {List(got)}");
                continue;
            }
            var diff = $"expected {List(expected)}, got {List(got)}";
            details.Add($"✗ {c.Name}: {diff}");
            failure = $"case '{c.Name}': {diff}";
            hint = traps.Select(t => Safe(() => t.Wrong(c.Symbols.ToArray(), c.Ranks).SequenceEqual(got) ? t.Hint : null)).FirstOrDefault(h => h != null)
                ?? Safe(() => diagnose(c.Symbols, got));
        }
        if (failure == null)
            return new CheckResult(name, true, false, $"all {cases.Count} cases match {referenceName}", null, details);
        return new CheckResult(name, false, false, failure + (hint != null ? ". Hint: " + hint : ""), hint, details);
    });

    /// <summary>How long one case of a loop exercise may run before the check gives up on it (a merge loop that never ends).</summary>
    internal static TimeSpan LoopTimeLimit { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs f on a worker thread and waits at most <see cref="LoopTimeLimit"/>: a loop that never ends (word never replaced
    /// by the merged list) becomes a TimeoutException with a hint instead of a cell that hangs. .NET cannot stop the thread,
    /// so it keeps running until the kernel restarts; the message says so.
    /// </summary>
    static T WithTimeLimit<T>(Func<T> f, string name)
    {
        var task = Task.Run(f);
        if (Task.WhenAny(task, Task.Delay(LoopTimeLimit)).GetAwaiter().GetResult() != task)
            throw new TimeoutException($"your {name} did not return within {LoopTimeLimit.TotalSeconds:0} s");
        return task.GetAwaiter().GetResult();
    }
}
