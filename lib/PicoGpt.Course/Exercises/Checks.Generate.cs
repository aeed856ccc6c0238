using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/09-generate.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- top-k

    /// <summary>
    /// top_k(logits, k): the filtered logits, with everything but the k largest set to -inf. Compared as probabilities
    /// (softmax of what you return) against <see cref="Sampler.TopK"/>.
    /// </summary>
    public static CheckResult TopK(Func<Tensor, int, Tensor> topK)
    {
        Case<(Tensor L, int K)> C(string name, double tol, Func<(Tensor, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs, View = Probs };
        static Tensor Probs(Tensor logits) => logits.softmax(-1);                      // in the logits' own dtype: the engine compares dtypes
        static Tensor KeepWhere(Tensor l, Tensor keep, double fill) => l.masked_fill(keep.logical_not(), fill);
        static Tensor Kth(Tensor l, int k) => l.topk(k, dim: -1).values.narrow(-1, k - 1, 1);
        return new CheckEngine<(Tensor L, int K)>
        {
            Name = "top_k",
            Reference = i => Sampler.TopK(i.L, i.K),
            InputsUnchanged = true,
            ReferenceName = "Sampler.TopK",
            Learner = i => topK(i.L, i.K),
            Cases =
            [
                C("published logits [4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79], k = 3 → probabilities [0.0615, 0, 0, 0.5775, 0, 0, 0, 0.3610, 0] (float32)", 1e-6,
                    () => (PublishedLogits().to(Float32), 3)),
                C("batch [2, 3, 10], k = 4 (float32)", 1e-6, () => (R(101, Float32, 2, 3, 10) * 3, 4)),
                C("k = 1 (greedy), [2, 6] (float64)", F64, () => (R(102, Float64, 2, 6) * 3, 1)),
                C("k = V keeps every token, [5] (float64)", F64, () => (R(103, Float64, 5) * 3, 5)),
                C("k = 50, more than V = 6: nothing is removed, [2, 6] (float32)", 1e-6, () => (R(104, Float32, 2, 6) * 3, 50)),
                C("a tie at the k-th value: [3, 2, 2, 1, 0], k = 2 keeps 3 and both 2s, as the text says (float32)", 1e-6, () => (T1([3, 2, 2, 1, 0]).to(Float32), 2)),
            ],
            Traps =
            [
                new("keep every logit that ties with the k-th largest (compare with it: logits < kth → -inf, as nanoGPT does); topk's indices pick exactly k of them and drop the ties",
                    i => torch.full_like(i.L, double.NegativeInfinity).scatter(-1, i.L.topk(i.K, dim: -1).indexes, i.L.topk(i.K, dim: -1).values)),
                new("set the removed logits to -inf (double.NegativeInfinity): a logit of 0 still gets probability",
                    i => KeepWhere(i.L, i.L >= Kth(i.L, i.K), 0)),
                new("keep the k largest logits, not the k smallest",
                    i => KeepWhere(i.L, i.L <= (-i.L).topk(i.K, dim: -1).values.narrow(-1, i.K - 1, 1).neg(), double.NegativeInfinity)),
                new("return the filtered logits (removed ones -inf), not probabilities: the caller applies the softmax",
                    i => Sampler.TopK(i.L, i.K).softmax(-1)),
                new("keep exactly k logits: the k-th largest is kept, everything smaller is removed",
                    i => i.K + 1 <= i.L.shape[^1] ? Sampler.TopK(i.L, i.K + 1) : i.L),
                new("keep exactly k logits: the k-th largest is kept, everything smaller is removed",
                    i => i.K > 1 ? Sampler.TopK(i.L, i.K - 1) : torch.full_like(i.L, double.NegativeInfinity)),
                new("keep every logit where it was: set the removed ones to -inf instead of sorting", i => Sampler.TopK(i.L, i.K).sort(-1, descending: true).Values),
                new("each row has its own k-th largest logit: topk(k, dim: -1).values.narrow(-1, k - 1, 1) is [..., 1], one threshold per row; "
                    + "a min() or max() over the whole tensor gives every row the same threshold",
                    i => KeepWhere(i.L, i.L >= i.L.topk(i.K, dim: -1).values.min(), double.NegativeInfinity)),
                new("an ascending sort puts the smallest logits first: take the k-th LARGEST, sort(-1, descending: true) (or topk(k, dim: -1)) at position k - 1",
                    i => KeepWhere(i.L, i.L >= i.L.sort(-1).Values.narrow(-1, i.K - 1, 1), double.NegativeInfinity)),
                new("return logits with the removed ones set to -inf, not probabilities with zeros: the caller takes the softmax, where a 0 still becomes e⁰ = 1",
                    i => i.K >= i.L.shape[^1] ? i.L.softmax(-1) : i.L.softmax(-1).masked_fill(i.L < Kth(i.L, i.K), 0)),
                new(OneRowsThreshold("first"), i => KeepWhere(i.L, i.L >= Kth(i.L.reshape(-1, i.L.shape[^1])[0], i.K), double.NegativeInfinity)),
                new(OneRowsThreshold("last"), i => KeepWhere(i.L, i.L >= Kth(i.L.reshape(-1, i.L.shape[^1])[-1], i.K), double.NegativeInfinity)),
            ],
            ExceptionHint = e => (e.Message.Contains("out of range") || ShapeError(e) ? CheckEngine.SafeHint(() => TopKAxis(topK)) : null)
                ?? (e.Message.Contains("out of range") && e.Message.Contains("selected index")
                    ? "when k is at least the vocabulary size, nothing is removed: return the logits unchanged (topk(k) needs k <= V); "
                      + "and take the top k along the last axis, topk(k, dim: -1)"
                : e.Message.Contains("must match the size")
                    ? "the k-th largest logit must keep the last axis, as size 1, to compare with logits [..., V]: topk(k, dim: -1).values.narrow(-1, k - 1, 1) "
                      + "(values[.., k - 1] drops that axis, and values[-1] is the last row, not the k-th value of each row)"
                : e.Message.Contains("too many indices")
                    ? "the logits can be [V] or [..., V]: take the k-th largest with values.narrow(-1, k - 1, 1), which works on the last axis of both and keeps it as size 1"
                : null),
            Diagnose = (i, expected, got) => got.shape.Length > 0 && got.shape[^1] == i.K && i.K != i.L.shape[^1]
                ? "return a tensor shaped like the logits ([..., V]) with the removed entries set to -inf, not just the k kept values" : null,
        }.Run();
    }

    static string OneRowsThreshold(string which) =>
        $"each row has its own k-th largest logit: you took the {which} row's k-th value and used it as the threshold of every row (one number, e.g. from [0] or .item()); " +
        "logits.topk(k, dim: -1).values.narrow(-1, k - 1, 1) is [..., 1], one threshold per row, and compares with every row's own logits";

    /// <summary>
    /// After an exception on a batch: runs the learner's top-k on logits [5, 6, 10] with k = 4, where every axis is long
    /// enough for a k-th value, and names the axis when the function keeps the top k along axis 0 or 1 instead of the last.
    /// </summary>
    static string? TopKAxis(Func<Tensor, int, Tensor> topK)
    {
        using var scope = torch.NewDisposeScope();
        const int k = 4;
        var logits = R(105, Float32, 5, 6, 10) * 3;                                           // [5, 6, 10]
        var got = topK(logits.clone(), k).softmax(-1);
        foreach (var dim in new[] { 0, 1 })
        {
            var kth = logits.topk(k, dim: dim).values.narrow(dim, k - 1, 1);                      // the k-th largest along dim, kept as size 1
            var wrong = logits.masked_fill(logits < kth, double.NegativeInfinity).softmax(-1);
            if (CheckEngine.Matches(got, wrong, 1e-6))
                return $"work along the last axis (dim: -1), the vocabulary: your function takes the k-th largest along axis {dim} (a sort or topk over dim {dim}; on logits [5, 6, 10] with k = 4 " +
                       $"its output is that), which for one row of logits [V] is the last axis too, so the 1-D cases passed; with a batch [B, T, V], axis 0 is B and axis 1 is T: " +
                       "sort(-1, descending: true), or topk(k, dim: -1), then narrow(-1, k - 1, 1)";
        }
        return null;
    }

    /// <summary>The top-k example's logits (9 tokens), float64.</summary>
    static Tensor PublishedLogits() => T1([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79]);

    // ---------------------------------------------------------------- sample

    const string DrawWithGenerator = "torch.multinomial(probs, 1, generator: generator)";

    /// <summary>
    /// sample(logits, temperature, topK, topP, generator): one next-token id per row, [B, V] -> [B, 1] (int64), against
    /// <see cref="Sampler.Next"/> with a generator of the same seed. A random step becomes checkable because the draw is
    /// torch.multinomial with the generator passed in: the same probabilities and the same seed give the same ids. Each
    /// case draws once in each of many rows, so a wrong distribution shows in many ids; when the ids differ, the check
    /// also asks whether they differ between two runs (an unseeded draw) and whether they still follow the right
    /// distribution (a different but valid way to draw).
    /// </summary>
    public static CheckResult Sample(Func<Tensor, double, int?, double?, Generator, Tensor> sample)
    {
        Case<SampleIn> C(string name, Func<SampleIn> inputs) => new() { Name = name, Tol = 0, Inputs = inputs };
        static Tensor Rows(int n) => PublishedLogits().to(Float32).unsqueeze(0).repeat(n, 1);     // [n, 9]
        Tensor LearnerSample(SampleIn i) { using var g = new Generator((ulong)i.Seed); return sample(i.Logits, i.T, i.K, i.P, g); }
        static Tensor W(SampleIn i, SampleMistake m) => WrongSample(i, m);
        return new CheckEngine<SampleIn>
        {
            Name = "sample",
            Reference = i => { using var g = new Generator((ulong)i.Seed); return Sampler.Next(i.Logits, i.T, i.K, i.P, g); },
            ReferenceName = "Sampler.Next",
            Learner = LearnerSample,
            Cases =
            [
                C("temperature 1, no filter: the 9 published logits in 2,000 rows, one draw per row, seed 1 (float32)", () => new(Rows(2000), 1.0, null, null, 1)),
                C("temperature 0.5 (sharper), 2,000 rows, seed 2", () => new(Rows(2000), 0.5, null, null, 2)),
                C("temperature 2 (flatter), 2,000 rows, seed 3", () => new(Rows(2000), 2.0, null, null, 3)),
                C("top-k 3 at temperature 1 (tokens 3, 7 and 0 with probabilities 0.5775, 0.3610, 0.0615), 2,000 rows, seed 4", () => new(Rows(2000), 1.0, 3, null, 4)),
                C("top-p 0.9 at temperature 2 (keeps tokens 3, 7, 0 and 8: the nucleus of the tempered distribution), 2,000 rows, seed 5", () => new(Rows(2000), 2.0, null, 0.9, 5)),
                C("top-k 5, then top-p 0.95, at temperature 2, 2,000 rows, seed 6", () => new(Rows(2000), 2.0, 5, 0.95, 6)),
                C("the published logits + 1000 at temperature 1, 2,000 rows, seed 9 (float32): the same distribution, but a softmax written inline must subtract the max",
                    () => new(Rows(2000) + 1000, 1.0, null, null, 9)),
                C("temperature 0 is greedy: the argmax of each row, [3, 9] (float32)", () => new(R(107, Float32, 3, 9) * 2, 0.0, null, null, 7)),
                C("random logits [1,000, 50] (float64), temperature 0.9, top-k 10 and top-p 0.9, seed 8", () => new(R(108, Float64, 1000, 50) * 2, 0.9, 10, 0.9, 8)),
            ],
            Traps =
            [
                new("draw from the distribution with " + DrawWithGenerator + ": the argmax is greedy decoding, for temperature 0 only", i => W(i, SampleMistake.ArgMax)),
                new("divide the logits by the temperature (logits / T): T < 1 sharpens, T > 1 flattens; multiplying does the opposite", i => W(i, SampleMistake.TemperatureMultiplied)),
                new("divide the logits by the temperature (logits / T): T < 1 sharpens, T > 1 flattens; multiplying does the opposite", i => W(i, SampleMistake.TemperatureMultiplied | SampleMistake.FiltersFirst)),
                new("divide the logits by T before the softmax: here the temperature changed nothing (dividing the probabilities by T does nothing, the draw renormalises them)", i => W(i, SampleMistake.TemperatureIgnored)),
                new("take one softmax, at the end: logits / T, then top-k / top-p (removed ones -inf), then softmax; a softmax of probabilities flattens the distribution", i => W(i, SampleMistake.SoftmaxTwice)),
                // before "no top-k": a learner who forgot top-k fails earlier, on the top-k case without top-p; here both read the same
                new("apply top-k first, then top-p on what is left (the order of Sampler.Probabilities and of Hugging Face's generate)", i => W(i, SampleMistake.TopPFirst)),
                new("apply top-k when topK has a value: Sampler.TopK(x, k) (or your TopK) on the logits / T", i => W(i, SampleMistake.NoTopK)),
                new("apply top-p when topP has a value: Sampler.TopP(x, p) on the logits / T (after top-k)", i => W(i, SampleMistake.NoTopP)),
                new("divide by the temperature first, then apply top-k and top-p: the nucleus of top-p is measured on the tempered distribution", i => W(i, SampleMistake.FiltersFirst)),
                new("take the softmax over the vocabulary, the last axis: softmax(-1) (dim 0 runs over the rows of the batch)", i => W(i, SampleMistake.SoftmaxDim0)),
                new("top-p keeps the smallest set of tokens whose probability reaches p, the token that crosses p included: remove a token only when the mass before it "
                    + "(cumsum - its own probability) is already >= p (or use Sampler.TopP)", i => W(i, SampleMistake.TopPDropsCrossing)),
            ],
            ExceptionHint = e => e.Message.Contains("element < 0") || e.Message.Contains("sum of probabilities") ? SampleExceptionProbe(sample)
                : e.Message.Contains("1 or 2 dim") ? "torch.multinomial takes probabilities [B, V] (2-D): draw from probs of shape [B, V], one id per row" : null,
            Diagnose = (i, expected, got) => SampleDiagnosis(sample, i, expected, got),
        }.Run();
    }

    internal sealed record SampleIn(Tensor Logits, double T, int? K, double? P, long Seed);

    [Flags]
    enum SampleMistake { None = 0, ArgMax = 1, TemperatureMultiplied = 2, TemperatureIgnored = 4, SoftmaxTwice = 8, NoTopK = 32, NoTopP = 64, FiltersFirst = 128, TopPFirst = 256,
        SoftmaxDim0 = 512, TopPDropsCrossing = 1024 }

    /// <summary>The sampling step with switches for its typical mistakes (the reference is Sampler.Next).</summary>
    static Tensor WrongSample(SampleIn i, SampleMistake m)
    {
        bool Has(SampleMistake x) => (m & x) != 0;
        if (Has(SampleMistake.ArgMax)) return i.Logits.argmax(-1, keepdim: true);
        if (i.T == 0) throw new InvalidOperationException("these mistakes divide by a temperature of 0");
        Tensor Scale(Tensor y) => Has(SampleMistake.TemperatureMultiplied) ? y * i.T : Has(SampleMistake.TemperatureIgnored) ? y : y / i.T;
        Tensor TopK(Tensor y) => i.K is int k && !Has(SampleMistake.NoTopK) ? Sampler.TopK(y, k) : y;
        Tensor TopP(Tensor y) => i.P is double p && !Has(SampleMistake.NoTopP) ? (Has(SampleMistake.TopPDropsCrossing) ? TopPWithoutCrossing(y, p) : Sampler.TopP(y, p)) : y;
        Tensor Filter(Tensor y) => Has(SampleMistake.TopPFirst) ? TopK(TopP(y)) : TopP(TopK(y));
        var x = i.Logits.to(Float32);
        x = Has(SampleMistake.FiltersFirst) ? Scale(Filter(x)) : Filter(Scale(x));
        var probs = x.softmax(Has(SampleMistake.SoftmaxDim0) ? 0 : -1);
        if (Has(SampleMistake.SoftmaxTwice)) probs = probs.softmax(-1);
        using var g = new Generator((ulong)i.Seed);
        return torch.multinomial(probs, 1, generator: g);
    }

    /// <summary>Top-p that also removes the token whose probability crosses p (keeps only the tokens with cumsum ≤ p, the most likely always).</summary>
    static Tensor TopPWithoutCrossing(Tensor logits, double p) // [..., V] -> [..., V]
    {
        var (sorted, indices) = logits.sort(dim: -1, descending: true);
        var remove = sorted.softmax(-1).cumsum(-1) > p;                                   // the crossing token too
        remove[TensorIndex.Ellipsis, 0] = torch.tensor(false);
        return logits.masked_fill(torch.zeros_like(remove).scatter(-1, indices, remove), double.NegativeInfinity);
    }

    /// <summary>The learner's draw threw a multinomial error: find out on which kind of input.</summary>
    static string SampleExceptionProbe(Func<Tensor, double, int?, double?, Generator, Tensor> sample)
    {
        bool Throws(double t, int? k, double? p)
        {
            using var scope = torch.NewDisposeScope();
            using var g = new Generator(1);
            try { sample(PublishedLogits().to(Float32).unsqueeze(0).repeat(4, 1), t, k, p, g); return false; }
            catch (Exception) { return true; }
        }
        bool ThrowsShifted()
        {
            using var scope = torch.NewDisposeScope();
            using var g = new Generator(1);
            try { sample(PublishedLogits().to(Float32).unsqueeze(0).repeat(4, 1) + 1000, 1.0, null, null, g); return false; }
            catch (Exception) { return true; }
        }
        return Throws(1.0, null, null)
                ? "torch.multinomial takes probabilities, not logits (logits are scores and can be negative): draw from softmax(filtered logits / T)"
            : Throws(0.0, null, null)
                ? "temperature 0 means greedy: return logits.argmax(-1, keepdim: true) before dividing by the temperature (logits / 0 gives infinities)"
            : Throws(1.0, 3, null) || Throws(1.0, null, 0.9)
                ? "top-k and top-p filter logits: apply them before the softmax (the -inf they set becomes probability 0); after the softmax, -inf is not a valid probability"
            : ThrowsShifted()
                ? "the probabilities became inf or NaN for large logits (the published ones + 1000): a softmax written inline overflowed (exp(1000) is inf, and inf / inf is NaN); " +
                  "subtract each row's max first, e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp(), or use x.softmax(-1)"
            : "torch.multinomial needs probabilities that are finite, at least 0 and not all 0: softmax(filtered logits / T)";
    }

    internal static string? SampleDiagnosis(Func<Tensor, double, int?, double?, Generator, Tensor> sample, SampleIn i, Tensor expected, Tensor got)
    {
        long rows = expected.shape[0];
        if (got.dim() == 1 && got.shape[0] == rows)
            return "return one id per row shaped [B, 1]: torch.multinomial(probs, 1) gives that; argmax needs keepdim: true";
        if (got.dim() == 2 && got.shape[0] == rows && got.shape[1] == i.Logits.shape[^1] && got.is_floating_point())
            return "return the drawn token ids [B, 1], not the probabilities: " + DrawWithGenerator;
        if (!expected.shape.SequenceEqual(got.shape) || got.is_floating_point()) return null;
        if (got.dtype != expected.dtype && CheckEngine.Matches(got, expected, 0)) return null;  // the right ids in another dtype: the engine says so
        Tensor again;
        using (var g = new Generator((ulong)i.Seed)) again = sample(i.Logits, i.T, i.K, i.P, g);
        if (!CheckEngine.Matches(got, again, 0))
            return "your draws change between two runs with the same seed: pass the generator you are given, " + DrawWithGenerator + ", instead of drawing from the global random state";
        if (i.T > 0)
        {
            Tensor other;
            using (var g = new Generator((ulong)i.Seed + 1000)) other = sample(i.Logits, i.T, i.K, i.P, g);
            if (CheckEngine.Matches(got, other, 0))
                return "your draws ignore the generator you are given (another seed gave the same ids): draw with it, " + DrawWithGenerator + ", not with a Generator of your own or torch.manual_seed";
        }
        if (i.T == 0) return "temperature 0 means greedy: return logits.argmax(-1, keepdim: true)";
        var probs = Sampler.Probabilities(i.Logits, i.T, i.K, i.P).to(Float64);          // [B, V]
        var v = probs.shape[^1];
        var ids = got.reshape(-1).to(ScalarType.Int64);
        if (ids.min().item<long>() < 0 || ids.max().item<long>() >= v) return $"token ids must be in [0, {v})";
        var counts = torch.bincount(ids, minlength: v).to(Float64);                                                  // [V]
        var picked = probs.gather(1, ids.unsqueeze(1));                                                              // [B, 1]
        if ((picked == 0).any().item<bool>())
            return "you drew tokens whose probability is 0 (removed by the temperature's filters top-k / top-p): filter the logits, then softmax, then draw";
        var mean = probs.sum(dim: 0);                                                                                     // [V]
        var sd = (probs - probs * probs).sum(dim: 0).sqrt();                                                        // binomial spread
        bool sameDistribution = ((counts - mean).abs() <= sd * 5 + 1).all().item<bool>();
        return sameDistribution
            ? "your draws follow the right distribution but are not the ones " + DrawWithGenerator + " makes with this seed: draw once per step with torch.multinomial and the generator you are given"
            : null;
    }

    // ---------------------------------------------------------------- generate

    /// <summary>
    /// generate(ids, model, nNew, nCtx): greedy decoding, [B, n_seq] -> [B, n_seq + nNew], against
    /// <see cref="Generation.Greedy"/>, with a counting model (next = last + 1) whose mistakes are easy to read and a tiny
    /// random GPT-2 (<see cref="Ops.Gpt2"/>). The models refuse more than nCtx positions, as GPT-2 does.
    /// </summary>
    public static CheckResult Generate(Func<Tensor, Func<Tensor, Tensor>, int, int, Tensor> generate)
    {
        static Case<GenerateIn> C(string name, Func<GenerateIn> inputs) => new() { Name = name, Tol = 0, Inputs = inputs };
        static Tensor Prompt(int rows, params long[] ids) => Ids(ids).reshape(rows, -1);
        return new CheckEngine<GenerateIn>
        {
            Name = "generate",
            Reference = i => Generation.Greedy(i.Model, i.Ids, i.N, i.Ctx),
            ReferenceName = "Generation.Greedy",
            Learner = i => generate(i.Ids, i.Model, i.N, i.Ctx),
            Cases =
            [
                C("a counting model (next token = last + 1, vocab 10, context 16): prompt [[3, 4]], 5 new tokens → [[3, 4, 5, 6, 7, 8, 9]]", () => new(Prompt(1, 3, 4), CountingModel(10, 16), 5, 16)),
                C("tiny GPT-2 (vocab 8, context 16, float64): prompt [1, 5], 4 new tokens", () => new(Prompt(1, 1, 5, 2, 0, 3), TinyModel(201, 16), 4, 16)),
                C("tiny GPT-2: a batch of 2 prompts [2, 3], 6 new tokens", () => new(Prompt(2, 6, 1, 3, 2, 7, 4), TinyModel(202, 16), 6, 16)),
                C("tiny GPT-2 with context 8: prompt of 6 ids, 7 new tokens (the window slides: keep the last 8 ids)", () => new(Prompt(1, 3, 0, 6, 1, 7, 2), TinyModel(203, 8), 7, 8)),
                C("prompt longer than the context: 11 ids, context 8, 3 new tokens", () => new(Prompt(1, 5, 2, 7, 1, 0, 4, 6, 3, 3, 1, 2), TinyModel(204, 8), 3, 8)),
                C("a counting model with context 4: prompt [[1, 2, 3]], 6 new tokens", () => new(Prompt(1, 1, 2, 3), CountingModel(10, 4), 6, 4)),
                C("0 new tokens: the prompt comes back unchanged", () => new(Prompt(1, 2, 4, 6), TinyModel(205, 16), 0, 16)),
            ],
            Traps =
            [
                new("take the logits of the LAST position (logits[.., -1]): they predict the next token (position 0 only predicts the prompt's second token)", i => WrongGenerate(i, GenerateMistake.FirstPosition)),
                new("append one token per step, the argmax of the last position's logits ([B, 1]), not the argmax at every position", i => WrongGenerate(i, GenerateMistake.WholeArgmax)),
                new("keep the LAST nCtx ids when the sequence is longer than the context (ids[.., ^nCtx..]), not the first ones", i => WrongGenerate(i, GenerateMistake.CropFirst)),
                new("run the model on the sequence so far (prompt + the tokens generated until now) at every step, not on the prompt alone", i => WrongGenerate(i, GenerateMistake.NoFeedback)),
                new("keep the last nCtx ids, not nCtx - 1: the model sees nCtx positions", i => WrongGenerate(i, GenerateMistake.CropOneShort)),
                new("return the prompt followed by the new tokens ([B, n_seq + nNew]), not the new tokens alone", i => WrongGenerate(i, GenerateMistake.OnlyNew)),
                new("return the prompt followed by the new tokens ([B, n_seq + nNew]), not the new tokens alone", i => WrongGenerate(i, GenerateMistake.OnlyNew, extra: 1)),
                new("generate exactly nNew tokens: the result has n_seq + nNew ids (you made one too many)", i => WrongGenerate(i, GenerateMistake.None, extra: 1)),
                new("generate exactly nNew tokens: the result has n_seq + nNew ids (you made one too few)", i => WrongGenerate(i, GenerateMistake.None, extra: -1)),
                new("crop only what the model sees: context = the last nCtx ids, but append to the full ids; the oldest ids drop out of the window, not out of the result",
                    i => WrongGenerate(i, GenerateMistake.CropIds)),
                new("take the argmax over the vocabulary, the last axis: logits[.., -1].argmax(-1, keepdim: true); argmax(-2) picks a position, not a token",
                    i => WrongGenerate(i, GenerateMistake.ArgmaxPositions)),
            ],
            ExceptionHint = e =>
                e.Message.Contains("more than its context") ? "crop before each call: the model sees at most nCtx positions, so pass it the last nCtx ids (ids.narrow(1, T - nCtx, nCtx) when T > nCtx)"
                : e.Message.Contains("the model takes ids [B, T]") ? "pass the model ids shaped [B, T] (keep the batch axis)"
                : e.Message.Contains("same number of dimensions") ? "append the next ids as [B, 1] (argmax(-1, keepdim: true)) so that torch.cat(..., dim: 1) can join them to ids [B, T]"
                : e.Message.Contains("must match except in dimension 1") ? "append the next ids as [B, 1], one per row: the logits are [B, T, n_vocab], the last position is logits[.., -1] ([B, n_vocab]; "
                    + "logits[-1] is the last sequence of the batch, [T, n_vocab]), and argmax(-1, keepdim: true) gives [B, 1] (unsqueeze(1), not unsqueeze(0), if you dropped the axis)"
                : e.Message.Contains("start out of range") || e.Message.Contains("start (") ? "crop only when the sequence is longer than the context: narrow(1, T - nCtx, nCtx) needs T >= nCtx; "
                    + "ids[.., ^nCtx..] when ids.shape[1] > nCtx, else ids as it is"
                : e.Message.Contains("out of bounds for dimension 0") ? "a next id is not a token id: take the argmax of each row over the vocabulary, logits[.., -1].argmax(-1, keepdim: true) "
                    + "(argmax() without an axis flattens the whole tensor)"
                : null,
            Diagnose = (i, expected, got) =>
            {
                long t = i.Ids.shape[1], want = t + i.N;
                if (got.dim() != 2 || got.shape[0] != expected.shape[0]) return got.dim() == 1 ? "return ids shaped [B, n_seq + nNew] (keep the batch axis)" : null;
                if (got.shape.SequenceEqual(expected.shape) && !CheckEngine.Matches(got, generate(i.Ids, i.Model, i.N, i.Ctx), 0))
                    return "your Generate gives other ids on a second run: greedy decoding takes the argmax of the last position's logits, argmax(-1, keepdim: true); drawing at random is Sample's job";
                long n = got.shape[1];
                if (n == i.N && n != want) return "return the prompt followed by the new tokens ([B, n_seq + nNew]), not the new tokens alone";
                if (n == i.Ctx && want > i.Ctx) return "crop only what you pass to the model, context = ids[.., ^nCtx..]; the result keeps the whole prompt and every new id " +
                    $"([B, n_seq + nNew] = [{got.shape[0]}, {want}]), yours kept only the last nCtx = {i.Ctx}";
                if (n == want + 1 || n == want - 1) return $"generate exactly nNew tokens: the result has n_seq + nNew = {want} ids per row, yours has {n}";
                if (n > want + 1) return "append one token per step (the argmax of the last position's logits), nNew times";
                if (n == want && !CheckEngine.Matches(got.narrow(1, 0, t), i.Ids, 0)) return "keep the prompt at the start of the result and append the new tokens after it";
                return null;
            },
        }.Run();
    }

    internal sealed record GenerateIn(Tensor Ids, Func<Tensor, Tensor> Model, int N, int Ctx);

    enum GenerateMistake { None, FirstPosition, WholeArgmax, NoFeedback, CropFirst, CropOneShort, OnlyNew, CropIds, ArgmaxPositions }

    /// <summary>A model that refuses what GPT-2 refuses: ids not shaped [B, T], and more than nCtx positions.</summary>
    static Func<Tensor, Tensor> Guarded(Func<Tensor, Tensor> logits, int ctx) => ids =>
        ids.dim() != 2 ? throw new PicoGptException($"the model takes ids [B, T], got shape [{string.Join(", ", ids.shape)}]")
        : ids.shape[1] > ctx ? throw new PicoGptException($"the model was given {ids.shape[1]} positions, more than its context length {ctx}")
        : logits(ids);

    /// <summary>Logits [B, T, vocab] that make the next token (last + 1) mod vocab, at every position.</summary>
    static Func<Tensor, Tensor> CountingModel(int vocab, int ctx) =>
        Guarded(ids => torch.nn.functional.one_hot((ids + 1) % vocab, vocab).to(Float64) * 3, ctx);

    static Func<Tensor, Tensor> TinyModel(int seed, int ctx)
    {
        var p = Tiny(seed, Float64, vocab: 8, ctx: ctx);
        return Guarded(ids => Ops.Gpt2(ids, p, 2), ctx);
    }

    /// <summary>Greedy decoding with switches for its typical mistakes (the reference is Generation.Greedy).</summary>
    static Tensor WrongGenerate(GenerateIn i, GenerateMistake m, int extra = 0)
    {
        var ids = i.Ids;
        for (int step = 0; step < i.N + extra; step++)
        {
            long t = ids.shape[1];
            if (m == GenerateMistake.CropIds && t > i.Ctx) { ids = ids.narrow(1, t - i.Ctx, i.Ctx); t = i.Ctx; }   // the mistake: crops the result too
            var context = m == GenerateMistake.NoFeedback ? i.Ids
                : m == GenerateMistake.CropFirst && t > i.Ctx ? ids.narrow(1, 0, i.Ctx)
                : m == GenerateMistake.CropOneShort && t >= i.Ctx ? ids.narrow(1, t - i.Ctx + 1, i.Ctx - 1)
                : t > i.Ctx ? ids.narrow(1, t - i.Ctx, i.Ctx) : ids;
            var logits = i.Model(context);                                                      // [B, T', V]
            var next = m switch
            {
                GenerateMistake.FirstPosition => logits[.., 0].argmax(-1, keepdim: true),
                GenerateMistake.WholeArgmax => logits.argmax(-1),                               // [B, T']
                GenerateMistake.ArgmaxPositions => logits.argmax(-2)[.., -1].unsqueeze(-1),     // the position with the best score for the last token id
                _ => logits[.., -1].argmax(-1, keepdim: true),                                  // [B, 1]
            };
            ids = torch.cat([ids, next], dim: 1);
        }
        return m == GenerateMistake.OnlyNew ? ids.narrow(1, i.Ids.shape[1], ids.shape[1] - i.Ids.shape[1]) : ids;
    }
}
