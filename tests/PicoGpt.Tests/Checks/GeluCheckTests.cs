using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 03: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class GeluCheckTests
{
    [Fact]
    public void Gelu_reference_passes() => Passes(Checks.Gelu(Ops.Gelu));

    [Fact]
    public void Gelu_torch_builtin_tanh_passes() =>
        Passes(Checks.Gelu(x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false)));

    [Fact]
    public void Gelu_exact_erf_fails() =>
        FailsWith(Checks.Gelu(x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0)))), "this is the exact erf GELU; GPT-2 uses the tanh approximation");

    [Fact]
    public void Gelu_builtin_erf_fails() =>
        FailsWith(Checks.Gelu(x => torch.nn.functional.gelu(x)), "exact erf GELU");

    [Fact]
    public void Gelu_relu_fails() => FailsWith(Checks.Gelu(x => torch.nn.functional.relu(x)), "this is ReLU");

    [Fact]
    public void Gelu_sigmoid_approximation_fails() => FailsWith(Checks.Gelu(x => x * torch.sigmoid(1.702 * x)), "sigmoid approximation");

    [Fact]
    public void Gelu_missing_half_fails() =>
        FailsWith(Checks.Gelu(x => x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))), "factor 0.5");
}
