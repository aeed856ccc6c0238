using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/03-gelu.ipynb.
public static partial class Checks
{
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
}
