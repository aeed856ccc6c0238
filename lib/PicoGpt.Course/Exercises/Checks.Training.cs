using PicoGpt.Model;
using PicoGpt.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/10-training.ipynb: the pieces of a training step, each compared with TrainingOps or LrSchedule
// on seeded tiny models and data (the check saves and restores torch's global random state, so the learner's seed is
// untouched).
public static partial class Checks
{
    // ---------------------------------------------------------------- get_batch

    /// <summary>
    /// get_batch(data, batchSize, blockSize, rng): x = data[i .. i+T), y = data[i+1 .. i+T+1) for a start
    /// i = rng.Next(len - T) per row. Compared as [x, y] stacked ([2, B, T] int64) with <see cref="TrainingOps.GetBatch"/>
    /// on the same seed.
    /// </summary>
    public static CheckResult GetBatch(Func<int[], int, int, Random, (Tensor X, Tensor Y)> getBatch)
    {
        Case<BatchIn> C(string name, Func<BatchIn> inputs) => new() { Name = name, Tol = 0, Inputs = inputs };
        static BatchIn In(int[] data, int b, int t, int seed) => new(data, b, t, new Random(seed));
        static int Exact(Random rng, int n) => rng.Next(n);
        const string Range = "draw each start with rng.Next(len - T) (0 .. len - T - 1): y's last token data[i + T] must exist";
        return new CheckEngine<BatchIn>
        {
            Name = "get_batch",
            Reference = i => XY(TrainingOps.GetBatch(i.Data, i.B, i.T, i.Rng)),
            ReferenceName = "TrainingOps.GetBatch",
            Learner = i => XY(getBatch(i.Data, i.B, i.T, i.Rng)),
            Cases =
            [
                C("ids 0, 1, ..., 19 (each id is its position), B = 4, T = 5, seed 1", () => In(Enumerable.Range(0, 20).ToArray(), 4, 5, 1)),
                C("1,000 random ids (vocab 65), B = 8, T = 16, seed 7", () => In(RandomIds(7, 1000, 65), 8, 16, 7)),
                C("6 ids, T = 4: only starts 0 and 1 fit (B = 16, seed 3)", () => In(RandomIds(3, 6, 65), 16, 4, 3)),
                C("exactly T + 1 = 9 ids: one window, start 0 (B = 3, seed 5)", () => In(RandomIds(5, 9, 65), 3, 8, 5)),
            ],
            Traps =
            [
                new("y must be x shifted left by one: y[t] = data[i + t + 1], the token after x[t]; yours equals x",
                    i => Windows(i, Exact, 0, 0)),
                new("y must be x shifted left by one: y[t] = data[i + t + 1], the token after x[t]; yours equals x. Then " + Range,
                    i => Windows(i, (r, n) => r.Next(n + 1), 0, 0)),
                new("x and y are swapped: x = data[i .. i+T), y = data[i+1 .. i+T+1) (y is one token later, not earlier)",
                    i => Windows(i, Exact, 1, 0)),
                new("y is x shifted LEFT by one (y[t] = data[i + t + 1], the next token), not right (data[i + t - 1])",
                    i => Windows(i, Exact, 0, -1)),
                new("the last window is never drawn: rng.Next(n) returns 0 .. n - 1, so rng.Next(len - T - 1) stops one start short; " + Range,
                    i => Windows(i, (r, n) => r.Next(n - 1), 0, 1)),
                new("the starts go one too far: the last valid start is len - T - 1 (y needs the token after x's window); " + Range,
                    i => Windows(i, (r, n) => r.Next(n + 1), 0, 1)),
                new("draw a new start for every row (one rng.Next per row): all your rows are the same window",
                    i => Windows(i, Exact, 0, 1, sameStart: true)),
                new("x and y come from the same window: draw one start i per row and take x = data[i .. i+T), y = data[i+1 .. i+T+1)",
                    i => Windows(i, Exact, 0, 1, twoStarts: true)),
                new("row b of x is the flat array's b·T .. b·T + T - 1 (torch.tensor(values, [B, T]) reads it row by row): fill x[b * blockSize + t], not x[t * batchSize + b]",
                    i => Windows(i, Exact, 0, 1) is var w ? w.transpose(1, 2).reshape(w.shape) : w),
                new("y[t] is the token at the next POSITION, data[i + t + 1], not the token id plus one (data[i + t] + 1)",
                    i => Windows(i, Exact, 0, 0) is var w ? torch.stack([w[0], w[0] + 1]) : w),
            ],
            ExceptionHint = e => e is IndexOutOfRangeException or ArgumentOutOfRangeException || e.Message.Contains("out of range") || e.Message.Contains("exceeds")
                ? "a window ran past the end (or the start) of the data: " + Range + "; and y is x shifted left, data[i + t + 1]"
                : e.Message.Contains("x has shape") ? "x and y are both [B, T]: one row per window" : null,
            Diagnose = (i, expected, got) =>
                got.dtype != ScalarType.Int64 ? "token ids are int64: build the tensors from long[] arrays, torch.tensor(values, new long[] { B, T })"
                : got.shape.SequenceEqual(new long[] { 2, (long)i.B * i.T }) ? "x and y are [B, T] each: give torch.tensor the shape, torch.tensor(values, new long[] { batchSize, blockSize }) (without it the tensor is flat, [B·T])"
                : got.shape.SequenceEqual(new long[] { 2, i.T, i.B }) && i.T != i.B ? "x and y are [B, T]: one row per window, not one column"
                : got.shape.SequenceEqual(expected.shape) && !CheckEngine.Matches(got[0].narrow(-1, 1, i.T - 1), got[1].narrow(-1, 0, i.T - 1), 0)
                    ? "y is not x shifted by one: x and y must come from the SAME start of each row, x = data[s .. s + T), y = data[s + 1 .. s + T + 1). " +
                      "Draw each start once (careful with LINQ: a Select over rng.Next runs again every time it is enumerated; materialise the starts with .ToArray())"
                : ValidWindows(i, got) ? "your windows are right but drawn differently: draw each row's start with rng.Next(len - T), one call per row, in row order (the check replays the same seed)"
                : null,
        }.Run();
    }

