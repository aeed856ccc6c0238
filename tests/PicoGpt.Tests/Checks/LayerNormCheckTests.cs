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

    /// <summary>Right answers to Normalize: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>> NormalizeRightAnswers1Args => new()
    {
        { "Normalize_without_eps_parameter_passes", x => Ops.Normalize(x) },
        { "Normalize_torch_builtin_passes", x => torch.nn.functional.layer_norm(x, [x.shape[^1]], null, null, 1e-5) },
    };

    [Theory, MemberData(nameof(NormalizeRightAnswers1Args))]
    public void Normalize1Args_right_answer_passes(string answer, Func<Tensor, Tensor> right) => Passes(Checks.Normalize(right), answer);

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

    /// <summary>Wrong answers to Normalize, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, double, Tensor>, string> NormalizeMistakes2Args => new()
    {
        { "Normalize_unbiased_var_fails", (x, eps) => (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + eps).sqrt(), "GPT-2 divides by N" },
        { "Normalize_biased_std_with_eps_outside_fails", (x, eps) => (x - x.mean([-1], keepdim: true)) / (x.std(-1, unbiased: false, keepdim: true) + eps), "eps goes inside the square root" },
        { "Normalize_missing_eps_fails", (x, eps) =>
            {
                var mean = x.mean([-1], keepdim: true);
                return (x - mean) / (x - mean).pow(2).mean([-1], keepdim: true).sqrt();
            }, "add eps = 1e-5" },
        { "Normalize_divided_by_variance_fails", (x, eps) =>
            {
                var mean = x.mean([-1], keepdim: true);
                return (x - mean) / ((x - mean).pow(2).mean([-1], keepdim: true) + eps);
            }, "not by the variance" },
        { "Normalize_not_centred_fails", (x, eps) =>
            {
                var variance = x.var(-1, unbiased: false, keepdim: true);
                return x / (variance + eps).sqrt();
            }, "subtract the mean before dividing" },
        { "Normalize_whole_tensor_statistics_fails", (x, eps) => (x - x.mean()) / (x.var(unbiased: false) + eps).sqrt(), "not over the whole tensor" },
        { "Normalize_first_axis_fails", (x, eps) => (x - x.mean([0], keepdim: true)) / (x.var(0, unbiased: false, keepdim: true) + eps).sqrt(), "not over the first" },
        { "Normalize_mean_without_keepdim_gets_the_keepdim_hint", (x, eps) => (x - x.mean([-1])) / (x.var(-1, unbiased: false) + eps).sqrt(), "keepdim: true" },
        { "Normalize_subtracting_the_max_as_in_softmax_is_diagnosed_as_not_centred", (x, eps) =>
            {
                var shifted = x - x.amax([-1], keepdim: true);                           // the softmax habit
                return shifted / (x.var(-1, unbiased: false, keepdim: true) + eps).sqrt();
            }, "should have mean 0" },
        { "Normalize_eps_typed_as_10e_minus_5_fails", (x, eps) => Norm(x, 10e-5), "10e-5 is 1e-4" },
        { "Normalize_eps_1e_minus_6_fails", (x, eps) => Norm(x, 1e-6), "your eps is 1e-6" },
        { "Normalize_keras_eps_fails", (x, eps) => Norm(x, 1e-3), "your eps is 0.001" },
        { "Normalize_root_of_eps_added_to_the_std_fails", (x, eps) => (x - x.mean(new long[] { -1 }, keepdim: true)) / (x.std(-1, unbiased: false, keepdim: true) + Math.Sqrt(eps)), "not sqrt(variance) + sqrt(eps)" },
        { "Normalize_in_place_fails", (x, eps) => { x.sub_(x.mean(new long[] { -1 }, keepdim: true)); return x.div_((x.pow(2).mean(new long[] { -1 }, keepdim: true) + eps).sqrt()); }, "ops ending in _" },
        { "Normalize_with_an_extra_axis_gets_the_shape_hint_not_the_centring_hint", (x, eps) => Norm(x, eps).unsqueeze(-1), "axis of length 1 too many" },
        { "Normalize_square_written_with_the_xor_operator_gets_a_hint", (x, eps) =>
            {
                var mean = x.mean(new long[] { -1 }, keepdim: true);
                return (x - mean) / (((x - mean) ^ 2).mean(new long[] { -1 }, keepdim: true) + eps).sqrt();
            }, "t.pow(2) for a square" },
    };

    [Theory, MemberData(nameof(NormalizeMistakes2Args))]
    public void Normalize2Args_mistake_fails_with_its_hint(string mistake, Func<Tensor, double, Tensor> wrong, string hint) => FailsWith(Checks.Normalize(wrong), hint, mistake);

    [Fact]
    public void Normalize_unbiased_and_missing_eps_fails_with_both_hints()
    {
        var r = Checks.Normalize((x, eps) => (x - x.mean([-1], keepdim: true)) / x.std(-1, keepdim: true));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("biased variance", r.Hint);
        Assert.Contains("add eps = 1e-5", r.Hint);
    }

    // ---------------------------------------------------------------- LayerNorm

    /// <summary>Right answers to LayerNorm: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>> LayerNormRightAnswers => new()
    {
        { "LayerNorm_reference_passes", (x, g, b) => Ops.LayerNorm(x, g, b) },
        { "LayerNorm_torch_builtin_passes", (x, g, b) => torch.nn.functional.layer_norm(x, [x.shape[^1]], g, b, 1e-5) },
    };

    [Theory, MemberData(nameof(LayerNormRightAnswers))]
    public void LayerNorm_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor, Tensor> right) => Passes(Checks.LayerNorm(right), answer);

    [Fact]
    public void LayerNorm_with_eps_parameter_passes() => Passes(Checks.LayerNorm(Ops.LayerNorm));

    [Fact]
    public void LayerNorm_stub_is_not_implemented() => NotImplemented(Checks.LayerNorm((x, g, b, eps) => throw new NotImplementedException()));

    /// <summary>Wrong answers to LayerNorm, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>, string> LayerNormMistakes3Args => new()
    {
        { "LayerNorm_unbiased_variance_fails", (x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + 1e-5).sqrt() + b, "GPT-2 divides by N (biased variance)" },
        { "LayerNorm_std_builtin_unbiased_fails", (x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.std(-1, keepdim: true).pow(2) + 1e-5).sqrt() + b, "biased variance" },
        { "LayerNorm_missing_eps_fails", (x, g, b) =>
            {
                var mean = x.mean([-1], keepdim: true);
                var variance = (x - mean).pow(2).mean([-1], keepdim: true);
                return g * (x - mean) / variance.sqrt() + b;
            }, "add eps = 1e-5 to the variance inside the square root" },
        { "LayerNorm_eps_outside_sqrt_fails", (x, g, b) =>
            {
                var mean = x.mean([-1], keepdim: true);
                var std = (x - mean).pow(2).mean([-1], keepdim: true).sqrt();
                return g * (x - mean) / (std + 1e-5) + b;
            }, "eps goes inside the square root" },
        { "LayerNorm_ignoring_gain_and_bias_fails", (x, g, b) =>
            {
                var mean = x.mean([-1], keepdim: true);
                return (x - mean) / ((x - mean).pow(2).mean([-1], keepdim: true) + 1e-5).sqrt();
            }, "scale by g and shift by b" },
        { "LayerNorm_swapped_gain_and_bias_fails", (x, g, b) => b * Ops.Normalize(x) + g, "not b · x̂ + g" },
        { "LayerNorm_shift_before_scale_fails", (x, g, b) => g * (Ops.Normalize(x) + b), "not g · (x̂ + b)" },
        { "LayerNorm_without_normalising_fails", (x, g, b) => g * x + b, "normalise x before scaling and shifting" },
        { "LayerNorm_subtracting_the_max_is_diagnosed_after_undoing_g_and_b", (x, g, b) =>
            {
                var shifted = x - x.amax([-1], keepdim: true);
                return g * shifted / (x.var(-1, unbiased: false, keepdim: true) + 1e-5).sqrt() + b;
            }, "undoing g and b from your output: each row of the result should have mean 0" },
        { "LayerNorm_without_the_shift_fails", (x, g, b) => g * Ops.Normalize(x), "missing the shift" },
        { "LayerNorm_without_the_scale_fails", (x, g, b) => Ops.Normalize(x) + b, "missing the scale" },
    };

    [Theory, MemberData(nameof(LayerNormMistakes3Args))]
    public void LayerNorm3Args_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.LayerNorm(wrong), hint, mistake);

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

    // ---------------------------------------------------------------- other eps values, normalized_shape, in place

    static Tensor Norm(Tensor x, double eps)
    {
        var mean = x.mean(new long[] { -1 }, keepdim: true);
        var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true);
        return (x - mean) / (variance + eps).sqrt();
    }

    [Fact]
    public void Normalize_with_rsqrt_and_var_mean_passes() =>
        Passes(Checks.Normalize((x, eps) => { var (variance, mean) = torch.var_mean(x, -1, unbiased: false, keepdim: true); return (x - mean) * (variance + eps).rsqrt(); }));

    /// <summary>Wrong answers to LayerNorm, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, double, Tensor>, string> LayerNormMistakes4Args => new()
    {
        { "LayerNorm_eps_1e_minus_6_fails", (x, g, b, eps) => g * Norm(x, 1e-6) + b, "use the eps argument (1e-5)" },
        { "LayerNorm_builtin_over_every_axis_gets_the_normalized_shape_hint", (x, g, b, eps) => torch.nn.functional.layer_norm(x, x.shape, g, b, eps), "normalized_shape" },
        { "LayerNorm_unsqueezed_gain_gets_the_broadcast_hint", (x, g, b, eps) => g.unsqueeze(1) * Norm(x, eps) + b, "no unsqueeze" },
        { "LayerNorm_gain_multiplied_in_place_gets_the_in_place_hint", (x, g, b, eps) => g.mul_(Norm(x, eps)).add_(b), "writes its result into the tensor it is called on" },
    };

    [Theory, MemberData(nameof(LayerNormMistakes4Args))]
    public void LayerNorm4Args_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, double, Tensor> wrong, string hint) => FailsWith(Checks.LayerNorm(wrong), hint, mistake);

}
