using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Exercises;

/// <summary>A known wrong implementation and what to tell the learner whose output matches it.</summary>
internal sealed record Trap<TIn>(string Hint, Func<TIn, Tensor> Wrong);

/// <summary>One named case: fresh inputs for every call, the reference, the learner, and the traps to diagnose with.</summary>
internal sealed class Case<TIn>
{
    public required string Name { get; init; }
    public required double Tol { get; init; }
    public required Func<TIn> Inputs { get; init; }
    /// <summary>Compare after this transform (e.g. softmax of filtered logits); null compares the outputs themselves.</summary>
    public Func<Tensor, Tensor>? View { get; init; }
}

/// <summary>
/// Runs cases against the reference and turns the first difference into a message: case, shape, first differing
/// values, max abs error and tolerance, plus a hint when the learner's output matches a known mistake.
/// Never throws: the learner's exceptions become results. Stops at the first failing case: later cases use other
/// shapes, and in TorchSharp 0.107 a matmul of mismatched shapes aborts the process (THSTensor_matmul does not catch
/// libtorch's error), so a learner's shape mistake must not be run on more shapes than needed.
/// </summary>
internal sealed class CheckEngine<TIn>
{
    public required string Name { get; init; }
    /// <summary>The reference, e.g. Ops.Softmax: the single source of truth.</summary>
    public required Func<TIn, Tensor> Reference { get; init; }
    public required string ReferenceName { get; init; }
    public required Func<TIn, Tensor> Learner { get; init; }
    public required IReadOnlyList<Case<TIn>> Cases { get; init; }
    public IReadOnlyList<Trap<TIn>> Traps { get; init; } = [];
    /// <summary>Hints from the learner's exception (e.g. shapes that cannot be multiplied).</summary>
    public Func<Exception, string?>? ExceptionHint { get; init; }
    /// <summary>Hints from the output when no trap matched: (inputs, expected, got) -> hint or null.</summary>
    public Func<TIn, Tensor, Tensor, string?>? Diagnose { get; init; }
    /// <summary>A behavioural probe run on failure when nothing else explained it (e.g. does a future token change the past?).</summary>
    public Func<string?>? Probe { get; init; }

    public CheckResult Run()
    {
        try { return RunCases(); }
        catch (Exception e) when (IsNotImplemented(e)) { return NotImplementedResult(); }
        catch (Exception e)
        {
            return new CheckResult(Name, false, false, $"the check itself failed ({e.GetType().Name}: {FirstLine(e.Message)}); please report this", null, []);
        }
    }

    CheckResult RunCases()
    {
        var details = new List<string>();
        string? failure = null, hint = null;
        double worst = 0;
        foreach (var c in Cases)
        {
            if (failure != null) { details.Add($"· {c.Name}: not run (the check stops at the first failing case)"); continue; }
            using var scope = torch.NewDisposeScope();
            var expected = Viewed(c, Reference(c.Inputs()));
            Tensor? got;
            try { got = Learner(c.Inputs()); }
            catch (Exception e) when (IsNotImplemented(e)) { return NotImplementedResult(); }
            catch (Exception e)
            {
                var problem = $"your function threw {e.GetType().Name}: {FirstLine(e.Message)}";
                details.Add($"✗ {c.Name}: {problem}");
                failure = $"case '{c.Name}': {problem}";
                hint = SafeHint(() => ExceptionHint?.Invoke(e));
                continue;
            }
            if (got is null)
            {
                details.Add($"✗ {c.Name}: returned null");
                failure = $"case '{c.Name}': your function returned null";
                continue;
            }
            var gotView = SafeView(c, got);
            var (diff, maxErr) = Compare(expected, gotView, c.Tol);
            var tol = $"tolerance {Num(c.Tol)}{(c.View != null ? ", compared after softmax" : "")}";
            if (diff == null)
            {
                worst = Math.Max(worst, maxErr);
                details.Add($"✓ {c.Name}: max abs error {Num(maxErr)} ({tol})");
                continue;
            }
            details.Add($"✗ {c.Name}: {diff} ({tol})");
            failure = $"case '{c.Name}': {diff} ({tol})";
            hint = SafeHint(() => MatchTrap(c, gotView))
                ?? SafeHint(() => Diagnose?.Invoke(c.Inputs(), expected, gotView))
                ?? (!expected.shape.SequenceEqual(gotView.shape) ? $"wrong shape returned: {ReferenceName} gives [{string.Join(", ", expected.shape)}] here" : null);
        }
        if (failure == null)
            return new CheckResult(Name, true, false,
                $"all {Cases.Count} cases match {ReferenceName} (largest error {Num(worst)}, within each case's tolerance)", null, details);
        hint ??= SafeHint(() => Probe?.Invoke());
        return new CheckResult(Name, false, false, failure + (hint != null ? ". Hint: " + hint : ""), hint, details);
    }

