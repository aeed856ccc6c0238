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
}