    /// <summary>The inputs of get_batch: the token stream, B, T and a freshly seeded generator.</summary>
    public sealed record BatchIn(int[] Data, int B, int T, Random Rng);

    static Tensor XY((Tensor X, Tensor Y) b)
    {
        if (!b.X.shape.SequenceEqual(b.Y.shape))
            throw new PicoGptException($"x has shape [{string.Join(", ", b.X.shape)}] and y [{string.Join(", ", b.Y.shape)}]: both must be [B, T]");
        return torch.stack([b.X, b.Y]);                                            // [2, B, T]
    }

    /// <summary>get_batch written with switches for its typical mistakes: the start range, the offsets of x and y.</summary>
    static Tensor Windows(BatchIn i, Func<Random, int, int> start, int xShift, int yShift, bool sameStart = false, bool twoStarts = false)
    {
        var x = new long[i.B * i.T];
        var y = new long[i.B * i.T];
        int first = start(i.Rng, i.Data.Length - i.T);
        for (int b = 0; b < i.B; b++)
        {
            int s = b == 0 || sameStart ? first : start(i.Rng, i.Data.Length - i.T);
            int sy = twoStarts ? start(i.Rng, i.Data.Length - i.T) : s;      // the mistake: y from a window of its own
            for (int t = 0; t < i.T; t++)
            {
                x[b * i.T + t] = i.Data[s + t + xShift];
                y[b * i.T + t] = i.Data[sy + t + yShift];
            }
        }
        var shape = new long[] { i.B, i.T };
        return torch.stack([torch.tensor(x, shape), torch.tensor(y, shape)]);
    }

    /// <summary>Is every row of x a window of the data with y the tokens one later?</summary>
    static bool ValidWindows(BatchIn i, Tensor got) // [2, B, T]
    {
        if (got.dim() != 3 || got.shape[0] != 2 || got.shape[2] != i.T) return false;
        var v = got.to(ScalarType.Int64).data<long>().ToArray();
        long rows = got.shape[1], n = i.Data.Length;
        for (long b = 0; b < rows; b++)
        {
            bool found = false;
            for (int s = 0; s + i.T < n && !found; s++)
            {
                bool ok = true;
                for (int t = 0; t < i.T && ok; t++)
                    ok = v[b * i.T + t] == i.Data[s + t] && v[(rows + b) * i.T + t] == i.Data[s + t + 1];
                found = ok;
            }
            if (!found) return false;
        }
        return true;
    }

    static int[] RandomIds(int seed, int n, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
    }

    // ---------------------------------------------------------------- cross-entropy

