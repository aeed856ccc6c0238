using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>
/// Assertions for check results. The wrong implementations in the check tests are written the way a learner would write
/// them, independently of the checks' traps.
/// </summary>
public static class CheckAssert
{
    public static void Passes(CheckResult r)
    {
        Assert.True(r.Passed, r.ToPlainText());
        Assert.False(r.NotImplemented);
        Assert.Null(r.Hint);
        Assert.DoesNotContain('\n', r.ToString());
    }

    public static void FailsWith(CheckResult r, string hint)
    {
        Assert.False(r.Passed, "expected a failure, got: " + r);
        Assert.False(r.NotImplemented);
        Assert.NotNull(r.Hint);
        Assert.Contains(hint, r.Hint);
        Assert.Contains(hint, r.Message);
        Assert.StartsWith("case '", r.Message);
        Assert.DoesNotContain('\n', r.ToString());
    }

    /// <summary>The learner's function is (or calls) a stub: the check says so and neither passes nor fails.</summary>
    public static void NotImplemented(CheckResult r)
    {
        Assert.True(r.NotImplemented, r.ToString());
        Assert.False(r.Passed);
    }
}
