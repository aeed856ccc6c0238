using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/04-layer-norm.ipynb.
public static partial class Checks
{
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
}
