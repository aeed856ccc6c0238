using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/03-gelu.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- gelu

    const string TanhFormula = "0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))";
    const string ErfFormula = "0.5·x·(1 + erf(x/√2))";

    // the tanh GELU's steps: the factor 0.5, the 1 +, the constant √(2/π), the power 3, and what √(2/π) multiplies
    static readonly Mistakes.Way NoHalf = new("missing the factor 0.5 in front: 0.5·x·(1 + tanh(...))");
    static readonly Mistakes.Step TanhHalf = new(NoHalf);
    static readonly Mistakes.Way NoOnePlus = new("missing the 1 + before tanh: 0.5·x·(1 + tanh(...)), which runs from 0 to x, not from -x to x");
    static readonly Mistakes.Way OneMinus = new("it is 1 + tanh(...), not 1 - tanh(...): 0.5·(1 + tanh(...)) approximates Φ(x), the probability below x, which rises from 0 to 1");
    static readonly Mistakes.Step TanhOnePlus = new(NoOnePlus, OneMinus);
    static readonly Mistakes.Way RootTwoPi = new("the constant is √(2/π) ≈ 0.7979 (Math.Sqrt(2 / Math.PI)), not √(2π) ≈ 2.5066");
    static readonly Mistakes.Way TwoOverPi = new("the constant is the square root √(2/π) ≈ 0.7979 (Math.Sqrt(2 / Math.PI)), not 2/π ≈ 0.6366");
    static readonly Mistakes.Way RootTwoOverPi = new("the constant is √(2/π) ≈ 0.7979, the root of the whole fraction (Math.Sqrt(2 / Math.PI)), not √2/π ≈ 0.4502 (Math.Sqrt(2) / Math.PI)");
    static readonly Mistakes.Step TanhConstant = new(RootTwoPi, TwoOverPi, RootTwoOverPi);
    static readonly Mistakes.Way Square = new("the cubic term is 0.044715·x³ (x to the power 3, x.pow(3))");
    static readonly Mistakes.Way CubeSubtracted = new("the cubic term is added: x + 0.044715·x³, not x - 0.044715·x³");
    static readonly Mistakes.Step TanhCube = new(Square, CubeSubtracted);
    static readonly Mistakes.Way ConstantOnXOnly = new("√(2/π) multiplies the whole bracket: tanh(√(2/π)·(x + 0.044715·x³)), not √(2/π)·x + 0.044715·x³");
    static readonly Mistakes.Step TanhBracket = new(ConstantOnXOnly);

    // the erf GELU's steps: the factor 0.5, the 1 +, the scaling inside erf, and the x in front
    static readonly Mistakes.Way ErfNoHalf = new($"missing the factor 0.5 in front: Φ(x) = 0.5·(1 + erf(x/√2)), so GELU = {ErfFormula}");
    static readonly Mistakes.Step ErfHalf = new(ErfNoHalf);
    static readonly Mistakes.Way ErfNoOnePlus = new($"missing the 1 + before erf: Φ(x) = 0.5·(1 + erf(x/√2)) runs from 0 to 1, so GELU = {ErfFormula}");
    static readonly Mistakes.Step ErfOnePlus = new(ErfNoOnePlus);
    static readonly Mistakes.Way ErfOfX = new("divide x by √2 inside erf: Φ(x) = 0.5·(1 + erf(x/√2)) (erf belongs to a normal with variance 1/2), not erf(x)");
    static readonly Mistakes.Way ErfTimesRoot2 = new("divide x by √2 inside erf, do not multiply: erf(x/√2), that is (x / Math.Sqrt(2)).erf()");
    static readonly Mistakes.Way ErfOverTwo = new("divide x by √2 (Math.Sqrt(2)) inside erf, not by 2: erf(x/√2)");
    static readonly Mistakes.Step ErfScaling = new(ErfOfX, ErfTimesRoot2, ErfOverTwo);
    static readonly Mistakes.Way PhiOnly = new($"GELU is x·Φ(x): you returned Φ(x) = 0.5·(1 + erf(x/√2)); multiply by x: {ErfFormula}");
    static readonly Mistakes.Step ErfTimesX = new(PhiOnly);

    /// <summary>GELU with GPT-2's tanh approximation.</summary>
    public static CheckResult Gelu(Func<Tensor, Tensor> gelu)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "gelu",
            Deterministic = true,
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
                new($"this is the exact erf GELU; GPT-2 uses the tanh approximation {TanhFormula}", CourseOps.GeluExact),
                new($"this is ReLU; GPT-2 uses GELU (tanh approximation): {TanhFormula}", x => x.relu()),
                new("this is the sigmoid approximation x·σ(1.702·x); GPT-2 uses the tanh approximation", x => x * (1.702 * x).sigmoid()),
                new($"this is SiLU (swish), x·σ(x); GPT-2 uses GELU with the tanh approximation {TanhFormula}", x => x * x.sigmoid()),
                new(ZeroHint, x => torch.zeros_like(x)),
                new("your output is 0.5·x: tanh got 0, so the constant in front of the bracket was 0. In C# a fraction of two integers, 2 / 3 or 2 / 4, is 0 (integer division): " +
                    $"the constant is Math.Sqrt(2 / Math.PI), with Math.PI a double: {TanhFormula}", x => 0.5 * x),
                new($"the bracket is x + 0.044715·x³: you left out the x, tanh(√(2/π)·0.044715·x³); {TanhFormula}",
                    x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * 0.044715 * x.pow(3)).tanh())),
                // the factor 0.5, the 1 +, the constant √(2/π), the power 3, and what √(2/π) multiplies
                .. Mistakes.Combine<Tensor>([TanhHalf, TanhOnePlus, TanhConstant, TanhCube, TanhBracket], (c, x) =>
                    {
                        var k = c.Took(RootTwoPi) ? Math.Sqrt(2 * Math.PI) : c.Took(TwoOverPi) ? 2 / Math.PI : c.Took(RootTwoOverPi) ? Math.Sqrt(2) / Math.PI : Math.Sqrt(2 / Math.PI);
                        var cube = 0.044715 * x.pow(c.Took(Square) ? 2 : 3) * (c.Took(CubeSubtracted) ? -1 : 1);
                        var t = (c.Took(ConstantOnXOnly) ? k * x + cube : k * (x + cube)).tanh();
                        return (c.Took(NoHalf) ? 1.0 : 0.5) * x * (c.Took(NoOnePlus) ? t : c.Took(OneMinus) ? 1 - t : 1 + t);
                    }),
                new($"GELU is x·Φ(x): you returned 0.5·(1 + tanh(...)), the approximation of Φ(x) alone; multiply by x: {TanhFormula}",
                    x => 0.5 * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh())),
            ],
            InputsUnchanged = true,
            Diagnose = (x, expected, got) => RoundedConstants(expected, got, "write Math.Sqrt(2 / Math.PI) and 0.044715 exactly, as doubles (not 0.7978, 3.14 for π, a dropped digit, " +
                "nor 0.044715f or (float)Math.Sqrt(...), which keep only 7 digits)"),
        }.Run();
    }

    // ---------------------------------------------------------------- exact gelu

    /// <summary>The exact GELU x·Φ(x) = 0.5·x·(1 + erf(x/√2)), the definition the tanh formula approximates.</summary>
    public static CheckResult GeluExact(Func<Tensor, Tensor> geluExact)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "gelu_exact",
            Deterministic = true,
            Reference = CourseOps.GeluExact,
            ReferenceName = "CourseOps.GeluExact",
            Learner = geluExact,
            Cases =
            [
                C("x·Φ(x) from the normal table: 0.84134475 at 1, 1.95449974 at 2, -1.26685e-04 at -4 (float64)", F64, () => T1([1, 2, -4])),
                C("random [4, 5] in about [-5, 5] (float32)", F32, () => R(23, Float32, 4, 5) * 2.5),
                C("batch [2, 3, 4] (float64)", F64, () => R(24, Float64, 2, 3, 4) * 2),
                C("wide range [-20, -10, -0.5, 0, 0.5, 10, 20] (float32)", F32, () => T1([-20, -10, -0.5, 0, 0.5, 10, 20]).to(Float32)),
            ],
            Traps =
            [
                new($"this is GPT-2's tanh approximation; here write the exact GELU with erf: {ErfFormula}", Ops.Gelu),
                new($"this is ReLU; the exact GELU is x·Φ(x) = {ErfFormula}", x => x.relu()),
                new($"this is the sigmoid approximation x·σ(1.702·x); the exact GELU uses erf: {ErfFormula}", x => x * (1.702 * x).sigmoid()),
                new(ZeroHint, x => torch.zeros_like(x)),
                new($"this is SiLU (swish), x·σ(x); the exact GELU is x·Φ(x) = {ErfFormula}", x => x * x.sigmoid()),
                new("your output is 0.5·x: erf got 0, so its argument was 0. In C# 1 / 2 is integer division (0), so Math.Sqrt(1 / 2) is 0: " +
                    $"write x / Math.Sqrt(2) (or Math.Sqrt(0.5)): {ErfFormula}", x => 0.5 * x),
                new($"erfc is the complementary error function, erfc(z) = 1 - erf(z); the GELU uses erf itself: {ErfFormula}",
                    x => 0.5 * x * (1 + (x / Math.Sqrt(2)).erfc())),
                new($"erfc is the complementary error function, erfc(z) = 1 - erf(z), so 0.5·erfc(x/√2) is 1 - Φ(x); use erf: {ErfFormula}",
                    x => 0.5 * x * (x / Math.Sqrt(2)).erfc()),
                // the factor 0.5, the 1 +, the scaling inside erf, and the x in front
                .. Mistakes.Combine<Tensor>([ErfHalf, ErfOnePlus, ErfScaling, ErfTimesX], (c, x) =>
                    {
                        var inner = c.Took(ErfOfX) ? x : c.Took(ErfTimesRoot2) ? x * Math.Sqrt(2) : c.Took(ErfOverTwo) ? x / 2 : x / Math.Sqrt(2);
                        var e = inner.erf();
                        var phi = (c.Took(ErfNoHalf) ? 1.0 : 0.5) * (c.Took(ErfNoOnePlus) ? e : 1 + e);
                        return c.Took(PhiOnly) ? phi : x * phi;
                    }),
            ],
            InputsUnchanged = true,
            Diagnose = (x, expected, got) => RoundedConstants(expected, got, "write Math.Sqrt(2), a double (not 1.41 or 1.414, nor (float)Math.Sqrt(2), which keeps only 7 digits); " +
                "or is erf itself approximated (a formula of your own)? use the tensor's x.erf(), exact to double precision"),
        }.Run();
    }

    const string ZeroHint = "your output is all zeros: in C#, 1 / 2 is integer division and gives 0; write 0.5 (or 1.0 / 2)";

    /// <summary>A hint when the output is close to the reference but not within the tolerance: a rounded constant (3.14, 0.7978, 1.41).</summary>
    static string? RoundedConstants(Tensor expected, Tensor got, string fix)
    {
        if (!expected.shape.SequenceEqual(got.shape) || expected.dtype != got.dtype || HasNonFinite(got)) return null;
        var err = (expected.to(Float64) - got.to(Float64)).abs().max().item<double>();
        return err < 1e-2
            ? $"close, but off by up to {CheckEngine.Num(err)}: is a constant rounded or mistyped? {fix}; in float64 the check allows only 1e-9"
            : null;
    }
}
