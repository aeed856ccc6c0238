using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Exercises.CheckEngine;

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
/// Never throws: the learner's exceptions become results; a NotImplementedException thrown by a helper the learner's
/// function calls (a stub further up the notebook) is reported as "your X calls Y, which still throws ...".
/// An output that differs from the reference can still pass when <see cref="Accept"/> calls it another correct answer.
/// Stops at the first failing case: later cases use other
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
    /// <summary>
    /// Another correct answer: (inputs, expected, got) -> a note when got differs from the reference but is equally right
    /// (e.g. -inf instead of -1e10 in a mask, dropout with other random draws), else null. The note shows in the case's line.
    /// </summary>
    public Func<TIn, Tensor, Tensor, string?>? Accept { get; init; }
    /// <summary>
    /// The learner's function must leave its input tensors as they were (a pure function, like the reference): a case
    /// whose output is right fails when an in-place op (x.sub_(m), g.mul_(...)) changed an input, which in a model would
    /// silently change the caller's activations or weights.
    /// </summary>
    public bool InputsUnchanged { get; init; }
    /// <summary>
    /// The learner's function should give the same output for the same inputs (no dropout at inference): on a failing case
    /// it runs again, and other values the second time say that something random (dropout left on) is in it.
    /// </summary>
    public bool Deterministic { get; init; }
    /// <summary>
    /// How the output differs, said in the exercise's own terms: (inputs, expected, got) -> the text that replaces
    /// "k of n values differ; first at [i]" when both have the same shape and dtype (e.g. the names of the parameters a
    /// weight-decay rule got wrong, where an index into a list the learner never sees says nothing), or null to keep it.
    /// </summary>
    public Func<TIn, Tensor, Tensor, string?>? Describe { get; init; }
    /// <summary>
    /// When traps with different hints all match the failing case (a small case cannot tell every mistake apart), run the
    /// learner and those traps on the cases after it and keep the hint of the first trap that matches there too. Only for
    /// checks whose learner function cannot end the process on a shape it was not written for (no matrix products: in
    /// TorchSharp a raw matmul of mismatched shapes aborts), since it runs the learner on cases past the failing one.
    /// </summary>
    public bool RecheckAmbiguousTraps { get; init; }

    public CheckResult Run()
    {
        var result = Guarded(Name, RunCases);
        Remember(Name, Learner, result);
        return result;
    }

    CheckResult RunCases()
    {
        var details = new List<string>();
        string? failure = null, hint = null;
        double worst = 0;
        int accepted = 0;
        foreach (var c in Cases)
        {
            if (failure != null) { details.Add($"· {c.Name}: not run (the check stops at the first failing case)"); continue; }
            using var scope = torch.NewDisposeScope();
            var expected = Viewed(c, Reference(c.Inputs()));
            Tensor? got;
            var inputs = c.Inputs();
            var before = InputsUnchanged ? Snapshot(inputs) : [];
            try { got = Learner(inputs); }
            catch (Exception e) when (IsNotImplemented(e)) { return NotImplementedResult(Name, e); }
            catch (Exception e)
            {
                var problem = Threw(e);
                details.Add($"✗ {c.Name}: {problem}");
                failure = $"case '{c.Name}': {problem}";
                hint = SafeHint(() => ExceptionHint?.Invoke(e)) ?? CSharpOperatorHint(e) ?? LearnerExceptionHint(e);
                if (SafeHint(() => InAskedDtype(c, e)) is { } asked) hint = hint == null ? asked : hint + ". " + asked;
                continue;
            }
            if (got is null)
            {
                details.Add($"✗ {c.Name}: returned null");
                failure = $"case '{c.Name}': your function returned null";
                continue;
            }
            if (got.IsInvalid)
            {
                details.Add($"✗ {c.Name}: returned a tensor that was already disposed");
                failure = $"case '{c.Name}': your function returned a tensor that was already disposed";
                hint = DisposedHint;
                continue;
            }
            var gotView = SafeView(c, got);
            var (diff, maxErr) = Compare(expected, gotView, c.Tol);
            var tol = $"tolerance {Num(c.Tol)}{(c.View != null ? ", compared after softmax" : "")}";
            var note = diff == null ? null : SafeHint(() => Accept?.Invoke(c.Inputs(), expected, gotView));
            if ((diff == null || note != null) && ChangedInput(inputs, before) is { } changed)
            {
                var problem = $"your output is right, but your function changed its {changed} in place";
                details.Add($"✗ {c.Name}: {problem}");
                failure = $"case '{c.Name}': {problem}";
                hint = InPlaceHint;
                continue;
            }
            if (diff == null)
            {
                worst = Math.Max(worst, maxErr);
                details.Add($"✓ {c.Name}: max abs error {Num(maxErr)} ({tol})");
                continue;
            }
            if (note != null)
            {
                accepted++;
                details.Add($"✓ {c.Name}: {note}");
                continue;
            }
            var described = expected.dtype == gotView.dtype && expected.shape.SequenceEqual(gotView.shape)
                ? SafeHint(() => Describe?.Invoke(c.Inputs(), expected, gotView)) : null;
            var what = described ?? $"{diff} ({tol})";
            details.Add($"✗ {c.Name}: {what}");
            failure = $"case '{c.Name}': {what}";
            hint = (Deterministic ? SafeHint(() => Random(c, gotView)) : null) ?? (SameShapeOtherFloat(expected, gotView)                    // a trap's hint would only mislead: the values may well be right
                ? SafeHint(() => Diagnose?.Invoke(c.Inputs(), expected, gotView)) ?? DtypeHint(expected, gotView, c.Tol)
                : SafeHint(() => RecheckAmbiguousTraps ? MatchTrapOnLaterCases(c, gotView, expected) : MatchTrap(c, gotView, expected))
                ?? SafeHint(() => Diagnose?.Invoke(c.Inputs(), expected, gotView))
                ?? SafeHint(() => expected.dtype != gotView.dtype && Matches(expected, gotView, Math.Max(c.Tol, 1e-5)) ? DtypeHint(expected, gotView, c.Tol) : null)
                ?? SafeHint(() => AxisOfOne(expected, gotView))
                ?? (!expected.shape.SequenceEqual(gotView.shape) ? $"wrong shape returned: {ReferenceName} gives [{string.Join(", ", expected.shape)}] here" : null)
                ?? CloseInFloat64(expected, gotView, maxErr));
        }
        if (failure == null)
            return new CheckResult(Name, true, false, accepted == 0
                ? $"all {Cases.Count} cases match {ReferenceName} (largest error {Num(worst)}, within each case's tolerance)"
                : $"all {Cases.Count} cases pass: {Cases.Count - accepted} match {ReferenceName}, {accepted} {(accepted == 1 ? "is" : "are")} another correct answer (see the cases)", null, details);
        hint ??= SafeHint(() => Probe?.Invoke());
        if (SafeHint(() => FailedHelper(Learner)) is { } helper)
            hint = helper + (hint != null && !helper.Contains(hint) ? ". What this check sees meanwhile: " + hint : "");
        return new CheckResult(Name, false, false, failure + (hint != null ? ". Hint: " + hint : ""), hint, details);
    }

    /// <summary>
    /// When the learner's data&lt;T&gt;() or item&lt;T&gt;() asked for another float type than the case's tensors hold (T = double
    /// on a float32 case), runs the function again on the same inputs converted to that type and says what it finds there:
    /// the right values (the element type is the only problem), a known mistake (a second problem, named), or other
    /// values. Null when the exception is another one, or the inputs cannot be converted (only a tensor or a tuple of
    /// tensors and plain values is).
    /// </summary>
    string? InAskedDtype(Case<TIn> c, Exception e)
    {
        if (!AskedFloatType(e, out var dt)) return null;
        var name = dt == ScalarType.Float32 ? "float32" : "float64";
        var converted = new Case<TIn>
        {
            Name = c.Name, View = c.View,
            Tol = dt == ScalarType.Float32 ? Math.Max(c.Tol, 1e-4) : c.Tol,          // a float64 case's 1e-9 is below float32's rounding
            Inputs = () => ConvertFloats(c.Inputs(), dt, out var x) ? x : throw new InvalidOperationException("no tensors to convert"),
        };
        if (!ConvertFloats(c.Inputs(), dt, out _)) return null;
        using var scope = torch.NewDisposeScope();
        Tensor got;
        try { got = Learner(converted.Inputs()); }
        catch (Exception) { return null; }                               // another problem there: the exception's hint stands alone
        if (got is null || got.IsInvalid) return null;
        var expected = Viewed(converted, Reference(converted.Inputs()));
        var gotView = SafeView(converted, got);
        if (Matches(expected, gotView, converted.Tol))
            return $"Run on this case's input converted to {name}, your function gives the right values, so the element type is what fails here" +
                   (expected.dtype != gotView.dtype ? $" (returned as {gotView.dtype.ToString().ToLowerInvariant()}: give the result the input's dtype)" : "") +
                   ". The checks (like a model) use float32 and float64 tensors: stay in tensor operations, which work in any dtype, " +
                   "or read x.to(ScalarType.Float64).data<double>() and turn the result back with torch.tensor(values, x.shape).to(x.dtype)";
        if (SafeHint(() => MatchTrap(converted, gotView, expected)) is { } trap)
            return $"A second mistake as well: run on the same input converted to {name}, your function gives a known wrong answer: {trap}";
        var (diff, _) = Compare(expected, gotView, converted.Tol);
        return diff == null ? null : $"Run on the same input converted to {name}, your values are still wrong ({diff})";
    }

    /// <summary>Converts the floating-point tensors of the inputs (a tensor, or the items of a value tuple) to dt; false when there are none.</summary>
    static bool ConvertFloats(TIn inputs, ScalarType dt, out TIn converted)
    {
        converted = inputs;
        int count = 0;
        object? Convert(object? o)
        {
            if (o is Tensor t && t.is_floating_point() && t.dtype != dt) { count++; return t.to(dt); }
            return o;
        }
        if (inputs is Tensor tensor) { converted = (TIn)Convert(tensor)!; return count > 0; }
        if (inputs is System.Runtime.CompilerServices.ITuple tuple && typeof(TIn).IsValueType && tuple.Length <= 7
            && typeof(TIn).FullName?.StartsWith("System.ValueTuple", StringComparison.Ordinal) == true)
        {
            var items = Enumerable.Range(0, tuple.Length).Select(k => Convert(tuple[k])).ToArray();
            if (count == 0) return false;
            converted = (TIn)Activator.CreateInstance(typeof(TIn), items)!;
            return true;
        }
        return false;
    }

    /// <summary>The random-output hint when a second call on the same inputs gives other values, else null.</summary>
    string? Random(Case<TIn> c, Tensor got)
    {
        var again = Viewed(c, Learner(c.Inputs()));
        return Matches(again, got, 0) ? null : RandomHint;
    }

    /// <summary>Copies of the input tensors (a Tensor input, or the Tensor items of a tuple), to see later whether the learner changed them.</summary>
    static List<(int Index, Tensor Input, Tensor Copy)> Snapshot(TIn inputs)
    {
        var list = new List<(int, Tensor, Tensor)>();
        if (inputs is Tensor t) list.Add((0, t, t.detach().clone()));
        else if (inputs is System.Runtime.CompilerServices.ITuple tuple)
            for (int k = 0; k < tuple.Length; k++)
                if (tuple[k] is Tensor item) list.Add((k, item, item.detach().clone()));
        return list;
    }

    /// <summary>"input" or "2nd argument" when an input tensor no longer equals its copy, else null.</summary>
    static string? ChangedInput(TIn inputs, List<(int Index, Tensor Input, Tensor Copy)> before)
    {
        foreach (var (index, input, copy) in before)
        {
            bool same;
            try { same = input.shape.SequenceEqual(copy.shape) && Matches(input, copy, 0); }
            catch (Exception) { same = false; }
            if (!same) return inputs is Tensor ? "input" : $"{Ordinal(index + 1)} argument";
        }
        return null;
    }

    /// <summary>
    /// The hint of the first trap whose output equals the learner's (NaN and inf included), or null. A trap whose output
    /// equals the reference's on this case (a mistake that shows only on other inputs) explains nothing here: it would
    /// match right values returned in the wrong dtype.
    /// </summary>
    string? MatchTrap(Case<TIn> c, Tensor got, Tensor expected)
    {
        foreach (var trap in Traps)
        {
            Tensor wrong;
            try { wrong = Viewed(c, trap.Wrong(c.Inputs())); }
            catch (Exception) { continue; }                               // this mistake cannot run on these inputs
            if (Matches(wrong, got, c.Tol) && !Matches(wrong, expected, c.Tol)) return trap.Hint;
        }
        return null;
    }

    /// <summary>
    /// <see cref="MatchTrap"/>, but when traps with different hints match the failing case, the first of them that also
    /// matches the learner on every later case where the learner runs and differs from the reference.
    /// </summary>
    string? MatchTrapOnLaterCases(Case<TIn> failing, Tensor got, Tensor expected)
    {
        var matching = new List<Trap<TIn>>();
        foreach (var trap in Traps)
        {
            Tensor wrong;
            try { wrong = Viewed(failing, trap.Wrong(failing.Inputs())); }
            catch (Exception) { continue; }
            if (Matches(wrong, got, failing.Tol) && !Matches(wrong, expected, failing.Tol)) matching.Add(trap);
        }
        if (matching.Select(t => t.Hint).Distinct().Count() < 2) return matching.FirstOrDefault()?.Hint;
        var later = Cases.SkipWhile(c => c != failing).Skip(1);
        var left = matching.ToList();
        foreach (var c in later)
        {
            using var scope = torch.NewDisposeScope();
            Tensor learner;
            try { learner = Viewed(c, Learner(c.Inputs())); }
            catch (Exception) { continue; }
            var reference = Viewed(c, Reference(c.Inputs()));
            if (Matches(learner, reference, c.Tol)) continue;                     // right here: says nothing about which mistake
            var still = left.Where(t =>
            {
                try { return Matches(Viewed(c, t.Wrong(c.Inputs())), learner, c.Tol); }
                catch (Exception) { return false; }
            }).ToList();
            if (still.Count == 0) break;                                             // none explains this case: keep what the failing case said
            left = still;
            if (left.Select(t => t.Hint).Distinct().Count() == 1) break;
        }
        return left[0].Hint;
    }

    Tensor Viewed(Case<TIn> c, Tensor t) => c.View == null ? t : c.View(t);

    static Tensor SafeView(Case<TIn> c, Tensor t)
    {
        try { return c.View == null ? t : c.View(t); }
        catch (Exception) { return t; }
    }

    // Forwarders for callers written against the generic class (e.g. on other branches): use CheckEngine.X.
    internal static bool Matches(Tensor a, Tensor b, double tol) => CheckEngine.Matches(a, b, tol);
    internal static string Num(double v) => CheckEngine.Num(v);
}