    /// <summary>
    /// cross_entropy(logits, targets): mean over the B·T positions of -log softmax(logits)[target], logits [B, T, V] and
    /// targets [B, T] int64 -> a 0-d tensor in the logits' dtype. Compared with <see cref="TrainingOps.CrossEntropy"/>.
    /// </summary>
    public static CheckResult CrossEntropy(Func<Tensor, Tensor, Tensor> crossEntropy)
    {
        Case<(Tensor Logits, Tensor Targets)> C(string name, double tol, Func<(Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Targets(int seed, int vocab, params long[] shape) =>
            torch.tensor(RandomIds(seed, (int)shape.Aggregate(1L, (a, b) => a * b), vocab).Select(v => (long)v).ToArray(), shape);
        static Tensor Pick(Tensor values, Tensor targets) => values.gather(-1, targets.unsqueeze(-1)).squeeze(-1); // [B, T]
        static Tensor LogP(Tensor l) => l.log_softmax(-1);
        const string Unstable = "the log of a softmax computed by hand is unstable: exp of a large logit overflows (inf / inf = NaN) and a probability that underflows to 0 gives log 0 = -inf; use logits.log_softmax(-1), which subtracts the max first";
        return new CheckEngine<(Tensor Logits, Tensor Targets)>
        {
            Name = "cross_entropy",
            Deterministic = true,
            Reference = i => TrainingOps.CrossEntropy(i.Logits, i.Targets),
            ReferenceName = "TrainingOps.CrossEntropy",
            Learner = i => crossEntropy(i.Logits, i.Targets),
            Cases =
            [
                C("all-zero logits (a model that knows nothing), V = 65 → ln 65 = 4.1744 (float32)", F32,
                    () => (torch.zeros(2, 3, 65), Targets(201, 65, 2, 3))),
                C("logits [2.0, 1.0, 0.1], target 0 → -ln softmax = -ln 0.659 = 0.417 (float64)", F64,
                    () => (T1([2.0, 1.0, 0.1]).reshape(1, 1, 3), Ids([0]).reshape(1, 1))),
                C("random [2, 5, 7] (float64)", F64, () => (R(202, Float64, 2, 5, 7) * 2, Targets(203, 7, 2, 5))),
                C("random [4, 8, 65] (float32)", F32, () => (R(204, Float32, 4, 8, 65) * 2, Targets(205, 65, 4, 8))),
                C("large logits, up to ±300 (float32): needs a stable log-softmax", 1e-3,
                    () => (R(206, Float32, 2, 4, 7) * 100, Targets(207, 7, 2, 4))),
                C("square [2, 5, 5]: T = V (float64)", F64, () => (R(208, Float64, 2, 5, 5) * 2, Targets(209, 5, 2, 5))),
            ],
            Traps =
            [
                new("flatten first: logits.reshape(-1, V) and targets.reshape(-1); on [B, T, V] F.cross_entropy reads dimension 1 (here T) as the classes",
                    i => torch.nn.functional.cross_entropy(i.Logits, i.Targets)),
                new("average over the B·T positions (.mean()), not the sum: the loss must not grow with the batch",
                    i => -Pick(LogP(i.Logits), i.Targets).sum()),
                new("the loss is -log p(target): you forgot the minus sign (a loss is ≥ 0 and falls as the model improves)",
                    i => Pick(LogP(i.Logits), i.Targets).mean()),
                new("the loss is -log p(target), averaged: you forgot the minus sign, and summed instead of taking the mean over the B·T positions",
                    i => Pick(LogP(i.Logits), i.Targets).sum()),
                new(Unstable, i => -Pick((i.Logits.exp() / i.Logits.exp().sum(-1, keepdim: true)).log(), i.Targets).mean()),
                new(Unstable, i => -Pick(i.Logits.softmax(-1).log(), i.Targets).mean()),
                new("the targets are already shifted (y = x shifted by one): the logits at position t predict targets[t]; do not shift again",
                    i => TrainingOps.CrossEntropy(i.Logits[.., ..^1], i.Targets[.., 1..])),
                new("use every position: each of the T positions predicts its next token, not only the last",
                    i => TrainingOps.CrossEntropy(i.Logits[.., ^1..], i.Targets[.., ^1..])),
                new("pick each position's target: -logp.gather(-1, targets.unsqueeze(-1)), then the mean; -logp.mean() averages over every token of the vocabulary, not over the targets",
                    i => -LogP(i.Logits).mean()),
                new("you averaged over the vocabulary too: pick each position's log-probability of its target (gather), then average over the B·T positions",
                    i => -(LogP(i.Logits) * torch.nn.functional.one_hot(i.Targets, i.Logits.shape[^1]).to(i.Logits.dtype)).mean()),
                new("take the log: the loss is -log p(target), not -p(target)",
                    i => -Pick(i.Logits.softmax(-1), i.Targets).mean()),
                new("log_softmax over the last axis (the vocabulary, dim -1), not over the positions",
                    i => -Pick(i.Logits.log_softmax(1), i.Targets).mean()),
                new("average over all B·T positions, .mean() over both axes: summing over T and averaging over B gives T times the loss",
                    i => -Pick(LogP(i.Logits), i.Targets).sum(-1).mean()),
                new("no label smoothing: GPT-2 and nanoGPT train on the plain cross-entropy, -log p(target) averaged; the 2017 Transformer's label smoothing (ε = 0.1) mixes in the average -log p over the vocabulary",
                    i => (0.9 * -Pick(LogP(i.Logits), i.Targets) + 0.1 * -LogP(i.Logits).mean([-1])).mean()),
                new("the loss uses the natural log (log_softmax, in nats): dividing by ln 2 gives bits",
                    i => -(Pick(LogP(i.Logits), i.Targets) / Math.Log(2)).mean()),
            ],
            ExceptionHint = e => e.Message.Contains("Expected target size") || e.Message.Contains("Expected input batch_size")
                ? "flatten first: logits.reshape(-1, V) ([B·T, V]) and targets.reshape(-1) ([B·T]); F.cross_entropy reads dimension 1 as the classes"
                : e.Message.Contains("for index") ? "gather's index must be int64: the targets already are, so pass targets.unsqueeze(-1) without converting it"
                : e.Message.Contains("out of bounds") ? "gather along the last axis, the vocabulary: logp.gather(-1, targets.unsqueeze(-1)); along another axis a target id is out of range"
                : e.Message.Contains("same number of dimensions") || e.Message.Contains("gather")
                    ? "gather needs an index with the logits' number of dimensions: targets.unsqueeze(-1) is [B, T, 1]" : null,
            Diagnose = (i, expected, got) =>
                got.shape.SequenceEqual(i.Targets.shape) ? "you returned one loss per position ([B, T]): average them to one number (.mean())"
                : got.dim() == 1 && got.shape[0] == i.Targets.shape[0] ? "you returned one loss per sequence ([B]): average over all B·T positions at once, .mean() with no axis"
                : got.dim() != 0 && got.numel() == 1 ? "return a 0-d tensor (a single number): .mean() over all positions gives one"
                : got.numel() == 1 && got.to(Float64).item<double>() < 0 ? "a loss is never negative: it is -log p(target), with p ≤ 1" : null,
        }.Run();
    }

    // ---------------------------------------------------------------- weight decay groups

    /// <summary>
    /// decays(name, p): does parameter p get weight decay? nanoGPT's configure_optimizers: every tensor with 2 or more
    /// dimensions (linear weights, wte, wpe) does; 1-D ones (biases, layer-norm gains and shifts) do not. Compared over
    /// the named parameters of small GPTs as a 0/1 vector with <see cref="TrainingOps.Decays"/>.
    /// </summary>
    public static CheckResult WeightDecay(Func<string, Parameter, bool> decays) => KeepingTorchRng(() =>
    {
        Case<Gpt> C(string name, Func<Gpt> model) => new() { Name = name, Tol = 0, Inputs = model };
        return new CheckEngine<Gpt>
        {
            Name = "weight_decay",
            Reference = m => DecayMask(m, TrainingOps.Decays),
            ReferenceName = "TrainingOps.Decays",
            Learner = m => DecayMask(m, decays),
            Cases =
            [
                C("GPT with 2 layers, vocab 11, n_embd 8, biases (28 tensors)", () => TinyModel(301)),
                C("GPT with 1 layer and no biases (Bias = false)", () => TinyModel(302, layers: 1, bias: false)),
                C("GPT with 3 layers, vocab 65, n_embd 12", () => TinyModel(303, layers: 3, vocab: 65, c: 12)),
            ],
            Traps =
            [
                new("biases and layer-norm gains and shifts (1-D) get no weight decay: pulling them towards 0 only hurts; decay the tensors with p.dim() >= 2",
                    m => DecayMask(m, (_, _) => true)),
                new("nothing is decayed: the matrices are (p.dim() >= 2: the linear weights and the embeddings wte, wpe)",
                    m => DecayMask(m, (_, _) => false)),
                new("nanoGPT decays the embeddings too (wte.weight, wpe.weight): every tensor with 2 or more dimensions (older code such as minGPT left them out)",
                    m => DecayMask(m, (n, p) => p.dim() == 2 && n is not ("wte.weight" or "wpe.weight"))),
                new("decide by the shape, not the name: ln_1.weight, ln_2.weight and ln_f.weight are layer-norm gains (1-D) and get no decay",
                    m => DecayMask(m, (n, _) => n.EndsWith("weight"))),
                new("the other way round: decay the matrices (p.dim() >= 2), not the 1-D tensors",
                    m => DecayMask(m, (_, p) => p.dim() < 2)),
            ],
            // the message names the parameters (an index into the model's list of parameters says nothing); the hint gives the rule
            Describe = (m, expected, got) => DecayDifferences(m, expected, got),
            Diagnose = (m, expected, got) =>
                "the rule is the number of dimensions: every tensor with p.dim() >= 2 (the linear weights and the embeddings wte, wpe) is decayed, " +
                "every 1-D tensor (the biases, the layer norms' gains and shifts) is not; p.dim() decides it for any model, whatever its parameters are called",
        }.Run();
    });

    /// <summary>"2 of 28 parameters are decided wrong: wte.weight [11, 8] should be decayed, yours is not; …" (at most 4 named).</summary>
    static string DecayDifferences(Gpt model, Tensor expected, Tensor got)
    {
        var names = model.named_parameters().Select(p => $"{p.name} [{string.Join(", ", p.parameter.shape)}]").ToArray();
        var e = expected.data<double>().ToArray();
        var g = got.data<double>().ToArray();
        var wrong = Enumerable.Range(0, e.Length).Where(k => e[k] != g[k]).ToArray();
        var listed = wrong.Take(4).Select(k => e[k] == 1 ? $"{names[k]} should be decayed, yours is not" : $"{names[k]} should not be decayed, yours is");
        return $"{wrong.Length} of {e.Length} parameters are decided wrong: {string.Join("; ", listed)}{(wrong.Length > 4 ? $"; and {wrong.Length - 4} more" : "")}";
    }

    static Tensor DecayMask(Gpt model, Func<string, Parameter, bool> decays) =>
        torch.tensor(model.named_parameters().Select(p => decays(p.name, p.parameter) ? 1.0 : 0.0).ToArray(), dtype: Float64);

    /// <summary>A small GPT on the cpu, built with a fixed seed (the caller keeps torch's random state).</summary>
    static Gpt TinyModel(int seed, int layers = 2, int vocab = 11, int c = 8, int ctx = 8, bool bias = true, double dropout = 0) =>
        new(new GptConfig { VocabSize = vocab, ContextLength = ctx, NEmbd = c, NLayer = layers, NHead = 2, Bias = bias, Dropout = dropout, Tokenizer = "char" }, CPU, seed: seed);

    /// <summary>Runs a check that seeds torch (models, dropout) and puts the learner's random state back afterwards.</summary>
    static CheckResult KeepingTorchRng(Func<CheckResult> check)
    {
        using var state = torch.get_rng_state();
        try { return check(); }
        finally { torch.set_rng_state(state); }
    }

    // ---------------------------------------------------------------- learning-rate schedule

    /// <summary>
    /// learning_rate(step, maxLr, minLr, warmup, decaySteps): linear warmup maxLr·(step + 1)/(warmup + 1), cosine decay
    /// to minLr at decaySteps, then minLr. Compared at chosen steps with <see cref="LrSchedule.At"/>.
    /// </summary>
    public static CheckResult LearningRate(Func<int, double, double, int, int, double> learningRate)
    {
        Case<LrIn> C(string name, Func<LrIn> inputs) => new() { Name = name, Tol = 1e-12, Inputs = inputs };
        static Tensor At(LrIn i, Func<int, double> lr) => torch.tensor(i.Steps.Select(lr).ToArray(), dtype: Float64);
        static double Cosine(LrIn i, int s, Func<double, double> coeff, bool floor = true, double? to = null)
        {
            if (s < i.Warmup) return i.Max * (s + 1) / (i.Warmup + 1);
            if (floor && s >= i.Decay) return to ?? i.Min;
            double ratio = (double)(s - i.Warmup) / (i.Decay - i.Warmup);
            return (to ?? i.Min) + coeff(ratio) * (i.Max - (to ?? i.Min));
        }
        static double Half(double r) => 0.5 * (1 + Math.Cos(Math.PI * r));
        return new CheckEngine<LrIn>
        {
            Name = "learning_rate",
            Reference = i => At(i, s => new LrSchedule(i.Max, i.Min, i.Warmup, i.Decay).At(s)),
            ReferenceName = "LrSchedule.At",
            Learner = i => At(i, s => learningRate(s, i.Max, i.Min, i.Warmup, i.Decay)),
            Cases =
            [
                C("max 1e-3, min 1e-4, warmup 100, decay 2000 at steps 0, 1, 50, 99, 100, 101, 550, 1050, 1999, 2000, 2500",
                    () => new([0, 1, 50, 99, 100, 101, 550, 1050, 1999, 2000, 2500], 1e-3, 1e-4, 100, 2000)),
                C("max 6e-4, min 6e-5, warmup 10, decay 50 at every step 0 .. 60", () => new(Enumerable.Range(0, 61).ToArray(), 6e-4, 6e-5, 10, 50)),
                C("no warmup: max 1, min 0, warmup 0, decay 10 at steps 0 .. 12", () => new(Enumerable.Range(0, 13).ToArray(), 1.0, 0.0, 0, 10)),
            ],
            Traps =
            [
                new("during warmup the rate is maxLr · (step + 1) / (warmup + 1): step 0 already learns a little",
                    i => At(i, s => s < i.Warmup ? i.Max * s / i.Warmup : Cosine(i, s, Half))),
                new("(step - warmup) / (decaySteps - warmup) divides two ints, which is 0 in C#: write (double)(step - warmup) / (decaySteps - warmup)",
                    i => At(i, s => Cosine(i, s, r => r >= 1 ? 0 : 1))),
                new("the cosine factor is 0.5 · (1 + cos(π · ratio)): it goes from 1 to 0 (without the 0.5 it starts at 2)",
                    i => At(i, s => Cosine(i, s, r => 1 + Math.Cos(Math.PI * r)))),
                new("the rate decays: 0.5 · (1 + cos(π · ratio)) is 1 at the start of the decay and 0 at its end, not the other way round",
                    i => At(i, s => Cosine(i, s, r => 0.5 * (1 - Math.Cos(Math.PI * r))))),
                new("from decaySteps on the rate stays at minLr (the cosine would rise again)",
                    i => At(i, s => Cosine(i, s, Half, floor: false))),
                new("the cosine ends at minLr, not 0: minLr + coeff · (maxLr - minLr)",
                    i => At(i, s => Cosine(i, s, Half, to: 0))),
                new("the cosine ends at minLr, not 0: minLr + coeff · (maxLr - minLr); yours goes down to 0 and jumps to minLr at decaySteps",
                    i => At(i, s => s >= i.Decay ? i.Min : Cosine(i, s, Half, to: 0))),
                new("during warmup the rate is maxLr · (step + 1) / (warmup + 1), as in nanoGPT's train.py; (step + 1) / warmup (build-nanogpt's) reaches maxLr one step early",
                    i => At(i, s => s < i.Warmup ? i.Max * (s + 1) / i.Warmup : Cosine(i, s, Half))),
                new("(step + 1) / (warmup + 1) divides two ints, which is 0 in C#: multiply first, maxLr * (step + 1) / (warmup + 1)",
                    i => At(i, s => s < i.Warmup ? 0 : Cosine(i, s, Half))),
                new("warmup starts from 0, not from minLr: maxLr · (step + 1) / (warmup + 1)",
                    i => At(i, s => s < i.Warmup ? i.Min + (i.Max - i.Min) * (s + 1) / (i.Warmup + 1) : Cosine(i, s, Half))),
                new("measure the decay from the end of warmup: ratio = (double)(step - warmup) / (decaySteps - warmup), 0 at step = warmup (you used step / decaySteps)",
                    i => At(i, s => s < i.Warmup || s >= i.Decay ? Cosine(i, s, Half) : i.Min + Half((double)s / i.Decay) * (i.Max - i.Min))),
                new("the decay is a cosine, coeff = 0.5 · (1 + cos(π · ratio)), not the straight line 1 - ratio",
                    i => At(i, s => Cosine(i, s, r => 1 - r))),
                new("the cosine's argument is π · ratio, Math.Cos(Math.PI * ratio): ratio alone only goes from 0 to 1 radian",
                    i => At(i, s => Cosine(i, s, r => 0.5 * (1 + Math.Cos(r))))),
                new("go from maxLr down to minLr: minLr + coeff · (maxLr - minLr); minLr + coeff · maxLr starts above maxLr",
                    i => At(i, s => s < i.Warmup || s >= i.Decay ? Cosine(i, s, Half) : i.Min + Half((double)(s - i.Warmup) / (i.Decay - i.Warmup)) * i.Max)),
            ],
            Diagnose = (i, expected, got) =>
            {
                var e = expected.data<double>().ToArray();
                var g = got.data<double>().ToArray();
                int k = Enumerable.Range(0, e.Length).First(k => !(Math.Abs(e[k] - g[k]) <= 1e-12));
                int s = i.Steps[k];
                var (want, have) = CheckEngine.Apart(e[k], g[k]);
                string at = $"at step {s} the rate should be {want}, yours is {have}: ";
                if (InverseSquareRoot(i, g) is { } noam) return at + noam;
                if (Math.Abs(e[k] - g[k]) <= 1e-6 * Math.Abs(e[k]))
                    return at + "close, but off by about float32's precision: compute in double, ratio = (double)(step - warmup) / (decaySteps - warmup), not (float), and Math.Cos, not MathF.Cos";
                return s < i.Warmup ? at + $"during warmup (step < warmup = {i.Warmup}) it is maxLr · (step + 1) / (warmup + 1)"
                    : s < i.Decay ? at + $"during the decay (warmup ≤ step < decaySteps = {i.Decay}) it is minLr + 0.5 · (1 + cos(π · ratio)) · (maxLr - minLr), ratio = (double)(step - warmup) / (decaySteps - warmup)"
                    : at + $"from decaySteps = {i.Decay} on it is minLr";
            },
        }.Run();
    }

    /// <summary>
    /// The 2017 Transformer's schedule ("Noam"): after warmup the rate falls as 1/√step. Detected when rate · √step (or
    /// √(step + 1)) is the same at every step between warmup and decaySteps; null otherwise.
    /// </summary>
    static string? InverseSquareRoot(LrIn i, double[] got)
    {
        var after = Enumerable.Range(0, i.Steps.Length).Where(k => i.Steps[k] > i.Warmup && i.Steps[k] < i.Decay).ToArray();
        if (after.Length < 3) return null;
        foreach (int shift in new[] { 0, 1 })
        {
            var c = after.Select(k => got[k] * Math.Sqrt(i.Steps[k] + shift)).ToArray();
            if (c[0] > 0 && c.All(v => Math.Abs(v - c[0]) <= 1e-9 * c[0]))
                return "your rate falls as 1/√step after warmup, the 2017 Transformer's schedule; GPT-2's recipe (nanoGPT's get_lr) decays along a cosine " +
                       "from maxLr to minLr: minLr + 0.5 · (1 + cos(π · ratio)) · (maxLr - minLr), ratio = (double)(step - warmup) / (decaySteps - warmup)";
        }
        return null;
    }

    /// <summary>The inputs of learning_rate: the steps to look at and the schedule's settings.</summary>
    public sealed record LrIn(int[] Steps, double Max, double Min, int Warmup, int Decay);

    // ---------------------------------------------------------------- the training step

    /// <summary>
    /// train_step(model, optimizer, x, y, lr, gradClip) -> loss: set the learning rate, zero the gradients, forward, loss,
    /// backward, clip the gradient norm (0: off), step. Three steps on a seeded tiny GPT; compared as
    /// [the three losses, every parameter after them] with <see cref="TrainingOps.Step"/> on an identical copy.
    /// </summary>
    public static CheckResult TrainStep(Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double> trainStep) => KeepingTorchRng(() =>
    {
        Case<StepIn> C(string name, double tol, Func<StepIn> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static StepIn Sgd(int seed, double[] lrs, double clip)
        {
            var m = TinyModel(seed);
            m.train();
            return new(m, torch.optim.SGD(m.parameters(), 1.0), Batches(seed, 3), lrs, clip);
        }
        static StepIn Adam(int seed, double[] lrs, double clip)
        {
            var m = TinyModel(seed);
            m.train();
            return new(m, TrainingOps.ConfigureOptimizer(m, 1e-4, 0.1), Batches(seed, 3), lrs, clip);
        }
        static Tensor Ce(Gpt m, Tensor x, Tensor y) => TrainingOps.CrossEntropy(m.forward(x), y);
        static void Lr(optim.Optimizer o, double lr) { foreach (var g in o.ParamGroups) g.LearningRate = lr; }
        static void Clip(Gpt m, double c) { if (c > 0) torch.nn.utils.clip_grad_norm_(m.parameters(), c); }
        const string Order = "the order is: set the learning rate, optimizer.zero_grad(), loss = CrossEntropy(model.forward(x), y), loss.backward(), clip, optimizer.step()";
        return new CheckEngine<StepIn>
        {
            Name = "train_step",
            Reference = i => RunSteps(i, TrainingOps.Step),
            ReferenceName = "TrainingOps.Step",
            Learner = i => RunSteps(i, trainStep),
            Cases =
            [
                C("SGD, 3 steps with learning rates 0.5, 0.3, 0.1 and gradClip 0.1 (the clip is active)", F32Deep, () => Sgd(401, [0.5, 0.3, 0.1], 0.1)),
                C("AdamW (ConfigureOptimizer, weight decay 0.1), 3 warmup steps with learning rates 1e-3, 2e-3, 3e-3, gradClip 1", F32Deep, () => Adam(402, [1e-3, 2e-3, 3e-3], 1.0)),
                C("AdamW, learning rate 1e-2, gradClip 0 (clipping off)", F32Deep, () => Adam(403, [1e-2, 1e-2, 1e-2], 0)),
            ],
            Traps =
            [
                new("call optimizer.zero_grad() at the start of each step: without it each backward() adds to the previous step's gradients",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { Lr(o, lr); var l = Ce(m, x, y); l.backward(); Clip(m, c); o.step(); return l.item<float>(); })),
                new("clip between loss.backward() and optimizer.step(): clipping after the step (or not at all) leaves the update unclipped; " + Order,
                    i => RunSteps(i, (m, o, x, y, lr, c) => { Lr(o, lr); o.zero_grad(); var l = Ce(m, x, y); l.backward(); o.step(); Clip(m, c); return l.item<float>(); })),
                new("gradClip = 0 means no clipping: call clip_grad_norm_ only when gradClip > 0 (a max norm of 0 zeroes every gradient)",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { Lr(o, lr); o.zero_grad(); var l = Ce(m, x, y); l.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), c); o.step(); return l.item<float>(); })),
                new("the weights did not move: the update needs loss.backward() (the gradients) and then optimizer.step() (the update), "
                    + "with zero_grad() before backward(), not after it (that wipes the gradients before the step uses them); " + Order,
                    i => RunSteps(i, (m, o, x, y, lr, c) => { Lr(o, lr); var l = Ce(m, x, y); l.backward(); o.zero_grad(); Clip(m, c); o.step(); return l.item<float>(); })),
                new("set this step's learning rate on every parameter group before optimizer.step(): foreach (var g in optimizer.ParamGroups) g.LearningRate = lr",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { o.zero_grad(); var l = Ce(m, x, y); l.backward(); Clip(m, c); o.step(); return l.item<float>(); })),
                new("set the learning rate before optimizer.step(): set after it, each step uses the previous step's rate",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { o.zero_grad(); var l = Ce(m, x, y); l.backward(); Clip(m, c); o.step(); Lr(o, lr); return l.item<float>(); })),
                new("set the learning rate on EVERY parameter group: the AdamW of ConfigureOptimizer has two (with and without weight decay); foreach (var g in optimizer.ParamGroups) g.LearningRate = lr",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { o.ParamGroups.First().LearningRate = lr; o.zero_grad(); var l = Ce(m, x, y); l.backward(); Clip(m, c); o.step(); return l.item<float>(); })),
                new("clip the global norm of all the gradients (torch.nn.utils.clip_grad_norm_), not each value (clip_grad_value_)",
                    i => RunSteps(i, (m, o, x, y, lr, c) => { Lr(o, lr); o.zero_grad(); var l = Ce(m, x, y); l.backward(); if (c > 0) torch.nn.utils.clip_grad_value_(m.parameters(), c); o.step(); return l.item<float>(); })),
            ],
            ExceptionHint = e => e.Message == LeftInEval
                ? "leave the model in training mode: TrainStep must not call model.eval() (or must call model.train() again), or every later step trains without dropout; " +
                  "eval mode is for EstimateLoss and generation"
                : e.Message.Contains("modified by an inplace operation")
                    ? "optimizer.step() changed the weights in place before loss.backward() used them; " + Order
                : e.Message.Contains("backward through the graph a second time")
                    ? "call loss.backward() once per step: the first call frees the graph (retain_graph is not the fix: a second backward would add the gradients twice)"
                : e.Message.Contains("does not require grad")
                    ? "the forward pass ran without gradients (inside torch.no_grad(), or on detached tensors), so loss.backward() has nothing to go back through: "
                      + "compute the loss with gradients on; only the evaluation (EstimateLoss) uses no_grad"
                : e.Message.Contains("is not compatible with Float32")
                    ? "the loss is a float32 tensor: read it with loss.item<float>() (C# widens the float to double when you return it) or loss.ToDouble()"
                : null,
            Diagnose = (i, expected, got) =>
            {
                int n = i.Lrs.Length;
                if (got.shape[0] != expected.shape[0]) return null;
                var e = expected.data<double>().ToArray();
                var g = got.data<double>().ToArray();
                if (Math.Abs(e[0] - g[0]) > 1e-4)
                    return $"the first returned loss is {g[0]:0.####}, expected {e[0]:0.####}: return the loss of this batch before the update, loss.item<float>() of CrossEntropy(model.forward(x), y)";
                for (int k = 1; k < n; k++)
                    if (Math.Abs(e[k] - g[k]) > 1e-4) return $"the first loss matches, the loss of step {k + 1} does not: the update of the steps before it differs; " + Order;
                return "the losses match but the parameters after the steps differ: " + Order;
            },
        }.Run();
    });

    /// <summary>The inputs of train_step: a tiny GPT in training mode, its optimizer, batches and one learning rate per step.</summary>
    public sealed record StepIn(Gpt Model, optim.Optimizer Optimizer, (Tensor X, Tensor Y)[] Batches, double[] Lrs, double Clip);

    static (Tensor X, Tensor Y)[] Batches(int seed, int n)
    {
        var rng = new Random(seed);
        var data = RandomIds(seed, 200, 11);
        return Enumerable.Range(0, n).Select(_ => TrainingOps.GetBatch(data, 4, 8, rng)).ToArray();
    }

    static Tensor RunSteps(StepIn i, Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double> step) // -> [steps + n_params]
    {
        var losses = i.Batches.Select((b, k) => step(i.Model, i.Optimizer, b.X, b.Y, i.Lrs[k], i.Clip)).ToArray();
        if (!i.Model.training) throw new PicoGptException(LeftInEval);
        using var _ = torch.no_grad();
        var parameters = i.Model.parameters().Select(p => p.detach().flatten().to(Float64));
        return torch.cat([torch.tensor(losses, dtype: Float64), .. parameters]);
    }

    // ---------------------------------------------------------------- estimate_loss

    /// <summary>
    /// estimate_loss(model, data, batchSize, iters, seed): the mean loss over iters batches drawn with GetBatch from
    /// new Random(seed), in eval mode and under torch.no_grad(), leaving the model in training mode. Compared as
    /// [mean loss, 1 if the result requires grad, 1 if the model is in training mode afterwards] with
    /// <see cref="TrainingOps.EstimateLoss"/> on an identical seeded model (dropout masks seeded the same way).
    /// </summary>
    public static CheckResult EstimateLoss(Func<Gpt, int[], int, int, int, Tensor> estimateLoss) => KeepingTorchRng(() =>
    {
        Case<EvalIn> C(string name, Func<EvalIn> inputs) => new() { Name = name, Tol = 1e-5, Inputs = inputs };
        static Func<EvalIn> In(int seed, double dropout, int b, int iters, int ctx = 8) => () =>
        {
            var m = TinyModel(seed, dropout: dropout, ctx: ctx);
            m.train();
            torch.manual_seed(seed);                                                 // the same dropout masks for every run
            return new(m, RandomIds(seed, 300, 11), b, iters, seed);
        };
        static Tensor WrongLength(EvalIn i, int t)                                       // windows of a fixed length t
        {
            i.Model.eval();
            using var grad = torch.no_grad();
            var rng = new Random(i.Seed);
            var losses = Enumerable.Range(0, i.Iters).Select(_ => { var (x, y) = TrainingOps.GetBatch(i.Data, i.B, t, rng); return TrainingOps.CrossEntropy(i.Model.forward(x), y); }).ToList();
            i.Model.train();
            return Outcome(i.Model, torch.stack(losses).mean());
        }
        static Tensor Wrong(EvalIn i, bool eval = true, bool noGrad = true, bool restore = true, int? batches = null, bool sum = false)
        {
            if (eval) i.Model.eval();
            using var grad = torch.set_grad_enabled(!noGrad);
            var rng = new Random(i.Seed);
            int n = batches ?? i.Iters;
            var losses = new List<Tensor>();
            for (int k = 0; k < n; k++)
            {
                var (x, y) = TrainingOps.GetBatch(i.Data, i.B, i.Model.Config.ContextLength, rng);
                losses.Add(TrainingOps.CrossEntropy(i.Model.forward(x), y));
            }
            var all = torch.stack(losses);
            var result = sum ? all.sum() : all.mean();
            if (eval && restore) i.Model.train();
            return Outcome(i.Model, result);
        }
        return new CheckEngine<EvalIn>
        {
            Name = "estimate_loss",
            Reference = i => Outcome(i.Model, TrainingOps.EstimateLoss(i.Model, i.Data, i.B, i.Iters, i.Seed)),
            ReferenceName = "TrainingOps.EstimateLoss",
            Learner = i =>
            {
                bool before = torch.is_grad_enabled();
                var loss = estimateLoss(i.Model, i.Data, i.B, i.Iters, i.Seed);
                if (before && !torch.is_grad_enabled())
                {
                    torch.set_grad_enabled(true);                                         // put it back for the learner's next cells
                    throw new PicoGptException(GradLeftOff);
                }
                return Outcome(i.Model, loss);
            },
            Cases =
            [
                C("4 batches of 3 × 8 from 300 ids, no dropout, model in training mode → [mean loss, result requires grad = 0, training mode after = 1]", In(501, 0, 3, 4)),
                C("3 batches of 2 × 8, dropout 0.2, model in training mode → [mean loss, 0, 1]", In(502, 0.2, 2, 3)),
                C("1 batch of 4 × 8, dropout 0.2 → [mean loss, 0, 1]", In(503, 0.2, 4, 1)),
                C("a model with context 12: 2 batches of 3 × 12 (windows as long as model.Config.ContextLength) → [mean loss, 0, 1]", In(504, 0, 3, 2, ctx: 12)),
            ],
            Traps =
            [
                new("dropout was on: call model.eval() before the forward passes (and model.train() after), so the estimate does not depend on random masks",
                    i => Wrong(i, eval: false)),
                new("compute the losses inside using (torch.no_grad()) { ... }: your result requires grad, so every forward pass kept its graph (memory and time for nothing)",
                    i => Wrong(i, noGrad: false)),
                new("switch the model back with model.train() after the evaluation: training would continue in eval mode, without dropout",
                    i => Wrong(i, restore: false)),
                new("your estimate is the loss of the first batch alone: average over all iters batches, drawn from one Random(seed) made before the loop (a new Random(seed) for every batch draws the same batch every time)",
                    i => Wrong(i, batches: 1)),
                new("the loop runs iters times (k = 0 .. iters - 1): you averaged one batch too few",
                    i => Wrong(i, batches: i.Iters - 1)),
                new("the windows are as long as the model's context, GetBatch(data, batchSize, model.Config.ContextLength, rng): this model's context is 12, and you used 8",
                    i => WrongLength(i, 8)),
                new("average the losses (mean), not their sum",
                    i => Wrong(i, sum: true)),
            ],
            ExceptionHint = e => e.Message == GradLeftOff
                ? "torch.no_grad() turns gradients off until the object it returns is disposed: write using (torch.no_grad()) { ... } (or using var _ = torch.no_grad();) "
                  + "so that they come back on; left off, the next training step's loss.backward() fails"
                : null,
            Diagnose = (i, expected, got) =>
            {
                var e = expected.data<double>().ToArray();
                var g = got.data<double>().ToArray();
                if (g.Length == 3 && Math.Abs(e[0] - g[0]) > 1e-5 && RandomAcrossCalls(i)) return "your estimate changes from call to call: the batches must be the same every time, so draw them from a new Random(seed) made inside the function";
                if (g.Length == 3 && g[1] != 0) return "compute the losses inside using (torch.no_grad()): your result requires grad";
                if (g.Length == 3 && g[2] != 1) return "switch the model back with model.train() after the evaluation";
                if (g.Length == 3) return "the mode and the gradients are right, the loss is not: draw iters batches with GetBatch(data, batchSize, model.Config.ContextLength, rng) from one "
                    + "rng = new Random(seed) made before the loop (the check replays the same batches), and average CrossEntropy(model.forward(x), y) over them";
                return null;
            },
        }.Run();

        bool RandomAcrossCalls(EvalIn i)
        {
            var a = In(i.Seed, 0, i.B, i.Iters)();
            var b = In(i.Seed, 0, i.B, i.Iters)();
            return Math.Abs(estimateLoss(a.Model, a.Data, a.B, a.Iters, a.Seed).to(Float64).item<double>()
                          - estimateLoss(b.Model, b.Data, b.B, b.Iters, b.Seed).to(Float64).item<double>()) > 1e-7;
        }
    });

    const string LeftInEval = "the model was in eval mode after your steps";
    const string GradLeftOff = "gradients were still switched off after your function returned";

    /// <summary>The inputs of estimate_loss: a seeded tiny GPT in training mode, the data, batch size, batches and seed.</summary>
    public sealed record EvalIn(Gpt Model, int[] Data, int B, int Iters, int Seed);

    static Tensor Outcome(Gpt model, Tensor loss) // -> [loss, requires grad, training mode after]
    {
        if (loss.numel() != 1)
            throw new PicoGptException($"returned a tensor of shape [{string.Join(", ", loss.shape)}]: return the mean, a single number");
        bool requiresGrad = loss.requires_grad;
        using var _ = torch.no_grad();
        return torch.tensor(new[] { loss.detach().to(Float64).item<double>(), requiresGrad ? 1.0 : 0.0, model.training ? 1.0 : 0.0 }, dtype: Float64);
    }
}