    CheckResult NotImplementedResult() =>
        new(Name, false, true, "your function still throws NotImplementedException: replace the stub with your code", null, []);

    /// <summary>The hint of the first trap whose output equals the learner's (NaN and inf included), or null.</summary>
    string? MatchTrap(Case<TIn> c, Tensor got)
    {
        foreach (var trap in Traps)
        {
            Tensor wrong;
            try { wrong = Viewed(c, trap.Wrong(c.Inputs())); }
            catch (Exception) { continue; }                               // this mistake cannot run on these inputs
            if (Matches(wrong, got, c.Tol)) return trap.Hint;
        }
        return null;
    }

    Tensor Viewed(Case<TIn> c, Tensor t) => c.View == null ? t : c.View(t);

    static Tensor SafeView(Case<TIn> c, Tensor t)
    {
        try { return c.View == null ? t : c.View(t); }
        catch (Exception) { return t; }
    }

    static string? SafeHint(Func<string?> f)
    {
        try { return f(); }
        catch (Exception) { return null; }
    }

    internal static bool IsNotImplemented(Exception e)
    {
        for (Exception? x = e; x != null; x = x.InnerException)
            if (x is NotImplementedException) return true;
        return e is AggregateException a && a.InnerExceptions.Any(IsNotImplemented);
    }

    internal static string FirstLine(string s)
    {
        var line = s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "";
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    internal static string Num(double v) =>
        v == 0 ? "0" : Math.Abs(v) >= 1e-3 && Math.Abs(v) < 1e4 ? v.ToString("0.######", CultureInfo.InvariantCulture) : v.ToString("0.#e+0", CultureInfo.InvariantCulture);

    /// <summary>Same shape and values within tol, with NaN equal to NaN and infinities equal to themselves.</summary>
    internal static bool Matches(Tensor a, Tensor b, double tol)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        var x = Values(a); var y = Values(b);
        for (int i = 0; i < x.Length; i++)
        {
            if (double.IsNaN(x[i]) || double.IsNaN(y[i])) { if (double.IsNaN(x[i]) != double.IsNaN(y[i])) return false; continue; }
            if (double.IsInfinity(x[i]) || double.IsInfinity(y[i])) { if (x[i] != y[i]) return false; continue; }
            if (Math.Abs(x[i] - y[i]) > tol) return false;
        }
        return true;
    }

    /// <summary>Null when got matches expected; else what differs (shape, dtype, first differing value, max abs error).</summary>
    internal static (string? Diff, double MaxErr) Compare(Tensor expected, Tensor got, double tol)
    {
        if (!expected.shape.SequenceEqual(got.shape))
            return ($"expected shape [{string.Join(", ", expected.shape)}], got [{string.Join(", ", got.shape)}]", double.NaN);
        if (expected.dtype != got.dtype)
            return ($"expected dtype {Dtype(expected)} (the inputs' dtype), got {Dtype(got)}", double.NaN);
        var e = Values(expected); var g = Values(got);
        double maxErr = 0; int bad = 0, first = -1;
        for (int i = 0; i < e.Length; i++)
        {
            bool ok;
            if (double.IsNaN(e[i]) || double.IsInfinity(e[i]) || double.IsNaN(g[i]) || double.IsInfinity(g[i]))
                ok = e[i].Equals(g[i]);
            else
            {
                var err = Math.Abs(e[i] - g[i]);
                maxErr = Math.Max(maxErr, err);
                ok = err <= tol;
            }
            if (!ok) { bad++; if (first < 0) first = i; }
        }
        if (bad == 0) return (null, maxErr);
        var at = "[" + string.Join(", ", Unravel(first, expected.shape)) + "]";
        var finiteErr = g.Any(v => !double.IsFinite(v)) && e.All(double.IsFinite)
            ? $"; your output has {g.Count(v => double.IsNaN(v))} NaN and {g.Count(double.IsInfinity)} infinite values"
            : $"; max abs error {Num(maxErr)}";
        return ($"{bad} of {e.Length} values differ; first at {at}: expected {Num(e[first])}, got {Num(g[first])}{finiteErr}", maxErr);
    }

    static string Dtype(Tensor t) => t.dtype.ToString().ToLowerInvariant();

    static double[] Values(Tensor t)
    {
        using var d = t.detach().cpu().to(ScalarType.Float64).contiguous();
        return d.data<double>().ToArray();
    }

    static long[] Unravel(long flat, long[] shape)
    {
        var index = new long[shape.Length];
        for (int i = shape.Length - 1; i >= 0; i--) { index[i] = shape[i] == 0 ? 0 : flat % shape[i]; flat = shape[i] == 0 ? 0 : flat / shape[i]; }
        return index;
    }
}
