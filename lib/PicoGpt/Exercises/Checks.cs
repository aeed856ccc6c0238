using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

/// <summary>
/// Exercise checks: each runs the learner's function on several named cases (published values, random shapes with
/// extra batch dimensions, float32 and float64, edge cases) and compares with the reference in <see cref="Ops"/> or
/// <see cref="Sampler"/>. A failure names the case, expected vs got and the tolerance, and diagnoses known mistakes.
/// Checks never throw: a stub that throws NotImplementedException gives a "not implemented yet" result.
/// Tolerances (absolute): 1e-9 for float64 and 1e-5 for float32 on single ops, 1e-4 for float32 through a whole block.
/// </summary>
public static class Checks
{
    const double F64 = 1e-9, F32 = 1e-5, F32Deep = 1e-4;
    const double Eps = 1e-5;
    const string FutureVisible = "future positions are visible: apply the mask before the softmax (add it to the scores q·kᵀ/√d_k)";

    // ---------------------------------------------------------------- embedding

    /// <summary>embed(ids, wte, wpe) = wte[ids] + wpe[0, 1, ..., n_seq - 1]: token plus position embeddings.</summary>
    public static CheckResult Embedding(Func<Tensor, Tensor, Tensor, Tensor> embed)
    {
        Case<(Tensor Ids, Tensor Wte, Tensor Wpe)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        return new CheckEngine<(Tensor Ids, Tensor Wte, Tensor Wpe)>
        {
            Name = "embedding",
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
            ],
            ExceptionHint = e =>
                e.Message.Contains("out of range") || e.Message.Contains("out of bounds")
                    ? "an index is out of range: wte has n_vocab rows (index it with the token ids), wpe has n_ctx rows (index it with the positions 0, 1, ..., n_seq - 1)"
                : e.Message.Contains("must match the size")
                    ? "the positions run along the last axis of ids: torch.arange(ids.shape[^1]) (with a batch [B, n_seq] there are n_seq positions, not B)"
                : e.Message.Contains("vector") || e.Message.Contains("1-D") || e.Message.Contains("one dimension")
                    ? "index with wte[ids] and wpe[positions], which also work for a batch of ids [B, n_seq] (index_select needs a 1-D index)"
                : null,
            Diagnose = (i, expected, got) => got.shape.Length == expected.shape.Length && got.shape[^1] == 2 * expected.shape[^1]
                ? "add the two embeddings (both are n_embd wide); do not concatenate them" : null,
        }.Run();
    }

    // ---------------------------------------------------------------- linear

    /// <summary>linear(x, w, b) = x @ w + b with w in GPT-2's [n_in, n_out] layout.</summary>
    public static CheckResult Linear(Func<Tensor, Tensor, Tensor, Tensor> linear)
    {
        Case<(Tensor X, Tensor W, Tensor B)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, Tensor W, Tensor B)>
        {
            Name = "linear",
            Reference = i => Ops.Linear(i.X, i.W, i.B),
            ReferenceName = "Ops.Linear",
            Learner = i => linear(i.X, i.W, i.B),
            Cases =
            [
                C("fixed x [2, 3], square w [3, 3], b [3] (float64)", F64, () => (
                    T([[1, 2, 3], [4, 5, 6]]), T([[1, 0, 2], [0, 1, 0], [3, -1, 1]]), T1([0.5, -1, 2]))),
                C("random x [5, 8], w [8, 16], b [16] (float32)", F32, () => (R(1, Float32, 5, 8), R(2, Float32, 8, 16), R(3, Float32, 16))),
                C("batch x [2, 3, 8], w [8, 4], b [4] (float64)", F64, () => (R(4, Float64, 2, 3, 8), R(5, Float64, 8, 4), R(6, Float64, 4))),
                C("one vector x [8], w [8, 4], b [4] (float32)", F32, () => (R(7, Float32, 8), R(8, Float32, 8, 4), R(9, Float32, 4))),
            ],
            Traps =
            [
                new("w is [n_in, n_out] (GPT-2's Conv1D layout): compute x @ w + b, without transposing w", i => SafeMatmul(i.X, i.W.T) + i.B),
                new("missing bias: add b after the matrix product, x @ w + b", i => i.X.matmul(i.W)),
                new("add b after the matrix product: x @ w + b, not (x + b) @ w", i => SafeMatmul(i.X + i.B, i.W)),
            ],
            ExceptionHint = e => ShapeError(e)
                ? "the shapes do not line up: x is [..., n_in] and w is [n_in, n_out] (GPT-2's Conv1D layout), so compute x @ w (not x @ w.T or w @ x)"
                : null,
        }.Run();
    }

    // ---------------------------------------------------------------- softmax

    /// <summary>softmax over the last axis, stable for large logits.</summary>
    public static CheckResult Softmax(Func<Tensor, Tensor> softmax)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "softmax",
            Reference = Ops.Softmax,
            ReferenceName = "Ops.Softmax",
            Learner = softmax,
            Cases =
            [
                C("published [[2, 100], [-5, 0]] → [[2.74878501e-43, 1], [6.69285092e-03, 9.93307149e-01]] (float64)", F64, () => T([[2, 100], [-5, 0]])),
                C("random [3, 4, 5], softmax over the last axis (float32)", F32, () => R(11, Float32, 3, 4, 5)),
                C("large logits [1000, 1001] → [0.2689, 0.7311] (float32)", F32, () => T1([1000, 1001]).to(Float32)),
                C("rows far apart [[1000, 1001], [-1000, -999]] (float64)", F64, () => T([[1000, 1001], [-1000, -999]])),
                C("random [2, 7] scaled by 10 (float64)", F64, () => R(12, Float64, 2, 7) * 10),
            ],
            Traps =
            [
                new("softmax overflows for large logits such as [1000, 1001] (exp(1000) is inf): subtract the max first, softmax(x) = softmax(x - max(x)) over the last axis",
                    x => x.exp() / x.exp().sum(-1, keepdim: true)),
                new("subtract each row's max (x.amax(-1, keepdim: true)), not the max of the whole tensor: rows far below it underflow to 0/0",
                    x => (x - x.max()).exp() / (x - x.max()).exp().sum(-1, keepdim: true)),
                new("softmax over the wrong axis: normalise over the last axis (dim -1), the one that sums to 1", x => x.softmax(0)),
                new("softmax over the wrong axis: normalise over the last axis (dim -1), the one that sums to 1", x => x.softmax(-2)),
                new("divide by the sum over the last axis (keepdim: true), not by the sum of the whole tensor",
                    x => (x - x.amax([-1], keepdim: true)).exp() / (x - x.amax([-1], keepdim: true)).exp().sum()),
                new("sum with keepdim: true, so each row is divided by its own sum",
                    x => (x - x.amax([-1], keepdim: true)).exp() / (x - x.amax([-1], keepdim: true)).exp().sum(-1)),
            ],
            Diagnose = (x, expected, got) => HasNonFinite(got) && !HasNonFinite(expected)
                ? "NaN or inf for large logits: subtract the max first, softmax(x) = softmax(x - max(x)) over the last axis"
                : null,
        }.Run();
    }

    // ---------------------------------------------------------------- gelu

    /// <summary>GELU with GPT-2's tanh approximation.</summary>
    public static CheckResult Gelu(Func<Tensor, Tensor> gelu)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "gelu",
            Reference = Ops.Gelu,
            ReferenceName = "Ops.Gelu",
            Learner = gelu,
            Cases =
            [
                C("published gelu(1) = 0.841192, gelu(2) = 1.954598, gelu(-4) = -7.0246e-05 (float64)", F64, () => T1([1, 2, -4])),
                C("random [4, 5] in about [-5, 5] (float32)", F32, () => R(21, Float32, 4, 5) * 2.5),
                C("batch [2, 3, 4] (float64)", F64, () => R(22, Float64, 2, 3, 4) * 2),
                C("wide range [-20, -10, -0.5, 0, 0.5, 10, 20] (float32)", F32, () => T1([-20, -10, -0.5, 0, 0.5, 10, 20]).to(Float32)),
            ],
            Traps =
            [
                new("this is the exact erf GELU; GPT-2 uses the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))", ErfGelu),
                new("this is ReLU; GPT-2 uses GELU (tanh approximation): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))", x => x.relu()),
                new("this is the sigmoid approximation x·σ(1.702·x); GPT-2 uses the tanh approximation", x => x * (1.702 * x).sigmoid()),
                new("missing the factor 0.5 in front: 0.5·x·(1 + tanh(...))", x => x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh())),
                new("the cubic term is 0.044715·x³ (x to the power 3)", x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(2))).tanh())),
            ],
        }.Run();
    }

    // ---------------------------------------------------------------- layer norm

    /// <summary>layer_norm(x, g, b) over the last axis with biased variance and eps = 1e-5.</summary>
    public static CheckResult LayerNorm(Func<Tensor, Tensor, Tensor, Tensor> layerNorm) => LayerNormCheck((x, g, b) => layerNorm(x, g, b));

    /// <summary>The same check for a function that takes eps as a fourth argument (called with eps = 1e-5).</summary>
    public static CheckResult LayerNorm(Func<Tensor, Tensor, Tensor, double, Tensor> layerNorm) => LayerNormCheck((x, g, b) => layerNorm(x, g, b, Eps));

    static CheckResult LayerNormCheck(Func<Tensor, Tensor, Tensor, Tensor> layerNorm)
    {
        Case<(Tensor X, Tensor G, Tensor B)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Normed(Tensor x, Func<Tensor, Tensor> variance, Func<Tensor, Tensor> denominator) =>
            (x - x.mean([-1], keepdim: true)) / denominator(variance(x));
        static Tensor Biased(Tensor x) => (x - x.mean([-1], keepdim: true)).pow(2).mean([-1], keepdim: true);
        return new CheckEngine<(Tensor X, Tensor G, Tensor B)>
        {
            Name = "layer_norm",
            Reference = i => Ops.LayerNorm(i.X, i.G, i.B),
            ReferenceName = "Ops.LayerNorm (eps 1e-5)",
            Learner = i => layerNorm(i.X, i.G, i.B),
            Cases =
            [
                C("published [[2, 2, 3], [-5, 0, 1]], g = 1, b = 0 → [[-0.70709087, -0.70709087, 1.41418174], [-1.39700038, 0.50800014, 0.88900024]] (float64)", F64,
                    () => (T([[2, 2, 3], [-5, 0, 1]]), torch.ones(3, dtype: Float64), torch.zeros(3, dtype: Float64))),
                C("random x [4, 8] with random g, b (float32)", F32, () => (R(31, Float32, 4, 8) * 3 + 1, R(32, Float32, 8) * 0.5 + 1, R(33, Float32, 8))),
                C("small variance, where eps matters: x [[0.001, -0.001, 0.002, -0.002]] (float64)", F64,
                    () => (T([[0.001, -0.001, 0.002, -0.002]]), T1([1.5, 0.5, 1, 2]), T1([0.1, -0.2, 0.3, 0]))),
                C("batch [2, 3, 8] with random g, b (float64)", F64, () => (R(34, Float64, 2, 3, 8), R(35, Float64, 8) * 0.5 + 1, R(36, Float64, 8))),
            ],
            Traps =
            [
                new("GPT-2 divides by N (biased variance): use the mean of (x - mean)², not the unbiased variance (which divides by N - 1)",
                    i => i.G * Normed(i.X, x => x.var(-1, unbiased: true, keepdim: true), v => (v + Eps).sqrt()) + i.B),
                new("add eps = 1e-5 to the variance inside the square root: (x - mean) / sqrt(variance + eps)",
                    i => i.G * Normed(i.X, Biased, v => v.sqrt()) + i.B),
                new("eps goes inside the square root: sqrt(variance + eps), not sqrt(variance) + eps",
                    i => i.G * Normed(i.X, Biased, v => v.sqrt() + Eps) + i.B),
                new("divide by the standard deviation sqrt(variance + eps), not by the variance",
                    i => i.G * Normed(i.X, Biased, v => v + Eps) + i.B),
                new("scale by g and shift by b after normalising: g · x̂ + b", i => Normed(i.X, Biased, v => (v + Eps).sqrt())),
                new("g scales and b shifts: g · x̂ + b, not b · x̂ + g", i => i.B * Normed(i.X, Biased, v => (v + Eps).sqrt()) + i.G),
                new("normalise over the last axis (each position's features), not over the first",
                    i => i.G * ((i.X - i.X.mean([0], keepdim: true)) / ((i.X - i.X.mean([0], keepdim: true)).pow(2).mean([0], keepdim: true) + Eps).sqrt()) + i.B),
            ],
        }.Run();
    }

    // ---------------------------------------------------------------- attention

    /// <summary>attention(q, k, v, mask) = softmax(q kᵀ / √d_k + mask) v, with picoGPT's additive mask.</summary>
    public static CheckResult Attention(Func<Tensor, Tensor, Tensor, Tensor, Tensor> attention)
    {
        Case<(Tensor Q, Tensor K, Tensor V, Tensor M)> C(string name, double tol, Func<(Tensor, Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Scores(Tensor q, Tensor k) => q.matmul(k.transpose(-2, -1));
        static double Sqrt(Tensor q) => Math.Sqrt(q.shape[^1]);
        return new CheckEngine<(Tensor Q, Tensor K, Tensor V, Tensor M)>
        {
            Name = "attention",
            Reference = i => Ops.Attention(i.Q, i.K, i.V, i.M),
            ReferenceName = "Ops.Attention",
            Learner = i => attention(i.Q, i.K, i.V, i.M),
            Cases =
            [
                C("q, k, v [4, 4] (n_seq = d_k) with the causal mask [4, 4] (float64)", F64,
                    () => (R(41, Float64, 4, 4) * 2, R(42, Float64, 4, 4) * 2, R(43, Float64, 4, 4), Ops.CausalMask(4, Float64))),
                C("q, k, v [4, 8] with the causal mask [4, 4] (float64)", F64,
                    () => (R(53, Float64, 4, 8) * 2, R(54, Float64, 4, 8) * 2, R(55, Float64, 4, 8), Ops.CausalMask(4, Float64))),
                C("q, k [5, 16], v [5, 6] (d_v ≠ d_k), causal mask (float32)", F32,
                    () => (R(44, Float32, 5, 16) * 2, R(45, Float32, 5, 16) * 2, R(46, Float32, 5, 6), Ops.CausalMask(5, Float32))),
                C("batch q, k, v [2, 4, 8] with a [4, 4] causal mask (float64)", F64,
                    () => (R(47, Float64, 2, 4, 8) * 2, R(48, Float64, 2, 4, 8) * 2, R(49, Float64, 2, 4, 8), Ops.CausalMask(4, Float64))),
                C("3 queries, 5 keys, zero mask [3, 5] (float64)", F64,
                    () => (R(50, Float64, 3, 8) * 2, R(51, Float64, 5, 8) * 2, R(52, Float64, 5, 4), torch.zeros(3, 5, dtype: Float64))),
            ],
            Traps =
            [
                new("no 1/sqrt(d_k) scaling: divide q·kᵀ by √d_k (d_k = q.shape[^1]) before the softmax",
                    i => Ops.Softmax(Scores(i.Q, i.K) + i.M).matmul(i.V)),
                new("scale by 1/sqrt(d_k), not 1/d_k", i => Ops.Softmax(Scores(i.Q, i.K) / i.Q.shape[^1] + i.M).matmul(i.V)),
                new(FutureVisible, i => Ops.Softmax(Scores(i.Q, i.K) / Sqrt(i.Q)).matmul(i.V)),
                new(FutureVisible, i => (Ops.Softmax(Scores(i.Q, i.K) / Sqrt(i.Q)) + i.M).matmul(i.V)),
                new("apply the mask before the softmax: zeroing the future weights afterwards leaves rows that no longer sum to 1",
                    i => (Ops.Softmax(Scores(i.Q, i.K) / Sqrt(i.Q)) * (i.M == 0)).matmul(i.V)),
                new("the mask is additive: add it to the scores (0 keeps a position, -1e10 removes it); do not multiply",
                    i => Ops.Softmax(Scores(i.Q, i.K) / Sqrt(i.Q) * i.M).matmul(i.V)),
                new("softmax over the keys: the last axis of the scores q·kᵀ", i => (Scores(i.Q, i.K) / Sqrt(i.Q) + i.M).softmax(-2).matmul(i.V)),
                new("transpose k: the scores are q @ k.transpose(-2, -1), [n_q, n_k]", i => Ops.Softmax(SafeMatmul(i.Q, i.K) / Sqrt(i.Q) + i.M).matmul(i.V)),
            ],
            ExceptionHint = e => ShapeError(e)
                ? "the scores are q @ kᵀ: q [..., n_q, d_k] matmul k.transpose(-2, -1) [..., d_k, n_k] gives [..., n_q, n_k], then @ v (matmul and transpose(-2, -1) also work with leading batch dimensions; mm and .T do not)"
                : null,
            Probe = () => FutureLeaks(
                v => attention(R(41, Float64, 4, 4) * 2, R(42, Float64, 4, 4) * 2, v, Ops.CausalMask(4, Float64)),
                () => R(43, Float64, 4, 4)),
        }.Run();
    }

    // ---------------------------------------------------------------- multi-head attention

    /// <summary>Causal multi-head self-attention with GPT-2's c_attn / c_proj weights.</summary>
    public static CheckResult MultiHeadAttention(Func<Tensor, AttentionParams, int, Tensor> mha)
    {
        Case<(Tensor X, AttentionParams P, int H)> C(string name, double tol, Func<(Tensor, AttentionParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, AttentionParams P, int H)>
        {
            Name = "multi_head_attention",
            Reference = i => Ops.MultiHeadAttention(i.X, i.P, i.H),
            ReferenceName = "Ops.MultiHeadAttention",
            Learner = i => mha(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(61, Float64, 5, 8), Attn(62, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32, () => (R(63, Float32, 4, 12), Attn(64, 12, Float32), 3)),
                C("n_embd 8, 4 heads, 6 tokens (float64)", F64, () => (R(65, Float64, 6, 8), Attn(66, 8, Float64), 4)),
                C("batch [2, 5, 8], 2 heads (float64)", F64, () => (R(67, Float64, 2, 5, 8), Attn(68, 8, Float64), 2)),
            ],
            Traps =
            [
                new("the heads are missing: split q, k and v into n_head parts of n_embd/n_head along the last axis, attend per head, then concatenate",
                    i => Ops.MultiHeadAttention(i.X, i.P, 1)),
                new("future positions are visible: give every head the causal mask (Ops.CausalMask(n_seq)) before the softmax",
                    i => WrongMha(i.X, i.P, i.H, mask: false)),
                new("project the concatenated heads with c_proj at the end", i => WrongMha(i.X, i.P, i.H, project: false)),
                new("scale each head by 1/sqrt(head size) = 1/sqrt(n_embd/n_head), not 1/sqrt(n_embd)",
                    i => WrongMha(i.X, i.P, i.H, scaleDim: i.X.shape[^1])),
                new("c_attn's output is [q | k | v] along the last axis, in that order", i => WrongMha(i.X, i.P, i.H, swapQK: true)),
            ],
            Probe = () => FutureLeaks(x => mha(x, Attn(62, 8, Float64), 2), () => R(61, Float64, 5, 8)),
        }.Run();
    }

    // ---------------------------------------------------------------- feed-forward

    /// <summary>The MLP: c_fc up to 4·n_embd, GELU, c_proj back down.</summary>
    public static CheckResult FeedForward(Func<Tensor, FeedForwardParams, Tensor> ffn)
    {
        Case<(Tensor X, FeedForwardParams P)> C(string name, double tol, Func<(Tensor, FeedForwardParams)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Up(Tensor x, FeedForwardParams p) => Ops.Linear(x, p.CFc.W, p.CFc.B);
        static Tensor Down(Tensor x, FeedForwardParams p) => Ops.Linear(x, p.CProj.W, p.CProj.B);
        return new CheckEngine<(Tensor X, FeedForwardParams P)>
        {
            Name = "feed_forward",
            Reference = i => Ops.FeedForward(i.X, i.P),
            ReferenceName = "Ops.FeedForward",
            Learner = i => ffn(i.X, i.P),
            Cases =
            [
                C("n_embd 4, 3 tokens (float64)", F64, () => (R(71, Float64, 3, 4) * 2, Mlp(72, 4, Float64))),
                C("n_embd 8, 5 tokens (float32)", F32, () => (R(73, Float32, 5, 8) * 2, Mlp(74, 8, Float32))),
                C("batch [2, 3, 4] (float64)", F64, () => (R(75, Float64, 2, 3, 4) * 2, Mlp(76, 4, Float64))),
            ],
            Traps =
            [
                new("this uses ReLU; GPT-2's MLP uses GELU with the tanh approximation (Ops.Gelu)", i => Down(Up(i.X, i.P).relu(), i.P)),
                new("this is the exact erf GELU; GPT-2 uses the tanh approximation", i => Down(ErfGelu(Up(i.X, i.P)), i.P)),
                new("apply GELU between the two projections: c_proj(gelu(c_fc(x)))", i => Down(Up(i.X, i.P), i.P)),
                new("apply GELU after c_fc (the projection up to 4·n_embd), not after c_proj", i => Ops.Gelu(Down(Up(i.X, i.P), i.P))),
            ],
            ExceptionHint = e => ShapeError(e) ? "c_fc.W is [n_embd, 4·n_embd] and c_proj.W is [4·n_embd, n_embd]: x @ c_fc.W first, then @ c_proj.W" : null,
        }.Run();
    }

    // ---------------------------------------------------------------- transformer block

    /// <summary>Pre-norm block: x + mha(ln_1(x)), then x + ffn(ln_2(x)).</summary>
    public static CheckResult TransformerBlock(Func<Tensor, BlockParams, int, Tensor> block)
    {
        Case<(Tensor X, BlockParams P, int H)> C(string name, double tol, Func<(Tensor, BlockParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);
        static Tensor Attn(Tensor x, BlockParams p, int h) => Ops.MultiHeadAttention(x, p.Attn, h);
        static Tensor Mlp(Tensor x, BlockParams p) => Ops.FeedForward(x, p.Mlp);
        return new CheckEngine<(Tensor X, BlockParams P, int H)>
        {
            Name = "transformer_block",
            Reference = i => Ops.TransformerBlock(i.X, i.P, i.H),
            ReferenceName = "Ops.TransformerBlock",
            Learner = i => block(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(81, Float64, 5, 8), Block(82, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32Deep, () => (R(83, Float32, 4, 12), Block(84, 12, Float32), 3)),
                C("batch [2, 4, 8], 2 heads (float64)", F64, () => (R(85, Float64, 2, 4, 8), Block(86, 8, Float64), 2)),
            ],
            Traps =
            [
                new("GPT-2 is pre-norm: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)); the norm goes inside each residual branch",
                    i => { var x = Ln(i.X + Attn(i.X, i.P, i.H), i.P.Ln1); return Ln(x + Mlp(x, i.P), i.P.Ln2); }),
                new("keep the residual connections: add each branch's output to x (x = x + ...)",
                    i => Mlp(Ln(Attn(Ln(i.X, i.P.Ln1), i.P, i.H), i.P.Ln2), i.P)),
                new("use ln_2 (not ln_1) before the MLP",
                    i => { var x = i.X + Attn(Ln(i.X, i.P.Ln1), i.P, i.H); return x + Mlp(Ln(x, i.P.Ln1), i.P); }),
                new("normalise with ln_1 before attention and ln_2 before the MLP",
                    i => { var x = i.X + Attn(i.X, i.P, i.H); return x + Mlp(x, i.P); }),
                new("the MLP works on the attention step's result: x = x + attn(ln_1(x)); then x = x + mlp(ln_2(x)) with the new x",
                    i => i.X + Attn(Ln(i.X, i.P.Ln1), i.P, i.H) + Mlp(Ln(i.X, i.P.Ln2), i.P)),
            ],
            Probe = () => FutureLeaks(x => block(x, Block(82, 8, Float64), 2), () => R(81, Float64, 5, 8)),
        }.Run();
    }

    // ---------------------------------------------------------------- gpt2

    /// <summary>
    /// The whole forward pass on a tiny random GPT-2 (vocab 8, context 16, n_embd 8, 2 layers, 2 heads). The vocabulary
    /// is as wide as the embedding so that a forgotten transpose of wte gives wrong numbers instead of a shape error
    /// (TorchSharp's matmul aborts the process on mismatched shapes).
    /// </summary>
    public static CheckResult Gpt2(Func<Tensor, Gpt2Params, int, Tensor> gpt2)
    {
        Case<(Tensor Ids, Gpt2Params P, int H)> C(string name, double tol, Func<(Tensor, Gpt2Params, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);
        static Tensor Blocks(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h); return x; }
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        return new CheckEngine<(Tensor Ids, Gpt2Params P, int H)>
        {
            Name = "gpt2",
            Reference = i => Ops.Gpt2(i.Ids, i.P, i.H),
            ReferenceName = "Ops.Gpt2",
            Learner = i => gpt2(i.Ids, i.P, i.H),
            Cases =
            [
                C("5 token ids, float32 weights (tiny GPT-2: vocab 8, context 16, n_embd 8, 2 layers, 2 heads)", F32Deep, () => (Ids([3, 1, 4, 1, 5]), Tiny(91, Float32), 2)),
                C("8 token ids, float64 weights", F64, () => (Ids([7, 2, 6, 5, 3, 5, 0, 7]), Tiny(92, Float64), 2)),
                C("one token id, float64 weights", F64, () => (Ids([7]), Tiny(93, Float64), 2)),
                C("batch of 2 × 6 token ids [2, 6], float64 weights", F64, () => (Ids([0, 1, 2, 3, 4, 5, 7, 6, 5, 4, 3, 2]).reshape(2, 6), Tiny(94, Float64), 2)),
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]",
                    i => Ln(Blocks(i.P.Wte[i.Ids], i.P, i.H), i.P.LnF).matmul(i.P.Wte.T)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id",
                    i => Ln(Blocks(i.P.Wte[i.Ids] + i.P.Wpe[i.Ids], i.P, i.H), i.P.LnF).matmul(i.P.Wte.T)),
                new("apply the final layer norm ln_f before the output projection",
                    i => Blocks(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P, i.H).matmul(i.P.Wte.T)),
                new("run x through every transformer block in p.Blocks, in order",
                    i => Ln(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P.LnF).matmul(i.P.Wte.T)),
                new("the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab]), not x @ wte",
                    i => SafeMatmul(Ln(Blocks(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P, i.H), i.P.LnF), i.P.Wte)),
            ],
            ExceptionHint = e => ShapeError(e) ? "the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab])" : null,
            Diagnose = (i, expected, got) => got.shape.Length == expected.shape.Length && got.shape[^1] == i.P.Wte.shape[1]
                ? "return logits over the vocabulary, [n_seq, n_vocab]: multiply by wteᵀ at the end" : null,
            Probe = () => FutureLeaksIds(ids => gpt2(ids, Tiny(92, Float64), 2)),
        }.Run();
    }

    // ---------------------------------------------------------------- top-k

    /// <summary>
    /// top_k(logits, k): the filtered logits, with everything but the k largest set to -inf. Compared as probabilities
    /// (softmax of what you return) against <see cref="Sampler.TopK"/>.
    /// </summary>
    public static CheckResult TopK(Func<Tensor, int, Tensor> topK)
    {
        Case<(Tensor L, int K)> C(string name, double tol, Func<(Tensor, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs, View = Probs };
        static Tensor Probs(Tensor logits) => logits.to(Float64).softmax(-1);
        static Tensor KeepWhere(Tensor l, Tensor keep, double fill) => l.masked_fill(keep.logical_not(), fill);
        static Tensor Kth(Tensor l, int k) => l.topk(k, dim: -1).values.narrow(-1, k - 1, 1);
        return new CheckEngine<(Tensor L, int K)>
        {
            Name = "top_k",
            Reference = i => Sampler.TopK(i.L, i.K),
            ReferenceName = "Sampler.TopK",
            Learner = i => topK(i.L, i.K),
            Cases =
            [
                C("published logits [4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79], k = 3 → probabilities [0.0615, 0, 0, 0.5775, 0, 0, 0, 0.3610, 0] (float32)", 1e-6,
                    () => (T1([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79]).to(Float32), 3)),
                C("batch [2, 3, 10], k = 4 (float32)", 1e-6, () => (R(101, Float32, 2, 3, 10) * 3, 4)),
                C("k = 1 (greedy), [2, 6] (float64)", F64, () => (R(102, Float64, 2, 6) * 3, 1)),
                C("k = V keeps every token, [5] (float64)", F64, () => (R(103, Float64, 5) * 3, 5)),
            ],
            Traps =
            [
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
            ],
            Diagnose = (i, expected, got) => got.shape.Length > 0 && got.shape[^1] == i.K && i.K != i.L.shape[^1]
                ? "return a tensor shaped like the logits ([..., V]) with the removed entries set to -inf, not just the k kept values" : null,
        }.Run();
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// matmul that throws instead of aborting the process on mismatched shapes (TorchSharp 0.107's matmul does not catch
    /// libtorch's error). Used by traps that run on shapes where the mistake cannot work.
    /// </summary>
    static Tensor SafeMatmul(Tensor a, Tensor b)
    {
        long inner = b.dim() == 1 ? b.shape[0] : b.shape[^2];
        if (a.dim() == 0 || b.dim() == 0 || a.shape[^1] != inner)
            throw new InvalidOperationException($"shapes [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}] cannot be multiplied");
        return a.matmul(b);
    }

    static Tensor ErfGelu(Tensor x) => 0.5 * x * (1 + (x / Math.Sqrt(2)).erf());

    /// <summary>Attention written with switches for its typical mistakes (the reference is Ops.MultiHeadAttention).</summary>
    static Tensor WrongMha(Tensor x, AttentionParams p, int nHead, bool mask = true, bool project = true, long? scaleDim = null, bool swapQK = false)
    {
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);        // 3 x [n_seq, n_embd]
        var (q, k, v) = swapQK ? (qkv[1], qkv[0], qkv[2]) : (qkv[0], qkv[1], qkv[2]);
        var (qs, ks, vs) = (q.chunk(nHead, -1), k.chunk(nHead, -1), v.chunk(nHead, -1));
        var m = mask ? Ops.CausalMask(x.shape[^2], x.dtype) : torch.zeros(x.shape[^2], x.shape[^2], dtype: x.dtype);
        var heads = Enumerable.Range(0, nHead).Select(h =>
            Ops.Softmax(qs[h].matmul(ks[h].transpose(-2, -1)) / Math.Sqrt(scaleDim ?? qs[h].shape[^1]) + m).matmul(vs[h])).ToArray();
        var o = torch.cat(heads, dim: -1);                                        // [n_seq, n_embd]
        return project ? Ops.Linear(o, p.CProj.W, p.CProj.B) : o;
    }

    /// <summary>Changes the last position of the input: if any earlier output row moves, the future leaked into the past.</summary>
    static string? FutureLeaks(Func<Tensor, Tensor> f, Func<Tensor> input) // input [n_seq, ...]
    {
        using var scope = torch.NewDisposeScope();
        var x = input();
        var changed = x.clone();
        changed[-1] = changed[-1].flip(-1) * -2;                                  // not a constant shift: layer norm would undo that
        var a = f(x); var b = f(changed);
        long n = a.shape[0] - 1;
        return n > 0 && !CheckEngine<Tensor>.Matches(a.narrow(0, 0, n), b.narrow(0, 0, n), 1e-6)
            ? "future positions are visible: changing the last token changed the outputs before it; apply the causal mask before the softmax"
            : null;
    }

    static string? FutureLeaksIds(Func<Tensor, Tensor> f)
    {
        using var scope = torch.NewDisposeScope();
        var a = f(Ids([7, 2, 6, 5, 3]));
        var b = f(Ids([7, 2, 6, 5, 1]));
        return !CheckEngine<Tensor>.Matches(a.narrow(0, 0, 4), b.narrow(0, 0, 4), 1e-6)
            ? "future positions are visible: changing the last token changed the logits before it; attention needs the causal mask"
            : null;
    }

    static bool ShapeError(Exception e)
    {
        var m = e.Message;
        return m.Contains("cannot be multiplied") || m.Contains("size mismatch") || m.Contains("must match the size")
            || m.Contains("shape") && m.Contains("invalid") || m.Contains("mismatch") || m.Contains("must be a matrix")
            || m.Contains("Expected size") || m.Contains("Dimension out of range") || m.Contains("dimensions");
    }

    static bool HasNonFinite(Tensor t) => !t.isfinite().all().item<bool>();

    // inputs: fixed values, and seeded normal values (our own generator, so the learner's torch seed is untouched)
    static Tensor T(double[][] rows) => torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length], dtype: Float64);
    static Tensor T1(double[] values) => torch.tensor(values, dtype: Float64);
    static Tensor Ids(long[] ids) => torch.tensor(ids, dtype: ScalarType.Int64);

    static Tensor R(int seed, ScalarType dtype, params long[] shape)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[n];
        for (long i = 0; i < n; i++)                                           // Box-Muller
            values[i] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        return torch.tensor(values, shape, dtype: Float64).to(dtype);
    }

    static LinearParams Lin(int seed, long nIn, long nOut, ScalarType dt) => new(R(seed, dt, nIn, nOut) / Math.Sqrt(nIn), R(seed + 1000, dt, nOut) * 0.1);
    static LayerNormParams Norm(int seed, long n, ScalarType dt) => new(R(seed, dt, n) * 0.3 + 1, R(seed + 1000, dt, n) * 0.1);
    static AttentionParams Attn(int seed, long c, ScalarType dt) => new(Lin(seed, c, 3 * c, dt), Lin(seed + 1, c, c, dt));
    static FeedForwardParams Mlp(int seed, long c, ScalarType dt) => new(Lin(seed, c, 4 * c, dt), Lin(seed + 1, 4 * c, c, dt));
    static BlockParams Block(int seed, long c, ScalarType dt) => new(Norm(seed, c, dt), Attn(seed + 10, c, dt), Norm(seed + 20, c, dt), Mlp(seed + 30, c, dt));

    /// <summary>A tiny random GPT-2: vocab 8, context 16, n_embd 8, 2 layers (use 2 heads).</summary>
    internal static Gpt2Params Tiny(int seed, ScalarType dt, int vocab = 8, int ctx = 16, int c = 8, int layers = 2) =>
        new(R(seed, dt, vocab, c), R(seed + 1, dt, ctx, c) * 0.5, Enumerable.Range(0, layers).Select(l => Block(seed + 100 * (l + 1), c, dt)).ToArray(), Norm(seed + 2, c, dt));
}
