using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/02-softmax.ipynb.
public static partial class Checks
{
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
}