/// <summary>
/// What every check shares, whatever its inputs: the one place where a learner's exception, a stub and a failure of the
/// check itself become results, and how values are compared and printed.
/// </summary>
internal static class CheckEngine
{
    /// <summary>
    /// Runs a check's cases: a NotImplementedException that escapes them is "not implemented yet", any other exception a
    /// failure of the check itself (never the learner's: the cases catch those).
    /// </summary>
    internal static CheckResult Guarded(string name, Func<CheckResult> run)
    {
        try { return run(); }
        catch (Exception e) when (IsNotImplemented(e)) { return NotImplementedResult(name); }
        catch (Exception e)
        {
            return new CheckResult(name, false, false, $"the check itself failed ({e.GetType().Name}: {FirstLine(e.Message)}); please report this", null, []);
        }
    }

    /// <summary>"not implemented yet", naming the unwritten helper when the stub is one the checked function calls.</summary>
    internal static CheckResult NotImplementedResult(string name, Exception? e = null)
    {
        var stub = e == null ? null : SafeHint(() => StubMessage(e));
        return new(name, false, true, stub ?? "your function still throws NotImplementedException: replace the stub with your code", null, []);
    }

    internal const string RandomHint =
        "your function gives other values when called twice on the same input: something random is in it. Dropout left on? " +
        "The exercises compute the model at inference, where dropout is off (the 2017 Transformer's dropout of 0.1 is for training): " +
        "torch.nn.functional.dropout(x, p) drops values unless told training: false, and an nn.Dropout module until .eval(); leave dropout out here";

