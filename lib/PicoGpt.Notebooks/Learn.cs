using System.Diagnostics;
using System.Text;
using System.Text.Json;
using PicoGpt.Notebook;

namespace PicoGpt.Notebooks;

/// <summary>What one run of a lesson produced: its exit code, its output, and the check verdicts it reported.</summary>
public sealed record LessonRun(int ExitCode, string Output, IReadOnlyList<LessonCheck> Checks);

/// <summary>The status of one exercise in <c>picogpt learn</c>.</summary>
public enum ExerciseState { Todo, Failed, Passed }

/// <summary>What <c>picogpt learn</c> shows after a run of the current lesson.</summary>
public enum LearnOutcome
{
    /// <summary>The lesson did not compile: the compiler's errors are shown.</summary>
    BuildFailed,
    /// <summary>The lesson stopped with an exception or ended the process before all its checks ran.</summary>
    Crashed,
    /// <summary>A check failed: its case and hint are shown.</summary>
    Failing,
    /// <summary>Every check that ran passed or is not implemented yet: the first one to write is named.</summary>
    NotImplemented,
    /// <summary>Every check of the lesson passed: the next lesson becomes current.</summary>
    LessonDone,
    /// <summary>Every check of the last lesson passed and every exercise of the course is done.</summary>
    CourseDone,
}

/// <summary>The outcome of a run, with the check to show (the first failing or not implemented one) and the lines to show.</summary>
public sealed record LearnStep(LearnOutcome Outcome, string Lesson, LessonCheck? Check, string Detail);

/// <summary>
/// <c>picogpt learn</c>'s logic, a state machine over the course's lessons (lessons/*.cs) that knows nothing about
/// terminals or processes: <see cref="Observe"/> takes a run of the current lesson and returns what to show; the
/// state (the current lesson, the state of every exercise) is kept in a small JSON file (.picogpt-learn.json at the
/// repository root, git-ignored). A lesson's exercises come from its exercise lines
/// (<see cref="LessonGenerator.Exercises"/>); its N-th check verdict is its N-th exercise's.
/// </summary>
public sealed class LearnSession
{
    public const string StateFileName = ".picogpt-learn.json";

    sealed class State
    {
        public string? Current { get; set; }
        public Dictionary<string, Dictionary<string, string>> Exercises { get; set; } = new();
    }

    readonly string _lessonsDir;
    readonly string _statePath;
    State _state;

    /// <summary>The lessons, in course order: (name, path, exercises).</summary>
    public IReadOnlyList<(string Name, string Path, IReadOnlyList<LessonGenerator.Exercise> Exercises)> Lessons { get; }

