using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>The check engine: stubs, exceptions, nulls, shapes, dtypes and the failure message.</summary>
public class EngineCheckTests
{
    [Fact]
    public void Stub_is_not_implemented_not_failed()
    {
        var r = Checks.Softmax(x => throw new NotImplementedException());
        Assert.True(r.NotImplemented);
        Assert.False(r.Passed);
        Assert.Equal("not implemented yet", r.Status);
        Assert.DoesNotContain(" at ", r.Message);
    }

    [Fact]
    public void Every_check_reports_stubs_as_not_implemented()
    {
        CheckResult[] results =
        [
            Checks.Embedding((ids, wte, wpe) => throw new NotImplementedException()),
            Checks.Linear((x, w, b) => throw new NotImplementedException()),
            Checks.Softmax(x => throw new NotImplementedException()),
            Checks.Gelu(x => throw new NotImplementedException()),
            Checks.LayerNorm((x, g, b) => throw new NotImplementedException()),
            Checks.CausalMask((n, dt) => throw new NotImplementedException()),
            Checks.Attention((q, k, v, m) => throw new NotImplementedException()),
            Checks.SplitHeads((x, h) => throw new NotImplementedException()),
            Checks.MergeHeads(x => throw new NotImplementedException()),
            Checks.MultiHeadAttention((x, p, h) => throw new NotImplementedException()),
            Checks.FeedForward((x, p) => throw new NotImplementedException()),
            Checks.Dropout((x, p, t, g) => throw new NotImplementedException()),
            Checks.TransformerBlock((x, p, h) => throw new NotImplementedException()),
            Checks.Gpt2((x, p, h) => throw new NotImplementedException()),
            Checks.TopK((l, k) => throw new NotImplementedException()),
        ];
        Assert.All(results, r => Assert.True(r.NotImplemented, r.ToString()));
        Assert.All(results, r => Assert.StartsWith("your function still throws NotImplementedException", r.Message));
    }

    // ---- a helper that is still a stub: the message names it instead of calling the checked function unwritten

    [Fact]
    public void Stub_helper_called_from_a_lambda_is_named()
    {
        Tensor Cube(Tensor x) => throw new NotImplementedException();
        var r = Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * Cube(x))).tanh()));
        Assert.True(r.NotImplemented);
        Assert.Equal("not implemented yet", r.Status);
        Assert.Equal("your function calls Cube, which still throws NotImplementedException: write Cube first, then run this check again", r.Message);
    }

    [Fact]
    public void Stub_helper_two_calls_down_is_named_with_the_chain()
    {
        Tensor Inner(Tensor x) => throw new NotImplementedException();
        Tensor Outer(Tensor x) => Inner(x) * 2;
        Tensor Softmax(Tensor x) => Outer(x);
        var r = Checks.Softmax(Softmax);
        Assert.True(r.NotImplemented);
        Assert.StartsWith("your Softmax calls Outer, which calls Inner, which still throws NotImplementedException: write Inner first", r.Message);
    }

    [Fact]
    public void Stub_helper_called_through_linq_is_named()
    {
        // a lambda inside the learner's function (here Select's) sits between it and the stub: it is skipped
        Tensor Row(Tensor x) => throw new NotImplementedException();
        Tensor Softmax(Tensor x) => torch.stack(Enumerable.Range(0, (int)x.shape[0]).Select(i => Row(x[i])).ToArray());
        var r = Checks.Softmax(Softmax);
        Assert.StartsWith("your Softmax calls Row, which still throws", r.Message);
    }

    [Fact]
    public void Stub_lambda_helper_is_reported_as_a_lambda()
    {
        Func<Tensor, Tensor> helper = x => throw new NotImplementedException();
        var r = Checks.Softmax(x => helper(x));
        Assert.True(r.NotImplemented);
        Assert.StartsWith("your function calls a lambda, which still throws NotImplementedException: write that function first", r.Message);
    }

    [Fact]
    public void Learner_names_come_from_script_methods_and_local_functions_not_lambdas()
    {
        Tensor FeedForward(Tensor x) => x;
        Func<Tensor, Tensor> local = FeedForward, lambda = x => x;
        Assert.Equal("FeedForward", CheckEngine.LearnerName(local.Method));
        Assert.Null(CheckEngine.LearnerName(lambda.Method));
        Assert.Equal("Stub_is_not_implemented_not_failed", CheckEngine.LearnerName(typeof(EngineCheckTests).GetMethod(nameof(Stub_is_not_implemented_not_failed))!));
    }

    [Fact]
    public void Not_implemented_thrown_after_the_first_case_passed_is_still_named()
    {
        int calls = 0;
        Tensor Later(Tensor x) => throw new NotImplementedException();
        var r = Checks.Gelu(x => ++calls == 1 ? Ops.Gelu(x) : Later(x));
        Assert.True(r.NotImplemented);
        Assert.StartsWith("your function calls Later", r.Message);
    }

    [Fact]
    public void Other_exceptions_fail_with_one_line()
    {
        var r = Checks.Gelu(x => throw new InvalidOperationException("boom\nsecond line"));
        Assert.False(r.Passed);
        Assert.False(r.NotImplemented);
        Assert.Contains("threw InvalidOperationException: boom", r.Message);
        Assert.DoesNotContain("second line", r.Message);
    }

    [Fact]
    public void Null_and_wrong_shape_fail()
    {
        Assert.Contains("returned null", Checks.Gelu(x => null!).Message);
        var r = Checks.Gelu(x => Ops.Gelu(x).flatten());
        Assert.False(r.Passed);
        Assert.Contains("expected shape", r.Message);
    }

    [Fact]
    public void Wrong_dtype_fails() =>
        Assert.Contains("expected dtype float64", Checks.Gelu(x => Ops.Gelu(x).to(ScalarType.Float32)).Message);

    [Fact]
    public void Failure_names_case_expected_got_and_tolerance()
    {
        var r = Checks.Gelu(x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0))));
        Assert.Contains("published gelu(1)", r.Message);
        Assert.Contains("first at [0]: expected 0.841192, got 0.841345", r.Message);
        Assert.Contains("max abs error", r.Message);
        Assert.Contains("tolerance 1e-9", r.Message);
        Assert.Contains(r.Details, d => d.StartsWith("✗"));
        Assert.Contains(r.Details, d => d.Contains("not run"));
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.841192, "0.841192")]
    [InlineData(124439808.0, "124,439,808")]
    [InlineData(-1e10, "-1e10")]
    [InlineData(-7.0246e-5, "-7.0246e-5")]
    [InlineData(1e-9, "1e-9")]
    [InlineData(12345.5, "1.23455e4")]
    public void Numbers_print_as_a_learner_reads_them(double value, string text) =>
        Assert.Equal(text, CheckEngine.Num(value));
}
