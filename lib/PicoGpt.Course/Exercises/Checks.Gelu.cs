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
                new($"this is the exact erf GELU; GPT-2 uses the tanh approximation {TanhFormula}", CourseOps.GeluExact),
                new($"this is ReLU; GPT-2 uses GELU (tanh approximation): {TanhFormula}", x => x.relu()),
                new("this is the sigmoid approximation x·σ(1.702·x); GPT-2 uses the tanh approximation", x => x * (1.702 * x).sigmoid()),
                new($"this is SiLU (swish), x·σ(x); GPT-2 uses GELU with the tanh approximation {TanhFormula}", x => x * x.sigmoid()),
                new(ZeroHint, x => torch.zeros_like(x)),
                // the factor 0.5, the 1 +, the constant √(2/π), the power 3, and what √(2/π) multiplies
                .. Mistakes.Combine<Tensor>(
                    [
                        new("missing the factor 0.5 in front: 0.5·x·(1 + tanh(...))"),
                        new("missing the 1 + before tanh: 0.5·x·(1 + tanh(...)), which runs from 0 to x, not from -x to x",
                            "it is 1 + tanh(...), not 1 - tanh(...): 0.5·(1 + tanh(...)) approximates Φ(x), the probability below x, which rises from 0 to 1"),
                        new("the constant is √(2/π) ≈ 0.7979 (Math.Sqrt(2 / Math.PI)), not √(2π) ≈ 2.5066",
                            "the constant is the square root √(2/π) ≈ 0.7979 (Math.Sqrt(2 / Math.PI)), not 2/π ≈ 0.6366",
                            "the constant is √(2/π) ≈ 0.7979, the root of the whole fraction (Math.Sqrt(2 / Math.PI)), not √2/π ≈ 0.4502 (Math.Sqrt(2) / Math.PI)"),
                        new("the cubic term is 0.044715·x³ (x to the power 3, x.pow(3))",
                            "the cubic term is added: x + 0.044715·x³, not x - 0.044715·x³"),
                        new("√(2/π) multiplies the whole bracket: tanh(√(2/π)·(x + 0.044715·x³)), not √(2/π)·x + 0.044715·x³"),
                    ],
                    (c, x) =>
                    {
                        var k = c[2] switch { 0 => Math.Sqrt(2 / Math.PI), 1 => Math.Sqrt(2 * Math.PI), 2 => 2 / Math.PI, _ => Math.Sqrt(2) / Math.PI };
                        var cube = 0.044715 * x.pow(c[3] == 1 ? 2 : 3) * (c[3] == 2 ? -1 : 1);
                        var t = (c[4] == 0 ? k * (x + cube) : k * x + cube).tanh();
                        return (c[0] == 0 ? 0.5 : 1.0) * x * (c[1] switch { 0 => 1 + t, 1 => t, _ => 1 - t });
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
                .. Mistakes.Combine<Tensor>(
                    [
                        new($"missing the factor 0.5 in front: Φ(x) = 0.5·(1 + erf(x/√2)), so GELU = {ErfFormula}"),
                        new($"missing the 1 + before erf: Φ(x) = 0.5·(1 + erf(x/√2)) runs from 0 to 1, so GELU = {ErfFormula}"),
                        new("divide x by √2 inside erf: Φ(x) = 0.5·(1 + erf(x/√2)) (erf belongs to a normal with variance 1/2), not erf(x)",
                            "divide x by √2 inside erf, do not multiply: erf(x/√2), that is (x / Math.Sqrt(2)).erf()",
                            "divide x by √2 (Math.Sqrt(2)) inside erf, not by 2: erf(x/√2)"),
                        new($"GELU is x·Φ(x): you returned Φ(x) = 0.5·(1 + erf(x/√2)); multiply by x: {ErfFormula}"),
                    ],
                    (c, x) =>
                    {
                        var inner = c[2] switch { 0 => x / Math.Sqrt(2), 1 => x, 2 => x * Math.Sqrt(2), _ => x / 2 };
                        var e = inner.erf();
                        var phi = (c[0] == 0 ? 0.5 : 1.0) * (c[1] == 0 ? 1 + e : e);
                        return c[3] == 0 ? x * phi : phi;
                    }),
            ],
            InputsUnchanged = true,
            Diagnose = (x, expected, got) => RoundedConstants(expected, got, "write Math.Sqrt(2), a double (not 1.41 or 1.414, nor (float)Math.Sqrt(2), which keeps only 7 digits)"),
        }.Run();
    }

    const string ZeroHint = "your output is all zeros: in C#, 1 / 2 is integer division and gives 0; write 0.5 (or 1.0 / 2)";

    /// <summary>A hint when the output is close to the reference but not within the tolerance: a rounded constant (3.14, 0.7978, 1.41).</summary>
    static string? RoundedConstants(Tensor expected, Tensor got, string fix)
    {
        if (!expected.shape.SequenceEqual(got.shape) || expected.dtype != got.dtype || HasNonFinite(got)) return null;
        var err = (expected.to(Float64) - got.to(Float64)).abs().max().item<double>();
        return err < 1e-2
            ? $"close, but off by up to {CheckEngine<Tensor>.Num(err)}: is a constant rounded or mistyped? {fix}; in float64 the check allows only 1e-9"
            : null;
    }
}
