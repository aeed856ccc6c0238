using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/01-linear.ipynb.
public static partial class Checks
{
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
}