    public LearnSession(string lessonsDir, string statePath)
    {
        _lessonsDir = lessonsDir;
        _statePath = statePath;
        if (!Directory.Exists(lessonsDir)) throw new PicoGptException($"lessons folder not found: {lessonsDir} (run `picogpt notebooks strip` to generate it)");
        Lessons = Directory.GetFiles(lessonsDir, "*.cs").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => (Path.GetFileNameWithoutExtension(f), f, LessonGenerator.Exercises(File.ReadAllText(f))))
            .Where(l => l.Item3.Count > 0).ToList();
        if (Lessons.Count == 0) throw new PicoGptException($"{lessonsDir}: no lesson with exercises (expected NAME.cs files with `{LessonGenerator.ExerciseStart}N` lines)");
        _state = Load(statePath);
        if (_state.Current == null || Lessons.All(l => l.Name != _state.Current)) _state.Current = Lessons[0].Name;
    }

    /// <summary>The session for a repository: lessons/ and the state file at its root.</summary>
    public static LearnSession ForRepository(string root) => new(Path.Combine(root, "lessons"), Path.Combine(root, StateFileName));

    public string Current => _state.Current!;
    public string CurrentPath => Lessons.First(l => l.Name == Current).Path;

    /// <summary>Makes <paramref name="lesson"/> (a name like 05-attention, a prefix like 05, or a path) the current lesson.</summary>
    public void Select(string lesson)
    {
        var name = Path.GetFileNameWithoutExtension(lesson);
        var match = Lessons.FirstOrDefault(l => l.Name == name).Name ?? Lessons.Where(l => l.Name.StartsWith(name, StringComparison.Ordinal)).Select(l => l.Name).FirstOrDefault();
        _state.Current = match ?? throw new PicoGptException($"no lesson '{lesson}' in {_lessonsDir} (lessons: {string.Join(", ", Lessons.Select(l => l.Name))})");
        Save();
    }

    /// <summary>The state of an exercise (by lesson name and exercise name).</summary>
    public ExerciseState StateOf(string lesson, string exercise) =>
        _state.Exercises.TryGetValue(lesson, out var ex) && ex.TryGetValue(exercise, out var s) && Enum.TryParse<ExerciseState>(s, out var st) ? st : ExerciseState.Todo;

    public int Passed => Lessons.Sum(l => l.Exercises.Count(e => StateOf(l.Name, e.Name) == ExerciseState.Passed));
    public int Total => Lessons.Sum(l => l.Exercises.Count);

    /// <summary>
    /// Takes a run of the current lesson: records each exercise's state, moves to the next lesson when every check
    /// passed, saves the state, and says what to show.
    /// </summary>
    public LearnStep Observe(LessonRun run)
    {
        var lesson = Lessons.First(l => l.Name == Current);
        var states = _state.Exercises.TryGetValue(lesson.Name, out var s) ? s : _state.Exercises[lesson.Name] = new();
        for (int i = 0; i < lesson.Exercises.Count && i < run.Checks.Count; i++)
        {
            var c = run.Checks[i];
            states[lesson.Exercises[i].Name] = (c.Passed ? ExerciseState.Passed : c.NotImplemented ? ExerciseState.Todo : ExerciseState.Failed).ToString();
        }
        LearnStep step;
        var failing = run.Checks.FirstOrDefault(c => !c.Passed && !c.NotImplemented);
        var todo = run.Checks.FirstOrDefault(c => c.NotImplemented);
        if (run.Checks.Count == 0 && run.ExitCode != 0 && LooksLikeBuildError(run.Output))
            step = new(LearnOutcome.BuildFailed, lesson.Name, null, BuildErrors(run.Output));
        else if (failing != null)
            step = new(LearnOutcome.Failing, lesson.Name, failing, "");
        else if (run.ExitCode != 0 || run.Checks.Count < lesson.Exercises.Count)
            step = new(LearnOutcome.Crashed, lesson.Name, null, CrashReason(run));
        else if (todo != null)
            step = new(LearnOutcome.NotImplemented, lesson.Name, todo, "");
        else
        {
            var next = Lessons.SkipWhile(l => l.Name != lesson.Name).Skip(1).FirstOrDefault().Name;
            var unfinished = Lessons.FirstOrDefault(l => l.Exercises.Any(e => StateOf(l.Name, e.Name) != ExerciseState.Passed)).Name;
            if (next != null) _state.Current = next;
            else if (unfinished != null) _state.Current = unfinished;
            step = new(next == null && unfinished == null ? LearnOutcome.CourseDone : LearnOutcome.LessonDone, lesson.Name, null, "");
        }
        Save();
        return step;
    }

    static bool LooksLikeBuildError(string output) => output.Contains(": error CS", StringComparison.Ordinal) || output.Contains("The build failed", StringComparison.Ordinal);

    /// <summary>The compiler's error lines (each once, the lesson's path shortened to its file name).</summary>
    static string BuildErrors(string output) => string.Join("\n", output.Split('\n')
        .Where(l => l.Contains(": error ", StringComparison.Ordinal))
        .Select(l => System.Text.RegularExpressions.Regex.Replace(l.Trim(), @"^.*/([^/]+\.cs\(\d+,\d+\))", "$1"))
        .Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"\s*\[[^\]]*\.csproj\]$", ""))
        .Distinct().Take(10));

    static string CrashReason(LessonRun run)
    {
        var lines = run.Output.TrimEnd().Split('\n');
        var exception = lines.FirstOrDefault(l => l.StartsWith("Unhandled exception", StringComparison.Ordinal));
        if (exception != null)
        {
            var i = Array.IndexOf(lines, exception);
            return string.Join("\n", lines.Skip(i).Take(6)).TrimEnd();
        }
        return run.ExitCode is 134 or 139 or -1 || run.ExitCode >= 128
            ? $"the lesson ended without a message (exit code {run.ExitCode}): native code stopped the process. The usual cause is TorchSharp's " +
              "matmul on shapes that do not fit: use Ops.MatMul, which checks the shapes and throws an exception that says what does not fit"
            : $"the lesson stopped (exit code {run.ExitCode}) before all its checks ran; its last lines:\n" + string.Join("\n", lines.TakeLast(6));
    }

    /// <summary>Every lesson and exercise with its state, and the progress (for <c>picogpt learn --list</c>).</summary>
    public string List(bool colour)
    {
        var sb = new StringBuilder();
        foreach (var (name, _, exercises) in Lessons)
        {
            sb.Append(name == Current ? (colour ? "\u001b[1m▶ " : "▶ ") : "  ").Append(name).Append(colour && name == Current ? "\u001b[0m" : "").Append('\n');
            foreach (var e in exercises)
            {
                var st = StateOf(name, e.Name);
                var (mark, code) = st switch { ExerciseState.Passed => ("✓", "32"), ExerciseState.Failed => ("✗", "31"), _ => ("…", "33") };
                var label = st switch { ExerciseState.Passed => "passed", ExerciseState.Failed => "failed", _ => "to do" };
                sb.Append("    ").Append(colour ? $"\u001b[{code}m{mark}\u001b[0m" : mark).Append($" {e.Number}. {e.Name,-22} {label}\n");
            }
        }
        sb.Append(Progress(colour));
        return sb.ToString();
    }

    /// <summary>"Progress: [####------] 12/31 exercises passed".</summary>
    public string Progress(bool colour)
    {
        const int width = 30;
        int filled = Total == 0 ? 0 : Passed * width / Total;
        var bar = new string('#', filled) + new string('-', width - filled);
        if (colour) bar = $"\u001b[32m{bar[..filled]}\u001b[0m{bar[filled..]}";
        return $"Progress: [{bar}] {Passed}/{Total} exercises passed";
    }

    /// <summary>The screen for a step: the lesson, the verdict with its hint, and the progress.</summary>
    public string Screen(LearnStep step, bool colour, IReadOnlyList<string> warnings)
    {
        string Paint(string code, string s) => colour ? $"\u001b[{code}m{s}\u001b[0m" : s;
        var sb = new StringBuilder();
        var lesson = Lessons.First(l => l.Name == step.Lesson);
        sb.Append(Paint("1", $"lesson {step.Lesson}")).Append($"  ({Path.GetRelativePath(Environment.CurrentDirectory, lesson.Path)})\n\n");
        foreach (var w in warnings) sb.Append(Paint("33", "⚠ " + w)).Append('\n');
        if (warnings.Count > 0) sb.Append('\n');
        switch (step.Outcome)
        {
            case LearnOutcome.BuildFailed:
                sb.Append(Paint("1;31", "✗ the lesson does not compile:")).Append('\n').Append(step.Detail).Append('\n');
                break;
            case LearnOutcome.Crashed:
                sb.Append(Paint("1;31", "✗ the lesson stopped before all its checks ran:")).Append('\n').Append(step.Detail).Append('\n');
                break;
            case LearnOutcome.Failing:
            case LearnOutcome.NotImplemented:
                var c = step.Check!;
                var mark = c.NotImplemented ? "…" : "✗";
                var message = c.Hint != null && c.Message.EndsWith(". Hint: " + c.Hint) ? c.Message[..^(". Hint: " + c.Hint).Length] : c.Message;
                sb.Append(Paint(c.NotImplemented ? "1;33" : "1;31", $"{mark} {c.Name} {c.Status}: {message}")).Append('\n');
                if (c.Hint != null) sb.Append(Paint("1", "Hint: ")).Append(c.Hint).Append('\n');
                if (!c.NotImplemented)
                    foreach (var d in c.Details.Where(d => d.StartsWith('✗')).Take(3)) sb.Append("  ").Append(d).Append('\n');
                break;
            case LearnOutcome.LessonDone:
                sb.Append(Paint("1;32", $"✓ every check of {step.Lesson} passed: on to {Current}")).Append('\n');
                break;
            case LearnOutcome.CourseDone:
                sb.Append(Paint("1;32", "✓ every exercise of the course passed. Well done!")).Append('\n');
                break;
        }
        sb.Append('\n');
        foreach (var e in lesson.Exercises)
        {
            var st = StateOf(lesson.Name, e.Name);
            sb.Append("  ").Append(st switch { ExerciseState.Passed => Paint("32", "✓"), ExerciseState.Failed => Paint("31", "✗"), _ => Paint("33", "…") })
              .Append($" {e.Number}. {e.Name}\n");
        }
        sb.Append('\n').Append(Progress(colour)).Append('\n');
        return sb.ToString();
    }

    static State Load(string path)
    {
        if (!File.Exists(path)) return new State();
        try { return JsonSerializer.Deserialize<State>(File.ReadAllText(path)) ?? new State(); }
        catch (JsonException e) { throw new PicoGptException($"{path}: not a picogpt learn state file ({e.Message}); delete it to start over"); }
    }

    void Save() => NotebookFile.WriteAtomic(_statePath, JsonSerializer.Serialize(_state, new JsonSerializerOptions { WriteIndented = true }) + "\n");
}