    // ---------------------------------------------------------------- helpers the learner wrote: did they pass their checks?

    /// <summary>The latest result of each check in this process, for each name of the learner's function it checked.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Check, string Function), CheckResult> Latest = new();

    /// <summary>Remembers a check's result under the check and the name of the learner's function (when it has one: a lambda has none).</summary>
    internal static void Remember(string check, Delegate learner, CheckResult result)
    {
        if (LearnerFunction(learner) is { } f && LearnerName(f.Method) is { } name) Latest[(check, name)] = result;
    }

    /// <summary>
    /// "your LayerNorm calls your Normalize, which failed its check ..." when the checked function calls a function of the
    /// learner's whose latest check failed; null when it calls none (read from its IL) or they all passed.
    /// </summary>
    internal static string? FailedHelper(Delegate learner)
    {
        if (LearnerFunction(learner) is not { } f || LearnerName(f.Method) is not { } name) return null;
        foreach (var ((check, helper), result) in Latest)
            if (!result.Passed && !result.NotImplemented && helper != name && Calls(f.Method, helper))
                return $"your {name} calls your {helper}, which failed its check ({check}) when you last ran it: fix {helper} first " +
                       $"(its check said: {result.Hint ?? FirstLine(result.Message)}), run its check, then this one";
        return null;
    }

