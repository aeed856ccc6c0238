using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/04-layer-norm.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- normalisation, layer norm's first step

    /// <summary>normalize(x) = (x - mean) / sqrt(variance + eps) over the last axis, biased variance, eps = 1e-5.</summary>
    public static CheckResult Normalize(Func<Tensor, Tensor> normalize) => NormalizeCheck(normalize);

    /// <summary>The same check for a function that takes eps as a second argument (called with eps = 1e-5).</summary>
    public static CheckResult Normalize(Func<Tensor, double, Tensor> normalize) => NormalizeCheck(x => normalize(x, Eps));

    static CheckResult NormalizeCheck(Func<Tensor, Tensor> normalize)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "normalize",
            Reference = x => Ops.Normalize(x),
            ReferenceName = "Ops.Normalize (eps 1e-5)",
            Learner = normalize,
            Cases =
            [
                C("published [[2, 2, 3], [-5, 0, 1]] → [[-0.70709087, -0.70709087, 1.41418174], [-1.39700038, 0.50800014, 0.88900024]] (float64)", F64,
                    () => T([[2, 2, 3], [-5, 0, 1]])),
                C("random x [4, 8] (float32)", F32, () => R(37, Float32, 4, 8) * 3 + 1),
                C("small variance, where eps matters: x [[0.001, -0.001, 0.002, -0.002]] (float64)", F64, () => T([[0.001, -0.001, 0.002, -0.002]])),
                C("batch [2, 3, 8] (float64)", F64, () => R(38, Float64, 2, 3, 8)),
                C("a constant row [[5, 5, 5, 5], [1, 2, 3, 4]]: variance 0, so only eps keeps 0/0 away (float64)", F64, () => T([[5, 5, 5, 5], [1, 2, 3, 4]])),
            ],
            Traps = [.. Mistakes.Combine<Tensor>(NormalizeSteps, (c, x) => WrongNormalize(c, x)), .. OtherEps.Select(eps => new Trap<Tensor>(OtherEpsHint(eps), x => Ops.Normalize(x, eps)))],
            InputsUnchanged = true,
            ExceptionHint = e => e.Message.Contains("must match the size") ? KeepdimMeanVariance : NormalizedShape(e) ?? InPlaceShape(e),
            Diagnose = (x, expected, got) => !got.shape.SequenceEqual(expected.shape) ? null : NotCentred(got) ?? RowVariance(expected, got),
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
            // the normalisation's mistakes, as in Normalize, and then the scale and shift
            Traps = Mistakes.Combine<(Tensor X, Tensor G, Tensor B)>(
                [
                    .. NormalizeSteps,
                    new("scale by g and shift by b after normalising: g · x̂ + b",
                        "g scales and b shifts: g · x̂ + b, not b · x̂ + g",
                        "shift after scaling: g · x̂ + b, not g · (x̂ + b)",
                        "missing the shift: add b after scaling, g · x̂ + b",
                        "missing the scale: multiply by g before adding b, g · x̂ + b"),
                ],
                (c, i) =>
                {
                    var n = WrongNormalize(c, i.X);
                    return c[4] switch { 0 => i.G * n + i.B, 1 => n, 2 => i.B * n + i.G, 3 => i.G * (n + i.B), 4 => i.G * n, _ => n + i.B };
                }).Append(new("normalise x before scaling and shifting: g · x̂ + b with x̂ = (x - mean) / sqrt(variance + eps), not g · x + b",
                    i => i.G * i.X + i.B))
                .Concat(OtherEps.Select(eps => new Trap<(Tensor X, Tensor G, Tensor B)>(OtherEpsHint(eps), i => i.G * Ops.Normalize(i.X, eps) + i.B))).ToList(),
            InputsUnchanged = true,
            ExceptionHint = e => e.Message.Contains("must match the size") ? KeepdimMeanVariance + "; g and b [n_embd] broadcast against x as they are (no unsqueeze)"
                : NormalizedShape(e) ?? InPlaceShape(e),
            Diagnose = (i, expected, got) => !got.shape.SequenceEqual(expected.shape) ? null :
                (NotCentred((got - i.B) / i.G) ?? RowVariance((expected - i.B) / i.G, (got - i.B) / i.G)) is { } hint ? "undoing g and b from your output: " + hint : null,
        }.Run();
    }

    // ---------------------------------------------------------------- their typical mistakes

    const string KeepdimMeanVariance = "take the mean and the variance with keepdim: true, e.g. x.mean(new long[] { -1 }, keepdim: true), " +
                                       "so they have shape [..., 1] and broadcast against x [..., n_embd]";

    /// <summary>Other values of eps that learners type: 10e-5 (meant as 1e-5), T5's 1e-6, 1e-8, Keras's 1e-3 (BERT's 1e-12 is "no eps" within the tolerances).</summary>
    static readonly double[] OtherEps = [1e-4, 1e-6, 1e-8, 1e-3];

    static string OtherEpsHint(double eps) =>
        $"your eps is {CheckEngine<int>.Num(eps)}; GPT-2's is 1e-5 (0.00001): use the eps argument (1e-5), not a constant of your own" +
        (eps == 1e-4 ? "; careful, 10e-5 is 1e-4" : "");

    /// <summary>torch.nn.functional.layer_norm called with normalized_shape = x.shape (every axis) instead of the last one.</summary>
    static string? NormalizedShape(Exception e) =>
        e.Message.Contains("normalized_shape")
            ? "torch.nn.functional.layer_norm's normalized_shape is the trailing axes to normalise over, here the last one only: " +
              "torch.nn.functional.layer_norm(x, new long[] { x.shape[^1] }, g, b, eps) (x.shape would normalise over the whole tensor)"
            : null;

    /// <summary>The steps of (x - mean) / sqrt(variance + eps) that learners get wrong, alone and two at a time.</summary>
    static readonly Mistakes.Step[] NormalizeSteps =
    [
        new("GPT-2 divides by N (biased variance): use the mean of (x - mean)², or x.var(-1, unbiased: false, keepdim: true); " +
            "x.var and x.std divide by N - 1 unless told unbiased: false"),
        new("eps goes inside the square root: sqrt(variance + eps), not sqrt(variance) + eps (nor std + eps)",
            "add eps = 1e-5 to the variance inside the square root: (x - mean) / sqrt(variance + eps)",
            "divide by the standard deviation sqrt(variance + eps), not by the variance",
            "eps goes inside the square root: sqrt(variance + eps), not sqrt(variance) + sqrt(eps)"),
        new("normalise over the last axis (each token's features), not over the first",
            "normalise each row on its own: mean and variance over the last axis (keepdim: true), not over the whole tensor"),
        new("subtract the mean before dividing: (x - mean) / sqrt(variance + eps), not x / sqrt(variance + eps)"),
    ];

    /// <summary>(x - mean) / sqrt(variance + eps) with the mistakes chosen by c (indices into NormalizeSteps, 0 = right).</summary>
    static Tensor WrongNormalize(int[] c, Tensor x)
    {
        long[] axes = c[2] switch { 0 => [-1], 1 => [0], _ => Enumerable.Range(0, (int)x.dim()).Select(d => (long)d).ToArray() };
        var mean = x.mean(axes, keepdim: true);
        var sq = (x - mean).pow(2);
        var variance = c[0] == 0 ? sq.mean(axes, keepdim: true) : sq.sum(axes, keepdim: true) / (x.numel() / mean.numel() - 1);
        var denominator = c[1] switch { 0 => (variance + Eps).sqrt(), 1 => variance.sqrt() + Eps, 2 => variance.sqrt(), 3 => variance + Eps, _ => variance.sqrt() + Math.Sqrt(Eps) };
        return (c[3] == 0 ? x - mean : x) / denominator;
    }

    /// <summary>A hint when the rows are centred but their spread is wrong, e.g. a variance taken over the whole tensor.</summary>
    static string? RowVariance(Tensor expected, Tensor got)
    {
        if (!expected.shape.SequenceEqual(got.shape)) return null;
        var want = expected.var(-1, unbiased: false).flatten();            // 1, a little less where eps matters, 0 for a constant row
        var have = got.var(-1, unbiased: false).flatten();
        var row = (have - want).abs().argmax().item<long>();
        double w = want[row].item<double>(), h = have[row].item<double>();
        return Math.Abs(h - w) > 1e-3
            ? $"row {row} of the result has variance {CheckEngine<Tensor>.Num(h)}, but it should be {CheckEngine<Tensor>.Num(w)} (about 1: each row divided by its own standard deviation): " +
              "take each row's variance, the mean of (x - mean)² over the last axis (keepdim: true), and divide by sqrt(variance + eps)"
            : null;
    }

    static string? NotCentred(Tensor got)
    {
        var worst = got.mean([-1]).abs().max().item<double>();
        return worst > 1e-3
            ? $"each row of the result should have mean 0, but one has mean {CheckEngine<Tensor>.Num(worst)}: subtract each row's mean (keepdim: true) before dividing"
            : null;
    }
}