/// <summary>Runs a lesson with <c>dotnet run</c> from the repository root and collects the verdicts it reports.</summary>
public static class LessonRunner
{
    /// <summary>
    /// <c>dotnet run LESSON</c> in <paramref name="root"/>, its verdicts reported through
    /// <see cref="Terminal.ReportVariable"/>; the output is captured (stdout and stderr together).
    /// </summary>
    public static LessonRun Run(string root, string lessonPath, TimeSpan timeout, CancellationToken cancel = default)
    {
        var report = Path.Combine(Path.GetTempPath(), $"picogpt-learn-{Guid.NewGuid():N}.jsonl");
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add(Path.GetRelativePath(root, lessonPath));
        psi.Environment[Terminal.ReportVariable] = report;
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["OMP_WAIT_POLICY"] = "passive";
        var output = new StringBuilder();
        using var p = Process.Start(psi) ?? throw new PicoGptException("could not start `dotnet` (is the .NET 10 SDK on PATH?)");
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + timeout;
        while (!p.WaitForExit(200))
        {
            if (cancel.IsCancellationRequested || DateTime.UtcNow > deadline)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                File.Delete(report);
                if (cancel.IsCancellationRequested) throw new OperationCanceledException(cancel);
                lock (output) output.Append($"(stopped after {timeout.TotalSeconds:0} s)\n");
                return new LessonRun(124, output.ToString(), []);
            }
        }
        p.WaitForExit();
        var checks = File.Exists(report)
            ? File.ReadAllLines(report).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<LessonCheck>(l)!).ToList()
            : [];
        File.Delete(report);
        lock (output) return new LessonRun(p.ExitCode, output.ToString(), checks);
    }
}
