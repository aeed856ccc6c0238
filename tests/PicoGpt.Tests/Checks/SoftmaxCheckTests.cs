using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 02: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class SoftmaxCheckTests
{

    // ---------------------------------------------------------------- Softmax

    [Fact]
    public void Softmax_reference_passes() => Passes(Checks.Softmax(Ops.Softmax));

    [Fact]
    public void Softmax_torch_builtin_passes() => Passes(Checks.Softmax(x => torch.nn.functional.softmax(x, -1)));

    [Fact]
    public void Softmax_stub_is_not_implemented() => NotImplemented(Checks.Softmax(x => throw new NotImplementedException()));

    [Fact]
    public void Softmax_naive_exp_fails_on_large_logits()
    {
        var r = Checks.Softmax(x => x.exp() / x.exp().sum(-1, keepdim: true));
        FailsWith(r, "subtract the max first");
        Assert.Contains("large logits", r.Message);
        Assert.Contains("NaN", r.Message);
    }

    [Fact]
    public void Softmax_wrong_axis_fails() => FailsWith(Checks.Softmax(x => x.softmax(0)), "wrong axis");

    [Fact]
    public void Softmax_over_dim_1_fails_on_a_batch() =>
        FailsWith(Checks.Softmax(x => torch.nn.functional.softmax(x, 1)), "wrong axis");    // right for [n, m], wrong for [b, n, m]

    [Fact]
    public void Softmax_global_max_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.max()).exp(); return e / e.sum(-1, keepdim: true); }), "each row's max");

    [Fact]
    public void Softmax_sum_without_keepdim_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(-1); }), "sum with keepdim: true");

    [Fact]
    public void Softmax_whole_tensor_sum_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(); }), "not by the sum of the whole tensor");

    [Fact]
    public void Softmax_max_without_keepdim_fails() =>
        FailsWith(Checks.Softmax(x => { var shifted = x - x.amax(new long[] { -1 }); return shifted.exp() / shifted.exp().sum(-1, keepdim: true); }),
            "take the row max with keepdim: true");

    [Fact]
    public void Softmax_global_max_and_sum_without_keepdim_fails_with_both_hints()
    {
        var r = Checks.Softmax(x =>
        {
            var max = torch.max(x);                        // the max of the whole tensor
            var e = torch.exp(x - max);
            return e / e.sum(-1);                          // no keepdim
        });
        FailsWith(r, "two mistakes at once");
        Assert.Contains("not the max of the whole tensor", r.Hint);
        Assert.Contains("sum with keepdim: true", r.Hint);
    }

    [Fact]
    public void Softmax_naive_and_sum_without_keepdim_fails_with_both_hints()
    {
        var r = Checks.Softmax(x => x.exp() / x.exp().sum(-1));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("subtract the max first", r.Hint);
        Assert.Contains("sum with keepdim: true", r.Hint);
    }

    [Fact]
    public void Softmax_naive_and_whole_tensor_sum_fails_with_both_hints()
    {
        var r = Checks.Softmax(x => torch.exp(x) / torch.exp(x).sum());
        FailsWith(r, "two mistakes at once");
        Assert.Contains("subtract the max first", r.Hint);
        Assert.Contains("not by the sum of the whole tensor", r.Hint);
    }

    [Fact]
    public void Softmax_shape_error_from_a_missing_keepdim_gets_the_keepdim_hint()
    {
        // a learner who tested on square inputs only: on [3, 4, 5] the row sums [3, 4] do not broadcast against x
        var r = Checks.Softmax(x =>
        {
            var e = (x - x.amax([-1], keepdim: true)).exp();
            return x.shape[^1] == x.shape[0] ? e / e.sum(-1, keepdim: true) : e / e.sum(-1);
        });
        FailsWith(r, "keepdim: true");
        Assert.Contains("threw", r.Message);
    }

    // ---------------------------------------------------------------- LogSoftmax

    [Fact]
    public void LogSoftmax_reference_passes() => Passes(Checks.LogSoftmax(CourseOps.LogSoftmax));

    [Fact]
    public void LogSoftmax_torch_builtin_passes() => Passes(Checks.LogSoftmax(x => torch.nn.functional.log_softmax(x, -1)));

    [Fact]
    public void LogSoftmax_stub_is_not_implemented() => NotImplemented(Checks.LogSoftmax(x => throw new NotImplementedException()));

    [Fact]
    public void LogSoftmax_published_values_are_right()
    {
        var got = CourseOps.LogSoftmax(torch.tensor(new double[] { 1, 2, 3 })).data<double>().ToArray();
        Assert.Equal(new[] { -2.40760596444438, -1.40760596444438, -0.40760596444438 }, got, (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void LogSoftmax_log_of_stable_softmax_fails_for_a_large_gap()
    {
        var r = Checks.LogSoftmax(x => Ops.Softmax(x).log());
        FailsWith(r, "log(softmax(x)) is not stable");
        Assert.Contains("large gap", r.Message);
    }

    [Fact]
    public void LogSoftmax_naive_log_of_naive_softmax_fails_with_both_hints()
    {
        var r = Checks.LogSoftmax(x => (x.exp() / x.exp().sum(-1, keepdim: true)).log());
        FailsWith(r, "two mistakes at once");
        Assert.Contains("exp overflows", r.Hint);
        Assert.Contains("log(softmax(x)) is not stable", r.Hint);
    }

    [Fact]
    public void LogSoftmax_logsumexp_without_max_fails() =>
        FailsWith(Checks.LogSoftmax(x => x - x.exp().sum(-1, keepdim: true).log()), "exp overflows");

    [Fact]
    public void LogSoftmax_max_not_added_back_fails() =>
        FailsWith(Checks.LogSoftmax(x =>
        {
            var m = x.amax([-1], keepdim: true);
            var lse = (x - m).exp().sum(-1, keepdim: true).log();       // forgot "m +"
            return x - lse;
        }), "add the max back");

    [Fact]
    public void LogSoftmax_plus_instead_of_minus_fails() =>
        FailsWith(Checks.LogSoftmax(x =>
        {
            var s = x - x.amax([-1], keepdim: true);
            return s + torch.log(torch.exp(s).sum(-1, keepdim: true));
        }), "subtract the log-sum-exp, do not add it");

    [Fact]
    public void LogSoftmax_mean_instead_of_sum_fails() =>
        FailsWith(Checks.LogSoftmax(x =>
        {
            var s = x - x.amax([-1], keepdim: true);
            return s - s.exp().mean([-1], keepdim: true).log();
        }), "not of the mean");

    [Fact]
    public void LogSoftmax_global_max_fails() =>
        FailsWith(Checks.LogSoftmax(x => { var s = x - x.max(); return s - s.exp().sum(-1, keepdim: true).log(); }), "not the max of the whole tensor");

    [Fact]
    public void LogSoftmax_returning_probabilities_fails() =>
        FailsWith(Checks.LogSoftmax(x => torch.nn.functional.softmax(x, -1)), "you returned the probabilities");

    [Fact]
    public void LogSoftmax_wrong_axis_fails() =>
        FailsWith(Checks.LogSoftmax(x => torch.nn.functional.log_softmax(x, 0)), "wrong axis");

    [Fact]
    public void LogSoftmax_sum_without_keepdim_gets_the_keepdim_hint() =>
        FailsWith(Checks.LogSoftmax(x => { var s = x - x.amax([-1], keepdim: true); return s - s.exp().sum(-1).log(); }), "keepdim: true");

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void Softmax_max_subtracted_in_the_numerator_only_fails() =>
        FailsWith(Checks.Softmax(x =>
        {
            var m = x.amax(new long[] { -1 }, keepdim: true);
            return (x - m).exp() / x.exp().sum(-1, keepdim: true);
        }), "subtract the max in the denominator too");

    [Fact]
    public void Softmax_mean_instead_of_max_fails_on_a_widely_spread_row()
    {
        var r = Checks.Softmax(x =>
        {
            var e = (x - x.mean(new long[] { -1 }, keepdim: true)).exp();           // invariant too, but not safe
            return e / e.sum(-1, keepdim: true);
        });
        FailsWith(r, "not its mean");
        Assert.Contains("widely spread row", r.Message);
    }

    [Fact]
    public void Softmax_max_over_the_first_axis_fails() =>
        FailsWith(Checks.Softmax(x =>
        {
            var e = (x - x.amax(new long[] { 0 }, keepdim: true)).exp();
            return e / e.sum(-1, keepdim: true);
        }), "over axis 0 you took the max of each column");

    [Fact]
    public void Softmax_sum_over_the_first_axis_fails() =>
        FailsWith(Checks.Softmax(x =>
        {
            var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp();
            return e / e.sum(0, keepdim: true);
        }), "over axis 0 you summed each column");

    [Fact]
    public void LogSoftmax_x_minus_logsumexp_passes() =>
        Passes(Checks.LogSoftmax(x => x - torch.logsumexp(x, -1, keepdim: true)));   // float32 rounds m + log Σ near 1000 to 6e-5 steps

    [Fact]
    public void LogSoftmax_max_added_back_inside_the_bracket_passes() =>
        Passes(Checks.LogSoftmax(x =>
        {
            var m = x.amax(new long[] { -1 }, keepdim: true);
            return x - (m + (x - m).exp().sum(-1, keepdim: true).log());
        }));

    [Fact]
    public void LogSoftmax_sum_not_shifted_fails() =>
        FailsWith(Checks.LogSoftmax(x =>
        {
            var m = x.amax(new long[] { -1 }, keepdim: true);
            return x - m - x.exp().sum(-1, keepdim: true).log();
        }), "shift the sum too");

    [Fact]
    public void LogSoftmax_log10_fails() =>
        FailsWith(Checks.LogSoftmax(x =>
        {
            var m = x.amax(new long[] { -1 }, keepdim: true);
            return x - m - (x - m).exp().sum(-1, keepdim: true).log10();
        }), "not log10");

    [Fact]
    public void LogSoftmax_mean_instead_of_max_fails_on_a_widely_spread_row()
    {
        var r = Checks.LogSoftmax(x =>
        {
            var m = x.mean(new long[] { -1 }, keepdim: true);
            return x - m - (x - m).exp().sum(-1, keepdim: true).log();
        });
        FailsWith(r, "not its mean");
        Assert.Contains("widely spread row", r.Message);
    }

    // ---------------------------------------------------------------- other correct answers, min for max, in place, dtype

    [Fact]
    public void Softmax_via_logsumexp_passes() => Passes(Checks.Softmax(x => (x - x.logsumexp(-1, keepdim: true)).exp()));

    [Fact]
    public void Softmax_exp_of_log_softmax_passes() => Passes(Checks.Softmax(x => x.log_softmax(-1).exp()));

    [Fact]
    public void Softmax_min_instead_of_max_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amin(new long[] { -1 }, keepdim: true)).exp(); return e / e.sum(-1, keepdim: true); }), "not its min (amin)");

    [Fact]
    public void Softmax_in_place_fails_although_the_values_are_right()
    {
        var r = Checks.Softmax(x => { x.sub_(x.amax(new long[] { -1 }, keepdim: true)).exp_(); return x.div_(x.sum(-1, keepdim: true)); });
        FailsWith(r, "ops ending in _");
        Assert.Contains("your output is right, but your function changed its input in place", r.Message);
    }

    [Fact]
    public void Softmax_in_float64_gets_the_dtype_hint_not_a_trap() =>
        FailsWith(Checks.Softmax(x => torch.nn.functional.softmax(x.to(ScalarType.Float64), -1)), "the result must keep the inputs' dtype (float32), yours is float64");

    [Fact]
    public void LogSoftmax_in_place_fails() =>
        FailsWith(Checks.LogSoftmax(x => { x.sub_(x.amax(new long[] { -1 }, keepdim: true)); return x.sub_(x.exp().sum(-1, keepdim: true).log()); }), "ops ending in _");

    [Fact]
    public void LogSoftmax_in_float64_gets_the_dtype_hint_not_a_trap() =>
        FailsWith(Checks.LogSoftmax(x => x.to(ScalarType.Float64).log_softmax(-1)), "yours is float64");

    [Fact]
    public void LogSoftmax_negated_fails() =>
        FailsWith(Checks.LogSoftmax(x => x.logsumexp(-1, keepdim: true) - x), "negative log-likelihood");

    [Fact]
    public void Softmax_divided_by_sum_of_literal_zero_gets_the_dtype_trap_hint()
    {
        // C# binds e.sum(0) to sum(ScalarType type) with ScalarType.Byte: the whole tensor summed into a byte
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp(); return e / e.sum(0); }), "e.sum(0) is e.sum(ScalarType.Byte)");
        FailsWith(Checks.Softmax(x => x.exp() / x.exp().sum(0)), "e.sum(0) is e.sum(ScalarType.Byte)");
    }
}
