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
            Checks.Attention((q, k, v, m) => throw new NotImplementedException()),
            Checks.MultiHeadAttention((x, p, h) => throw new NotImplementedException()),
            Checks.FeedForward((x, p) => throw new NotImplementedException()),
            Checks.TransformerBlock((x, p, h) => throw new NotImplementedException()),
            Checks.Gpt2((x, p, h) => throw new NotImplementedException()),
            Checks.TopK((l, k) => throw new NotImplementedException()),
        ];
        Assert.All(results, r => Assert.True(r.NotImplemented, r.ToString()));
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
}
