using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/05-attention.ipynb.
public static partial class Checks
{
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
}
