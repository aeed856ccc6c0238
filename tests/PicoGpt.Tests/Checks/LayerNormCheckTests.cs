using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 04: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class LayerNormCheckTests
{

    // ---------------------------------------------------------------- Normalize

    [Fact]
    public void Normalize_reference_passes() => Passes(Checks.Normalize(Ops.Normalize));

    [Fact]
    public void Normalize_without_eps_parameter_passes() => Passes(Checks.Normalize(x => Ops.Normalize(x)));

    [Fact]
    public void Normalize_torch_builtin_passes() =>
        Passes(Checks.Normalize(x => torch.nn.functional.layer_norm(x, [x.shape[^1]], null, null, 1e-5)));

    [Fact]
    public void Normalize_stub_is_not_implemented() => NotImplemented(Checks.Normalize((x, eps) => throw new NotImplementedException()));

    [Fact]
    public void Normalize_unbiased_std_with_eps_outside_fails_with_both_hints()
    {
        // the combination learners write most: x.std is unbiased by default, and eps lands outside the root
        var r = Checks.Normalize((x, eps) => (x - x.mean([-1], keepdim: true)) / (x.std(-1, keepdim: true) + eps));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("biased variance", r.Hint);
        Assert.Contains("eps goes inside the square root", r.Hint);
    }

    [Fact]
    public void Normalize_unbiased_var_fails() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + eps).sqrt()), "GPT-2 divides by N");

    [Fact]
    public void Normalize_biased_std_with_eps_outside_fails() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean([-1], keepdim: true)) / (x.std(-1, unbiased: false, keepdim: true) + eps)),
            "eps goes inside the square root");

    [Fact]
    public void Normalize_missing_eps_fails() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            var mean = x.mean([-1], keepdim: true);
            return (x - mean) / (x - mean).pow(2).mean([-1], keepdim: true).sqrt();
        }), "add eps = 1e-5");

    [Fact]
    public void Normalize_divided_by_variance_fails() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            var mean = x.mean([-1], keepdim: true);
            return (x - mean) / ((x - mean).pow(2).mean([-1], keepdim: true) + eps);
        }), "not by the variance");

    [Fact]
    public void Normalize_not_centred_fails() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            var variance = x.var(-1, unbiased: false, keepdim: true);
            return x / (variance + eps).sqrt();
        }), "subtract the mean before dividing");

    [Fact]
    public void Normalize_whole_tensor_statistics_fails() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean()) / (x.var(unbiased: false) + eps).sqrt()), "not over the whole tensor");

    [Fact]
    public void Normalize_first_axis_fails() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean([0], keepdim: true)) / (x.var(0, unbiased: false, keepdim: true) + eps).sqrt()), "not over the first");

    [Fact]
    public void Normalize_unbiased_and_missing_eps_fails_with_both_hints()
    {
        var r = Checks.Normalize((x, eps) => (x - x.mean([-1], keepdim: true)) / x.std(-1, keepdim: true));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("biased variance", r.Hint);
        Assert.Contains("add eps = 1e-5", r.Hint);
    }

    [Fact]
    public void Normalize_mean_without_keepdim_gets_the_keepdim_hint() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean([-1])) / (x.var(-1, unbiased: false) + eps).sqrt()), "keepdim: true");

    [Fact]
    public void Normalize_subtracting_the_max_as_in_softmax_is_diagnosed_as_not_centred() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            var shifted = x - x.amax([-1], keepdim: true);                           // the softmax habit
            return shifted / (x.var(-1, unbiased: false, keepdim: true) + eps).sqrt();
        }), "should have mean 0");

    // ---------------------------------------------------------------- LayerNorm

    [Fact]
    public void LayerNorm_reference_passes() => Passes(Checks.LayerNorm((x, g, b) => Ops.LayerNorm(x, g, b)));

    [Fact]
    public void LayerNorm_with_eps_parameter_passes() => Passes(Checks.LayerNorm(Ops.LayerNorm));

    [Fact]
    public void LayerNorm_torch_builtin_passes() =>
        Passes(Checks.LayerNorm((x, g, b) => torch.nn.functional.layer_norm(x, [x.shape[^1]], g, b, 1e-5)));

    [Fact]
    public void LayerNorm_stub_is_not_implemented() => NotImplemented(Checks.LayerNorm((x, g, b, eps) => throw new NotImplementedException()));

    [Fact]
    public void LayerNorm_unbiased_variance_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + 1e-5).sqrt() + b),
            "GPT-2 divides by N (biased variance)");

    [Fact]
    public void LayerNorm_std_builtin_unbiased_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.std(-1, keepdim: true).pow(2) + 1e-5).sqrt() + b),
            "biased variance");

    [Fact]
    public void LayerNorm_unbiased_std_with_eps_outside_fails_with_both_hints()
    {
        var r = Checks.LayerNorm((x, g, b, eps) =>
        {
            var mean = x.mean([-1], keepdim: true);
            var std = x.std(-1, keepdim: true);
            return g * (x - mean) / (std + eps) + b;
        });
        FailsWith(r, "two mistakes at once");
        Assert.Contains("GPT-2 divides by N (biased variance)", r.Hint);
        Assert.Contains("eps goes inside the square root", r.Hint);
    }

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

    [Fact]
    public void LayerNorm_swapped_gain_and_bias_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => b * Ops.Normalize(x) + g), "not b · x̂ + g");

    [Fact]
    public void LayerNorm_shift_before_scale_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (Ops.Normalize(x) + b)), "not g · (x̂ + b)");

    [Fact]
    public void LayerNorm_without_normalising_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * x + b), "normalise x before scaling and shifting");

    [Fact]
    public void LayerNorm_subtracting_the_max_is_diagnosed_after_undoing_g_and_b() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var shifted = x - x.amax([-1], keepdim: true);
            return g * shifted / (x.var(-1, unbiased: false, keepdim: true) + 1e-5).sqrt() + b;
        }), "undoing g and b from your output: each row of the result should have mean 0");

    [Fact]
    public void LayerNorm_eps_outside_and_no_gain_bias_first_gets_the_eps_hint()
    {
        // g = 1, b = 0 in the first case hide the missing g and b; the random g, b of the second case show both mistakes
        var r = Checks.LayerNorm((x, g, b) =>
        {
            var centred = x - x.mean([-1], keepdim: true);
            return centred / (centred.pow(2).mean([-1], keepdim: true).sqrt() + 1e-5);
        });
        Assert.False(r.Passed);
        FailsWith(r, "eps goes inside the square root");
    }

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void Normalize_variance_of_the_whole_tensor_fails_with_the_row_variance_hint()
    {
        var r = Checks.Normalize((Tensor x) =>
        {
            var mean = x.mean(new long[] { -1 }, keepdim: true);
            var variance = (x - mean).pow(2).mean();                                // forgot the axis in the second reduction
            return (x - mean) / (variance + 1e-5).sqrt();
        });
        FailsWith(r, "take each row's variance");
        Assert.Contains("of the result has variance", r.Hint);
    }

    [Fact]
    public void Normalize_uncentred_mean_of_squares_fails_with_the_row_variance_hint() =>
        FailsWith(Checks.Normalize((Tensor x) =>
        {
            var mean = x.mean(new long[] { -1 }, keepdim: true);
            var variance = x.pow(2).mean(new long[] { -1 }, keepdim: true);         // E[x²], not E[(x - mean)²]
            return (x - mean) / (variance + 1e-5).sqrt();
        }), "take each row's variance");

    [Fact]
    public void LayerNorm_without_the_shift_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * Ops.Normalize(x)), "missing the shift");

    [Fact]
    public void LayerNorm_without_the_scale_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => Ops.Normalize(x) + b), "missing the scale");

    // ---------------------------------------------------------------- other eps values, normalized_shape, in place

    static Tensor Norm(Tensor x, double eps)
    {
        var mean = x.mean(new long[] { -1 }, keepdim: true);
        var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true);
        return (x - mean) / (variance + eps).sqrt();
    }

    [Fact]
    public void Normalize_eps_typed_as_10e_minus_5_fails() => FailsWith(Checks.Normalize((x, eps) => Norm(x, 10e-5)), "10e-5 is 1e-4");

    [Fact]
    public void Normalize_eps_1e_minus_6_fails() => FailsWith(Checks.Normalize((x, eps) => Norm(x, 1e-6)), "your eps is 1e-6");

    [Fact]
    public void Normalize_keras_eps_fails() => FailsWith(Checks.Normalize((x, eps) => Norm(x, 1e-3)), "your eps is 0.001");

    [Fact]
    public void Normalize_root_of_eps_added_to_the_std_fails() =>
        FailsWith(Checks.Normalize((x, eps) => (x - x.mean(new long[] { -1 }, keepdim: true)) / (x.std(-1, unbiased: false, keepdim: true) + Math.Sqrt(eps))),
            "not sqrt(variance) + sqrt(eps)");

    [Fact]
    public void Normalize_with_rsqrt_and_var_mean_passes() =>
        Passes(Checks.Normalize((x, eps) => { var (variance, mean) = torch.var_mean(x, -1, unbiased: false, keepdim: true); return (x - mean) * (variance + eps).rsqrt(); }));

    [Fact]
    public void Normalize_in_place_fails() =>
        FailsWith(Checks.Normalize((x, eps) => { x.sub_(x.mean(new long[] { -1 }, keepdim: true)); return x.div_((x.pow(2).mean(new long[] { -1 }, keepdim: true) + eps).sqrt()); }),
            "ops ending in _");

    [Fact]
    public void LayerNorm_eps_1e_minus_6_fails() => FailsWith(Checks.LayerNorm((x, g, b, eps) => g * Norm(x, 1e-6) + b), "use the eps argument (1e-5)");

    [Fact]
    public void LayerNorm_builtin_over_every_axis_gets_the_normalized_shape_hint() =>
        FailsWith(Checks.LayerNorm((x, g, b, eps) => torch.nn.functional.layer_norm(x, x.shape, g, b, eps)), "normalized_shape");

    [Fact]
    public void LayerNorm_unsqueezed_gain_gets_the_broadcast_hint() =>
        FailsWith(Checks.LayerNorm((x, g, b, eps) => g.unsqueeze(1) * Norm(x, eps) + b), "no unsqueeze");

    [Fact]
    public void LayerNorm_gain_multiplied_in_place_gets_the_in_place_hint() =>
        FailsWith(Checks.LayerNorm((x, g, b, eps) => g.mul_(Norm(x, eps)).add_(b)), "writes its result into the tensor it is called on");

    [Fact]
    public void Normalize_with_an_extra_axis_gets_the_shape_hint_not_the_centring_hint() =>
        FailsWith(Checks.Normalize((x, eps) => Norm(x, eps).unsqueeze(-1)), "axis of length 1 too many");

    [Fact]
    public void Normalize_square_written_with_the_xor_operator_gets_a_hint() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            var mean = x.mean(new long[] { -1 }, keepdim: true);
            return (x - mean) / (((x - mean) ^ 2).mean(new long[] { -1 }, keepdim: true) + eps).sqrt();
        }), "t.pow(2) for a square");
}
