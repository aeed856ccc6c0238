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
    public static CheckResult Normalize(Func<Tensor, Tensor> normalize) => NormalizeCheck((x, eps) => normalize(x), takesEps: false);

    /// <summary>The same check for a function that takes eps as a second argument: called with eps = 1e-5, and once with another eps.</summary>
    public static CheckResult Normalize(Func<Tensor, double, Tensor> normalize) => NormalizeCheck(normalize, takesEps: true);

    const string EpsIgnored = "your function ignores its eps argument (this case passes eps = 1e-2; you used 1e-5): use the eps it is given, " +
        "(x - mean) / sqrt(variance + eps), and pass it on to every call that takes one (Normalize(x, eps); torch.nn.functional.layer_norm(x, shape, g, b, eps), whose own default is 1e-5)";

    static CheckResult NormalizeCheck(Func<Tensor, double, Tensor> normalize, bool takesEps)
    {
        Case<(Tensor X, double Eps)> C(string name, double tol, Func<Tensor> x, double eps = Eps) => new() { Name = name, Tol = tol, Inputs = () => (x(), eps) };
        return new CheckEngine<(Tensor X, double Eps)>
        {
            Name = "normalize",
            Reference = i => Ops.Normalize(i.X, i.Eps),
            ReferenceName = takesEps ? "Ops.Normalize" : "Ops.Normalize (eps 1e-5)",
            Learner = i => normalize(i.X, i.Eps),
            Cases =
            [
                C("published [[2, 2, 3], [-5, 0, 1]] → [[-0.70709087, -0.70709087, 1.41418174], [-1.39700038, 0.50800014, 0.88900024]] (float64)", F64,
                    () => T([[2, 2, 3], [-5, 0, 1]])),
                C("random x [4, 8] (float32)", F32, () => R(37, Float32, 4, 8) * 3 + 1),
                C("small variance, where eps matters: x [[0.001, -0.001, 0.002, -0.002]] (float64)", F64, () => T([[0.001, -0.001, 0.002, -0.002]])),
                C("batch [2, 3, 8] (float64)", F64, () => R(38, Float64, 2, 3, 8)),
                C("a constant row [[5, 5, 5, 5], [1, 2, 3, 4]]: variance 0, so only eps keeps 0/0 away (float64)", F64, () => T([[5, 5, 5, 5], [1, 2, 3, 4]])),
                .. takesEps
                    ? [C("eps = 1e-2 passed in: x [[0.1, -0.1, 0.2, -0.2]], variance 0.025, so eps changes the result (float64)", F64, () => T([[0.1, -0.1, 0.2, -0.2]]), 1e-2)]
                    : Array.Empty<Case<(Tensor X, double Eps)>>(),
            ],
            Traps =
            [
                new(EpsIgnored, i => Ops.Normalize(i.X)),
                .. Mistakes.Combine<(Tensor X, double Eps)>(NormalizeSteps, (c, i) => WrongNormalize(c, i.X, i.Eps)),
                .. OtherEps.Select(eps => new Trap<(Tensor X, double Eps)>(OtherEpsHint(eps), i => Ops.Normalize(i.X, eps))),
            ],
            InputsUnchanged = true,
            Deterministic = true,
            ExceptionHint = e => e.Message.Contains("must match the size") ? KeepdimMeanVariance : NormalizedShape(e) ?? InPlaceShape(e),
            Diagnose = (i, expected, got) => !got.shape.SequenceEqual(expected.shape) ? null : NotCentred(got) ?? RowVariance(expected, got),
        }.Run();
    }

    // ---------------------------------------------------------------- layer norm

    /// <summary>layer_norm(x, g, b) over the last axis with biased variance and eps = 1e-5.</summary>
    public static CheckResult LayerNorm(Func<Tensor, Tensor, Tensor, Tensor> layerNorm) => LayerNormCheck((x, g, b, eps) => layerNorm(x, g, b), takesEps: false);

    /// <summary>The same check for a function that takes eps as a fourth argument: called with eps = 1e-5, and once with another eps.</summary>
    public static CheckResult LayerNorm(Func<Tensor, Tensor, Tensor, double, Tensor> layerNorm) => LayerNormCheck(layerNorm, takesEps: true);

    static CheckResult LayerNormCheck(Func<Tensor, Tensor, Tensor, double, Tensor> layerNorm, bool takesEps)
    {
        Case<(Tensor X, Tensor G, Tensor B, double Eps)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs, double eps = Eps) =>
            new() { Name = name, Tol = tol, Inputs = () => { var (x, g, b) = inputs(); return (x, g, b, eps); } };
        return new CheckEngine<(Tensor X, Tensor G, Tensor B, double Eps)>
        {
            Name = "layer_norm",
            Reference = i => Ops.LayerNorm(i.X, i.G, i.B, i.Eps),
            ReferenceName = takesEps ? "Ops.LayerNorm" : "Ops.LayerNorm (eps 1e-5)",
            Learner = i => layerNorm(i.X, i.G, i.B, i.Eps),
            Cases =
            [
                C("published [[2, 2, 3], [-5, 0, 1]], g = 1, b = 0 → [[-0.70709087, -0.70709087, 1.41418174], [-1.39700038, 0.50800014, 0.88900024]] (float64)", F64,
                    () => (T([[2, 2, 3], [-5, 0, 1]]), torch.ones(3, dtype: Float64), torch.zeros(3, dtype: Float64))),
                C("random x [4, 8] with random g, b (float32)", F32, () => (R(31, Float32, 4, 8) * 3 + 1, R(32, Float32, 8) * 0.5 + 1, R(33, Float32, 8))),
                C("small variance, where eps matters: x [[0.001, -0.001, 0.002, -0.002]] (float64)", F64,
                    () => (T([[0.001, -0.001, 0.002, -0.002]]), T1([1.5, 0.5, 1, 2]), T1([0.1, -0.2, 0.3, 0]))),
                C("batch [2, 3, 8] with random g, b (float64)", F64, () => (R(34, Float64, 2, 3, 8), R(35, Float64, 8) * 0.5 + 1, R(36, Float64, 8))),
                .. takesEps
                    ? [C("eps = 1e-2 passed in: x [[0.1, -0.1, 0.2, -0.2]] with g, b, variance 0.025, so eps changes the result (float64)", F64,
                        () => (T([[0.1, -0.1, 0.2, -0.2]]), T1([1.5, 0.5, 1, 2]), T1([0.1, -0.2, 0.3, 0])), 1e-2)]
                    : Array.Empty<Case<(Tensor X, Tensor G, Tensor B, double Eps)>>(),
            ],
            // the normalisation's mistakes, as in Normalize, and then the scale and shift
            Traps =
            [
                new(EpsIgnored, i => Ops.LayerNorm(i.X, i.G, i.B)),
                .. Mistakes.Combine<(Tensor X, Tensor G, Tensor B, double Eps)>([.. NormalizeSteps, ScaleShift], (c, i) =>
                {
                    var n = WrongNormalize(c, i.X, i.Eps);
                    return c.Took(NoScaleNoShift) ? n : c.Took(GAndBSwapped) ? i.B * n + i.G : c.Took(ShiftBeforeScale) ? i.G * (n + i.B)
                        : c.Took(NoShift) ? i.G * n : c.Took(NoScale) ? n + i.B : i.G * n + i.B;
                }),
                new("normalise x before scaling and shifting: g · x̂ + b with x̂ = (x - mean) / sqrt(variance + eps), not g · x + b", i => i.G * i.X + i.B),
                .. OtherEps.Select(eps => new Trap<(Tensor X, Tensor G, Tensor B, double Eps)>(OtherEpsHint(eps), i => i.G * Ops.Normalize(i.X, eps) + i.B)),
            ],
            InputsUnchanged = true,
            Deterministic = true,
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
        $"your eps is {CheckEngine.Num(eps)}; GPT-2's is 1e-5 (0.00001): use the eps argument (1e-5), not a constant of your own" +
        (eps == 1e-4 ? "; careful, 10e-5 is 1e-4" : "");

    /// <summary>torch.nn.functional.layer_norm called with normalized_shape = x.shape (every axis) instead of the last one.</summary>
    static string? NormalizedShape(Exception e) =>
        e.Message.Contains("normalized_shape")
            ? "torch.nn.functional.layer_norm's normalized_shape is the trailing axes to normalise over, here the last one only: " +
              "torch.nn.functional.layer_norm(x, new long[] { x.shape[^1] }, g, b, eps) (x.shape would normalise over the whole tensor)"
            : null;

    const string Axis1Hint = "take the mean and the variance over the last axis, -1: axis 1 is the last axis only for a 2-D x [n_seq, n_embd]; " +
        "with a batch [B, n_seq, n_embd] it is n_seq, so x.mean(1) or x.sum(1) / n averages over the positions: write x.mean(new long[] { -1 }, keepdim: true)";

    // the steps of (x - mean) / sqrt(variance + eps) that learners get wrong, alone and two at a time
    static readonly Mistakes.Way Unbiased = new("GPT-2 divides by N (biased variance): use the mean of (x - mean)², or x.var(-1, unbiased: false, keepdim: true); " +
        "x.var and x.std divide by N - 1 unless told unbiased: false");
    static readonly Mistakes.Way EpsOutsideRoot = new("eps goes inside the square root: sqrt(variance + eps), not sqrt(variance) + eps (nor std + eps)");
    static readonly Mistakes.Way NoEps = new("add eps = 1e-5 to the variance inside the square root: (x - mean) / sqrt(variance + eps)");
    static readonly Mistakes.Way ByVariance = new("divide by the standard deviation sqrt(variance + eps), not by the variance");
    static readonly Mistakes.Way RootOfEpsAdded = new("eps goes inside the square root: sqrt(variance + eps), not sqrt(variance) + sqrt(eps)");
    static readonly Mistakes.Way FirstAxis = new("normalise over the last axis (each token's features), not over the first");
    static readonly Mistakes.Way Axis1Mean = new(Axis1Hint);
    static readonly Mistakes.Way Axis1SumOverN = new(Axis1Hint);
    static readonly Mistakes.Way WholeTensor = new("normalise each row on its own: mean and variance over the last axis (keepdim: true), not over the whole tensor");
    static readonly Mistakes.Way NotCentredWay = new("subtract the mean before dividing: (x - mean) / sqrt(variance + eps), not x / sqrt(variance + eps)");
    static readonly Mistakes.Step[] NormalizeSteps =
        [new(Unbiased), new(EpsOutsideRoot, NoEps, ByVariance, RootOfEpsAdded), new(FirstAxis, Axis1Mean, Axis1SumOverN, WholeTensor), new(NotCentredWay)];

    // then layer norm's scale and shift
    static readonly Mistakes.Way NoScaleNoShift = new("scale by g and shift by b after normalising: g · x̂ + b");
    static readonly Mistakes.Way GAndBSwapped = new("g scales and b shifts: g · x̂ + b, not b · x̂ + g");
    static readonly Mistakes.Way ShiftBeforeScale = new("shift after scaling: g · x̂ + b, not g · (x̂ + b)");
    static readonly Mistakes.Way NoShift = new("missing the shift: add b after scaling, g · x̂ + b");
    static readonly Mistakes.Way NoScale = new("missing the scale: multiply by g before adding b, g · x̂ + b");
    static readonly Mistakes.Step ScaleShift = new(NoScaleNoShift, GAndBSwapped, ShiftBeforeScale, NoShift, NoScale);

    /// <summary>(x - mean) / sqrt(variance + eps) with the mistakes chosen by c (ways of NormalizeSteps).</summary>
    static Tensor WrongNormalize(Mistakes.Choice c, Tensor x, double eps)
    {
        long[] axes = c.Took(FirstAxis) ? [0] : c.TookAny(Axis1Mean, Axis1SumOverN) ? [1]
            : c.Took(WholeTensor) ? Enumerable.Range(0, (int)x.dim()).Select(d => (long)d).ToArray() : [-1];
        double n = c.Took(Axis1SumOverN) ? x.shape[^1] : x.numel() / x.mean(axes, keepdim: true).numel();   // what the sums are divided by
        var mean = x.sum(axes, keepdim: true) / n;
        var sq = (x - mean).pow(2);
        var variance = sq.sum(axes, keepdim: true) / (c.Took(Unbiased) ? n - 1 : n);
        var denominator = c.Took(EpsOutsideRoot) ? variance.sqrt() + eps : c.Took(NoEps) ? variance.sqrt() : c.Took(ByVariance) ? variance + eps
            : c.Took(RootOfEpsAdded) ? variance.sqrt() + Math.Sqrt(eps) : (variance + eps).sqrt();
        return (c.Took(NotCentredWay) ? x : x - mean) / denominator;
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
            ? $"row {row} of the result has variance {CheckEngine.Num(h)}, but it should be {CheckEngine.Num(w)} (about 1: each row divided by its own standard deviation): " +
              "take each row's variance, the mean of (x - mean)² over the last axis (keepdim: true), and divide by sqrt(variance + eps)"
            : null;
    }

    static string? NotCentred(Tensor got)
    {
        var worst = got.mean([-1]).abs().max().item<double>();
        if (worst <= 1e-3) return null;
        // the premise "you did not subtract a mean" is false when the result is centred along another axis
        for (long axis = 0; axis < got.dim() - 1; axis++)
            if (got.shape[axis] > 1 && got.mean([axis]).abs().max().item<double>() <= 1e-6)
                return $"your result is centred along axis {axis}, not along the last axis: you subtracted the mean over axis {axis}; take it over the last axis, " +
                       "x.mean(new long[] { -1 }, keepdim: true) (-1 is the last axis whatever the number of axes; axis 1 is the last one only for a 2-D x)";
        return $"each row of the result should have mean 0, but one has mean {CheckEngine.Num(worst)}: subtract each row's mean (keepdim: true) before dividing";
    }
}
