using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 04: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class LayerNormCheckTests
{
    [Fact]
    public void LayerNorm_reference_passes() => Passes(Checks.LayerNorm((x, g, b) => Ops.LayerNorm(x, g, b)));

    [Fact]
    public void LayerNorm_with_eps_parameter_passes() => Passes(Checks.LayerNorm(Ops.LayerNorm));

    [Fact]
    public void LayerNorm_torch_builtin_passes() =>
        Passes(Checks.LayerNorm((x, g, b) => torch.nn.functional.layer_norm(x, [x.shape[^1]], g, b, 1e-5)));

    [Fact]
    public void LayerNorm_unbiased_variance_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + 1e-5).sqrt() + b),
            "GPT-2 divides by N (biased variance)");

    [Fact]
    public void LayerNorm_std_builtin_unbiased_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.std(-1, keepdim: true).pow(2) + 1e-5).sqrt() + b),
            "biased variance");

    [Fact]
    public void LayerNorm_missing_eps_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            var variance = (x - mean).pow(2).mean([-1], keepdim: true);
            return g * (x - mean) / variance.sqrt() + b;
        }), "add eps = 1e-5 to the variance inside the square root");

    [Fact]
    public void LayerNorm_eps_outside_sqrt_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            var std = (x - mean).pow(2).mean([-1], keepdim: true).sqrt();
            return g * (x - mean) / (std + 1e-5) + b;
        }), "eps goes inside the square root");

    [Fact]
    public void LayerNorm_ignoring_gain_and_bias_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            return (x - mean) / ((x - mean).pow(2).mean([-1], keepdim: true) + 1e-5).sqrt();
        }), "scale by g and shift by b");
}
