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

    /// <summary>Right answers to Softmax: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>> SoftmaxRightAnswers => new()
    {
        { "Softmax_reference_passes", Ops.Softmax },
        { "Softmax_torch_builtin_passes", x => torch.nn.functional.softmax(x, -1) },
        { "Softmax_via_logsumexp_passes", x => (x - x.logsumexp(-1, keepdim: true)).exp() },
        { "Softmax_exp_of_log_softmax_passes", x => x.log_softmax(-1).exp() },
    };

    [Theory, MemberData(nameof(SoftmaxRightAnswers))]
    public void Softmax_right_answer_passes(string answer, Func<Tensor, Tensor> right) => Passes(Checks.Softmax(right), answer);

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

    /// <summary>Wrong answers to Softmax, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>, string> SoftmaxMistakes => new()
    {
        { "Softmax_wrong_axis_fails", x => x.softmax(0), "wrong axis" },
        { "Softmax_over_dim_1_fails_on_a_batch", x => torch.nn.functional.softmax(x, 1), "wrong axis" }, // right for [n, m], wrong for [b, n, m]
        { "Softmax_global_max_fails", x => { var e = (x - x.max()).exp(); return e / e.sum(-1, keepdim: true); }, "each row's max" },
        { "Softmax_sum_without_keepdim_fails", x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(-1); }, "sum with keepdim: true" },
        { "Softmax_whole_tensor_sum_fails", x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(); }, "not by the sum of the whole tensor" },
        { "Softmax_max_without_keepdim_fails", x => { var shifted = x - x.amax(new long[] { -1 }); return shifted.exp() / shifted.exp().sum(-1, keepdim: true); }, "take the row max with keepdim: true" },
        { "Softmax_max_subtracted_in_the_numerator_only_fails", x =>
            {
                var m = x.amax(new long[] { -1 }, keepdim: true);
                return (x - m).exp() / x.exp().sum(-1, keepdim: true);
            }, "subtract the max in the denominator too" },
        { "Softmax_max_over_the_first_axis_fails", x =>
            {
                var e = (x - x.amax(new long[] { 0 }, keepdim: true)).exp();
                return e / e.sum(-1, keepdim: true);
            }, "over axis 0 you took the max of each column" },
        { "Softmax_sum_over_the_first_axis_fails", x =>
            {
                var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp();
                return e / e.sum(0, keepdim: true);
            }, "over axis 0 you summed each column" },
        { "Softmax_min_instead_of_max_fails", x => { var e = (x - x.amin(new long[] { -1 }, keepdim: true)).exp(); return e / e.sum(-1, keepdim: true); }, "not its min (amin)" },
        { "Softmax_in_float64_gets_the_dtype_hint_not_a_trap", x => torch.nn.functional.softmax(x.to(ScalarType.Float64), -1), "the result must keep the inputs' dtype (float32), yours is float64" },
    };

    [Theory, MemberData(nameof(SoftmaxMistakes))]
    public void Softmax_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor> wrong, string hint) => FailsWith(Checks.Softmax(wrong), hint, mistake);

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

    /// <summary>Right answers to LogSoftmax: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>> LogSoftmaxRightAnswers => new()
    {
        { "LogSoftmax_reference_passes", CourseOps.LogSoftmax },
        { "LogSoftmax_torch_builtin_passes", x => torch.nn.functional.log_softmax(x, -1) },
        { "LogSoftmax_x_minus_logsumexp_passes", x => x - torch.logsumexp(x, -1, keepdim: true) }, // float32 rounds m + log Σ near 1000 to 6e-5 steps
        { "LogSoftmax_max_added_back_inside_the_bracket_passes", x =>
            {
                var m = x.amax(new long[] { -1 }, keepdim: true);
                return x - (m + (x - m).exp().sum(-1, keepdim: true).log());
            } },
    };

    [Theory, MemberData(nameof(LogSoftmaxRightAnswers))]
    public void LogSoftmax_right_answer_passes(string answer, Func<Tensor, Tensor> right) => Passes(Checks.LogSoftmax(right), answer);

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

    /// <summary>Wrong answers to LogSoftmax, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>, string> LogSoftmaxMistakes => new()
    {
        { "LogSoftmax_logsumexp_without_max_fails", x => x - x.exp().sum(-1, keepdim: true).log(), "exp overflows" },
        { "LogSoftmax_max_not_added_back_fails", x =>
            {
                var m = x.amax([-1], keepdim: true);
                var lse = (x - m).exp().sum(-1, keepdim: true).log();       // forgot "m +"
                return x - lse;
            }, "add the max back" },
        { "LogSoftmax_plus_instead_of_minus_fails", x =>
            {
                var s = x - x.amax([-1], keepdim: true);
                return s + torch.log(torch.exp(s).sum(-1, keepdim: true));
            }, "subtract the log-sum-exp, do not add it" },
        { "LogSoftmax_mean_instead_of_sum_fails", x =>
            {
                var s = x - x.amax([-1], keepdim: true);
                return s - s.exp().mean([-1], keepdim: true).log();
            }, "not of the mean" },
        { "LogSoftmax_global_max_fails", x => { var s = x - x.max(); return s - s.exp().sum(-1, keepdim: true).log(); }, "not the max of the whole tensor" },
        { "LogSoftmax_returning_probabilities_fails", x => torch.nn.functional.softmax(x, -1), "you returned the probabilities" },
        { "LogSoftmax_wrong_axis_fails", x => torch.nn.functional.log_softmax(x, 0), "wrong axis" },
        { "LogSoftmax_sum_without_keepdim_gets_the_keepdim_hint", x => { var s = x - x.amax([-1], keepdim: true); return s - s.exp().sum(-1).log(); }, "keepdim: true" },
        { "LogSoftmax_sum_not_shifted_fails", x =>
            {
                var m = x.amax(new long[] { -1 }, keepdim: true);
                return x - m - x.exp().sum(-1, keepdim: true).log();
            }, "shift the sum too" },
        { "LogSoftmax_log10_fails", x =>
            {
                var m = x.amax(new long[] { -1 }, keepdim: true);
                return x - m - (x - m).exp().sum(-1, keepdim: true).log10();
            }, "not log10" },
        { "LogSoftmax_in_place_fails", x => { x.sub_(x.amax(new long[] { -1 }, keepdim: true)); return x.sub_(x.exp().sum(-1, keepdim: true).log()); }, "ops ending in _" },
        { "LogSoftmax_in_float64_gets_the_dtype_hint_not_a_trap", x => x.to(ScalarType.Float64).log_softmax(-1), "yours is float64" },
        { "LogSoftmax_negated_fails", x => x.logsumexp(-1, keepdim: true) - x, "negative log-likelihood" },
        { "LogSoftmax_one_sum_for_the_whole_tensor_fails", x =>
            {
                var m = x.amax(new long[] { -1 }, keepdim: true);
                return x - m - (x - m).exp().sum().log();                  // one log-sum-exp for every row
            }, "one log-sum-exp per row" },
    };

    [Theory, MemberData(nameof(LogSoftmaxMistakes))]
    public void LogSoftmax_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor> wrong, string hint) => FailsWith(Checks.LogSoftmax(wrong), hint, mistake);

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void LogSoftmax_with_one_item_of_the_whole_sum_names_the_element_type_and_the_sum()
    {
        // the learner review's 02-L6: item<double>() on a float32 case, and one scalar log-sum-exp for the whole tensor
        var r = Checks.LogSoftmax(x =>
        {
            var m = x.amax(new long[] { -1 }, keepdim: true);
            var lse = Math.Log((x - m).exp().sum().item<double>());
            return x - m - lse;
        });
        FailsWith(r, "you asked for Double, but the tensor is float32");
        Assert.Contains("A second mistake as well: run on the same input converted to float64", r.Hint);
        Assert.Contains("one log-sum-exp per row", r.Hint);
    }

    [Fact]
    public void Softmax_with_item_float_on_a_float64_case_says_the_values_are_right_there()
    {
        var r = Checks.Softmax(x =>
        {
            var rows = x.reshape(-1, x.shape[^1]);
            var outRows = new List<Tensor>();
            for (long i = 0; i < rows.shape[0]; i++)
            {
                var m = rows[i].max().item<float>();                    // float32 assumed; the first case is float64
                var e = (rows[i] - m).exp();
                outRows.Add(e / e.sum());
            }
            return torch.stack(outRows).reshape(x.shape);
        });
        FailsWith(r, "you asked for Single, but the tensor is float64");
        Assert.Contains("converted to float32, your function gives the right values", r.Hint);
    }

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
    public void Softmax_in_place_fails_although_the_values_are_right()
    {
        var r = Checks.Softmax(x => { x.sub_(x.amax(new long[] { -1 }, keepdim: true)).exp_(); return x.div_(x.sum(-1, keepdim: true)); });
        FailsWith(r, "ops ending in _");
        Assert.Contains("your output is right, but your function changed its input in place", r.Message);
    }

    [Fact]
    public void Softmax_divided_by_sum_of_literal_zero_gets_the_dtype_trap_hint()
    {
        // C# binds e.sum(0) to sum(ScalarType type) with ScalarType.Byte: the whole tensor summed into a byte
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp(); return e / e.sum(0); }), "e.sum(0) is e.sum(ScalarType.Byte)");
        FailsWith(Checks.Softmax(x => x.exp() / x.exp().sum(0)), "e.sum(0) is e.sum(ScalarType.Byte)");
    }
}
