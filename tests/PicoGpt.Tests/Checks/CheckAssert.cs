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
    /// <summary>A row of a table of right answers: <paramref name="answer"/> names it in the failure message.</summary>
    public static void Passes(CheckResult r, string answer)
    {
        Assert.True(r.Passed, answer + ": " + r.ToPlainText());
        Passes(r);
    }

    /// <summary>A row of a table of mistakes: <paramref name="mistake"/> names it in the failure message.</summary>
    public static void FailsWith(CheckResult r, string hint, string mistake)
    {
        Assert.True(!r.Passed && r.Hint != null && r.Hint.Contains(hint), $"{mistake}: expected a failure with the hint \"{hint}\", got: {r}");
        FailsWith(r, hint);
    }

    /// <summary>A row of a table of stubs: <paramref name="stub"/> names it in the failure message.</summary>
    public static void NotImplemented(CheckResult r, string stub)
    {
        Assert.True(r.NotImplemented, stub + ": " + r);
        NotImplemented(r);
    }

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