    /// <summary>The learner's own delegate: the given one, or one that a check's wrapping lambda captured.</summary>
    internal static Delegate? LearnerFunction(Delegate d, int depth = 2)
    {
        if (d.Method.DeclaringType?.Assembly != CheckAssembly) return d;
        if (depth == 0 || d.Target == null) return null;
        foreach (var field in d.Target.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            if (field.GetValue(d.Target) is Delegate inner && LearnerFunction(inner, depth - 1) is { } found) return found;
        return null;
    }

    /// <summary>Whether method m calls (or takes the address of) a method named name, directly or through learner code it calls, read from the IL.</summary>
    internal static bool Calls(MethodBase m, string name, int depth = 3, HashSet<MethodBase>? seen = null)
    {
        seen ??= [];
        if (!seen.Add(m)) return false;
        byte[]? il;
        try { il = m.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { return false; }
        if (il == null) return false;
        for (int i = 0; i + 4 < il.Length; i++)
        {
            bool call = il[i] is 0x28 or 0x6F or 0x73 || il[i] == 0x06 && i > 0 && il[i - 1] == 0xFE;   // call, callvirt, newobj, ldftn
            if (!call) continue;
            int token = BitConverter.ToInt32(il, i + 1);
            if ((token >>> 24) is not (0x06 or 0x0A or 0x2B)) continue;                           // MethodDef, MemberRef, MethodSpec
            MethodBase? callee;
            try
            {
                callee = m.Module.ResolveMethod(token, m.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null,
                    m.IsGenericMethod ? m.GetGenericArguments() : null);
            }
            catch (Exception) { continue; }
            if (callee == null) continue;
            if (LearnerName(callee) == name) return true;
            if (depth > 0 && IsLearnerCode(callee) && Calls(callee, name, depth - 1, seen)) return true;
        }
        return false;
    }

    /// <summary>What a case says when the learner's function threw: "your function threw X: first line of the message".</summary>
    internal static string Threw(Exception e) => $"your function threw {e.GetType().Name}: {FirstLine(e.Message).TrimEnd('.')}";

    /// <summary>
    /// What an exception thrown by the learner's own code means, when the check has no hint of its own for it: the
    /// common ones from TorchSharp and .NET, said in the terms of a tensor function (null when unknown).
    /// </summary>
    internal static string? LearnerExceptionHint(Exception e)
    {
        var m = e.Message;
        if (IncompatibleType.Match(m) is { Success: true } t)
        {
            var asked = t.Groups[1].Value; var dtype = t.Groups[2].Value.ToLowerInvariant();
            var right = dtype switch { "float32" => "float", "float64" => "double", "int64" => "long", "int32" => "int", "bool" => "bool", "float16" => "Half", _ => null };
            return $"data<T>() and item<T>() read the tensor's memory as T, so T must be its own element type: you asked for {asked}, but the tensor is {dtype}"
                + (right != null ? $" (read it with item<{right}>() / data<{right}>())" : "")
                + ", or convert first: t.to(ScalarType.Float64).item<double>(). Token ids, argmax and multinomial are int64 (long); a float32 tensor is float";
        }
        if (e is PicoGptException && m.Contains("matmul"))
            return "two operands of a matrix product do not fit (the error names their shapes): the last axis of the left must equal the second-to-last of the right; " +
                   "write the shapes next to each line (// [n_seq, n_embd]) and transpose (.T, .transpose(-2, -1)) where a weight or k needs it";
        if (m.Contains("must match the size of tensor") || m.Contains("doesn't match the broadcast shape") || m.Contains("is invalid for input of size")
            || m.Contains("shape mismatch") || m.Contains("Expected size"))
            return "two tensors' shapes do not fit together here (the error names the axis and the sizes): print the shapes in your function " +
                   "(Console.WriteLine(string.Join(\", \", x.shape))) and compare them with the shapes the exercise gives; keepdim: true keeps an axis that broadcasting needs";
        if (m.Contains("probability tensor contains"))
            return "the probabilities given to multinomial contain inf or NaN: a softmax written inline overflowed (exp of a large logit is inf, and inf / inf is NaN); " +
                   "subtract each row's max first, e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp(), or use x.softmax(-1)";
        if (m.Contains("Sizes of tensors must match except in dimension"))
            return "torch.cat joins tensors along one axis, and they must have the same size on every other axis: join along the axis that grows " +
                   "(new token ids [B, 1] go after ids [B, n_seq] along dim: 1, the sequence axis)";
        if (m.Contains("Dimension out of range"))
            return "an axis number is out of range: the tensor has fewer axes than your code assumes; count axes from the end (-1 is the last), so that the same code works with or without a batch axis in front";
        if (m.Contains("expected scalar type") || m.Contains("expected both") || m.Contains("must have the same dtype") || m.Contains("but found"))
            return "your function mixes dtypes (float32 with float64): a tensor made without a dtype (torch.tensor(0.5f), torch.zeros(n), torch.ones(...)) is float32; " +
                   "give new tensors the input's dtype (dtype: x.dtype) or use plain C# numbers, which take the tensor's dtype";
        if (m.Contains("tensors used as indices must be"))
            return "an index tensor must be int64 (long) or bool: torch.arange(n) of a long count is int64; an arange or a tensor made with a float dtype cannot index";
        if (e is IndexOutOfRangeException or ArgumentOutOfRangeException || m.Contains("out of range") || m.Contains("out of bounds"))
            return "an index ran past the end: an array, a list or a shape (x.shape[2] of a 2-D tensor) has fewer items than your code reads; " +
                   "shape[^1] is the last axis whatever the number of axes, and a loop over n items runs i = 0 .. n - 1";
        if (e is NullReferenceException)
            return "something in your function is null when it is used: a variable declared and never assigned (Tensor result = null; and a loop that never ran), " +
                   "or a field of the inputs you read before setting it";
        if (IsDisposed(e))
            return DisposedHint;
        if (e is DivideByZeroException)
            return "an integer division by zero: a size computed with integers (n_embd / n_head, n / batch) is 0 somewhere; check the sizes you divide by";
        if (e is InvalidCastException)
            return "a cast failed: a tensor's item<T>() must use its own element type, and (int) or (long) casts of a tensor need .item<T>() first";
        return null;
    }

    static readonly Regex IncompatibleType = new(@"(\w+) is not compatible with (\w+)", RegexOptions.Compiled);

    /// <summary>data&lt;T&gt;() or item&lt;T&gt;() asked for float or double on a tensor of the other float type: which one it asked for.</summary>
    internal static bool AskedFloatType(Exception e, out ScalarType asked)
    {
        asked = default;
        if (IncompatibleType.Match(e.Message) is not { Success: true } m) return false;
        var dtype = m.Groups[2].Value;
        if (dtype is not ("Float32" or "Float64")) return false;
        switch (m.Groups[1].Value)
        {
            case "Single": asked = ScalarType.Float32; return dtype != "Float32";
            case "Double": asked = ScalarType.Float64; return dtype != "Float64";
            default: return false;
        }
    }

    internal const string InPlaceHint =
        "ops ending in _ (sub_, add_, mul_, div_, exp_) write into the tensor they are called on, so the caller's tensor changes too " +
        "(in a model, the residual stream or a weight); use the operators or the methods without _ (x - m, x.sub(m)), which return a new tensor";


    internal static string Ordinal(int n) => n switch { 1 => "1st", 2 => "2nd", 3 => "3rd", _ => $"{n}th" };

    /// <summary>
    /// A float64 result that misses by more than the tolerance but less than float32's precision: most likely a float32 value
    /// inside the computation (torch.tensor of a long or float, 0.5f, a (float) cast) or a rounded constant.
    /// </summary>
    internal static string? CloseInFloat64(Tensor expected, Tensor got, double maxErr) =>
        expected.dtype == ScalarType.Float64 && got.dtype == ScalarType.Float64 && expected.shape.SequenceEqual(got.shape)
        && maxErr > 0 && maxErr < 1e-5 && !got.isfinite().logical_not().any().item<bool>()
            ? $"close, but off by up to {Num(maxErr)}, where float64 allows 1e-9: that is about float32's precision, so a float32 value has probably crept in " +
              "(torch.sqrt(torch.tensor(d)) of a long is float32, and so are 0.5f and (float) casts): compute with doubles, e.g. Math.Sqrt(d); or a constant is rounded"
            : null;

    /// <summary>The shapes differ only by axes of length 1: an unsqueeze (or keepdim: true) too many, or a squeeze too many.</summary>
    internal static string? AxisOfOne(Tensor expected, Tensor got)
    {
        if (expected.shape.SequenceEqual(got.shape) || !expected.shape.Where(d => d != 1).SequenceEqual(got.shape.Where(d => d != 1))) return null;
        var values = CheckEngine.Matches(expected, got.reshape(expected.shape), 1e-6) ? " (and its values are right)" : "";
        return got.dim() > expected.dim()
            ? $"your output [{string.Join(", ", got.shape)}] has {got.dim() - expected.dim()} axis of length 1 too many{values}: drop the unsqueeze (or view, or keepdim: true) that added it; broadcasting adds such axes by itself where needed"
            : $"your output [{string.Join(", ", got.shape)}] lost an axis of length 1{values}: the result is [{string.Join(", ", expected.shape)}]; a squeeze() removes every axis of length 1, even one that belongs there (one token, one row)";
    }

    /// <summary>C# operators that do something else than the maths reads: ^ is exclusive or (XOR) on a tensor, not a power.</summary>
    internal static string? CSharpOperatorHint(Exception e) =>
        e.Message.Contains("bitwise_xor")
            ? "^ is C#'s exclusive or (XOR), not a power, and a float tensor has no XOR: write x.pow(3) for x³ (or x * x * x), t.pow(2) for a square"
            : null;

    internal static bool SameShapeOtherFloat(Tensor expected, Tensor got) =>
        expected.shape.SequenceEqual(got.shape) && expected.dtype != got.dtype && expected.is_floating_point() && got.is_floating_point();

    /// <summary>
    /// The output's dtype is not the reference's. A float result says to keep the inputs' dtype (a trap's hint would only
    /// mislead: the values may well be right, and it says when they are); an integer result says that token ids are int64.
    /// </summary>
    internal static string DtypeHint(Tensor expected, Tensor got, double tol)
    {
        var right = Matches(expected, got, Math.Max(tol, 1e-5)) ? "the numbers are right, but " : "";  // within float32 rounding
        return expected.is_floating_point()
            ? $"{right}the result must keep the inputs' dtype ({Dtype(expected)}), yours is {Dtype(got)}: compute in the dtype you are given " +
              "(a cast such as .to(float64) or a float literal tensor changes it; a new tensor needs dtype: x.dtype), or convert the result back with .to(x.dtype)"
            : $"{right}the dtype is {Dtype(got)}, not {Dtype(expected)}: token ids are int64 (ScalarType.Int64), what argmax, multinomial and torch.tensor(long[]) give; " +
              "drop the conversion (torch.tensor of an int[] is int32)";
    }

    /// <summary>
    /// When the NotImplementedException comes from a helper the learner's function calls (e.g. TransformerBlock calls an
    /// unwritten FeedForward), a message naming that helper; null when the checked function itself is the stub.
    /// Reads the exception's stack: the frames from the throw up to the check's own code (namespace PicoGpt.Exercises);
    /// the outermost learner frame there is the checked function, the first one is the method that threw.
    /// </summary>
    internal static string? StubMessage(Exception e)
    {
        var nie = FindNotImplemented(e);
        if (nie == null) return null;
        var frames = new StackTrace(nie, false).GetFrames();
        var learner = new List<MethodBase>();                              // thrower first, checked function last
        MethodBase? thrower = null;
        foreach (var frame in frames)
        {
            var m = frame.GetMethod();
            if (m == null) continue;
            if (IsCheckCode(m)) break;
            thrower ??= m;
            if (IsLearnerCode(m)) learner.Add(m);
        }
        if (thrower == null || learner.Count == 0) return null;
        if (!IsLearnerCode(thrower)) return null;                          // thrown by a library, not by a stub of the learner's
        var checkedName = LearnerName(learner[^1]) ?? "function";
        if (learner.Count == 1 || learner[0].Equals(learner[^1])) return null; // the checked function is the stub itself
        var helpers = new List<string>();                                  // from the checked function down to the thrower
        for (int i = learner.Count - 2; i >= 0; i--)
        {
            var name = LearnerName(learner[i]) ?? (i == 0 ? "a lambda" : null);
            if (name != null && (helpers.Count == 0 || helpers[^1] != name) && name != LearnerName(learner[^1])) helpers.Add(name);
        }
        if (helpers.Count == 0) return null;
        var stub = helpers[^1];
        return $"your {checkedName} calls {string.Join(", which calls ", helpers)}, which still throws NotImplementedException: "
            + (stub == "a lambda" ? "write that function first, then run this check again"
                                  : $"write {stub} first, then run this check again");
    }

    static Exception? FindNotImplemented(Exception e)
    {
        if (e is NotImplementedException) return e;
        if (e is AggregateException a)
            foreach (var inner in a.InnerExceptions)
                if (FindNotImplemented(inner) is { } found) return found;
        return e.InnerException == null ? null : FindNotImplemented(e.InnerException);
    }

    static readonly Assembly CheckAssembly = typeof(CheckEngine<>).Assembly;

    /// <summary>The check's own code: where the learner's function was called from.</summary>
    static bool IsCheckCode(MethodBase m) =>
        m.DeclaringType?.Assembly == CheckAssembly && (m.DeclaringType.Namespace ?? "").StartsWith("PicoGpt.Exercises", StringComparison.Ordinal);

    /// <summary>Code the learner wrote: not this library, TorchSharp or the framework.</summary>
    static bool IsLearnerCode(MethodBase m)
    {
        var assembly = m.DeclaringType?.Assembly;
        if (assembly == null || assembly == CheckAssembly) return false;
        var name = assembly.GetName().Name ?? "";
        return !(name.StartsWith("System", StringComparison.Ordinal) || name.StartsWith("Microsoft", StringComparison.Ordinal)
                 || name.StartsWith("TorchSharp", StringComparison.Ordinal) || name is "mscorlib" or "netstandard");
    }

    /// <summary>
    /// The name a learner gave a method: "FeedForward" for a script method or a local function
    /// (&lt;Initialize&gt;g__FeedForward|0_0), null for a lambda (&lt;Main&gt;b__0_0).
    /// </summary>
    internal static string? LearnerName(MethodBase m)
    {
        var name = m.Name;
        if (name == "MoveNext" && m.DeclaringType?.Name is { } state && LocalName.Match(state) is { Success: true } sm)
            name = sm.Groups[1].Value;                                     // an async or iterator method's state machine
        var local = LocalFunction.Match(name);
        if (local.Success) return local.Groups[1].Value;
        return name.Contains('<') || name.Contains('>') ? null : name;
    }

    static readonly Regex LocalFunction = new(@"^<[^>]*>g__([^|]+)\|", RegexOptions.Compiled);
    static readonly Regex LocalName = new(@"^<([^>]+)>d__", RegexOptions.Compiled);

    /// <summary>
    /// What to do with a tensor a dispose scope freed: the learner's function made it inside
    /// <c>using var scope = torch.NewDisposeScope()</c> and returned it without moving it out.
    /// </summary>
    internal const string DisposedHint = "a dispose scope freed your result: `using var scope = torch.NewDisposeScope();` disposes every tensor made inside it "
        + "when the function returns, the returned one too; return it with result.MoveToOuterDisposeScope() (or make the scope only around the loop's temporary tensors)";

    internal static bool IsDisposed(Exception e) => e is InvalidOperationException && e.Message.Contains("Tensor invalid") || e is ObjectDisposedException;

    internal static string? SafeHint(Func<string?> f)
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

    /// <summary>A number as a learner reads it in a check (<see cref="Numbers.Check"/>).</summary>
    internal static string Num(double v) => Numbers.Check(v);

    /// <summary>Two numbers with as many digits as it takes to tell them apart (<see cref="Numbers.CheckApart"/>).</summary>
    internal static (string A, string B) Apart(double a, double b) => Numbers.CheckApart(a, b);

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
            return ($"expected dtype {Dtype(expected)}, got {Dtype(got)}" +
                    (expected.is_floating_point() && got.is_floating_point() ? " (keep the inputs' dtype)" : ""), double.NaN);
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
        var (want, have) = Apart(e[first], g[first]);
        return ($"{bad} of {e.Length} values differ; first at {at}: expected {want}, got {have}{finiteErr}", maxErr);
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
