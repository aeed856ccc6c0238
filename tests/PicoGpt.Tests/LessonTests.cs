using PicoGpt.Exercises;
using PicoGpt.Notebook;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>
/// The lessons (lessons/NAME.cs, file-based apps generated from the solution notebooks): no drift, what the generator
/// does to cells that a top-level program cannot hold as they are, how answers move between a notebook and a lesson,
/// the lesson guard, and the terminal display. Running every lesson is <see cref="LessonRunTests"/>.
/// </summary>
public class LessonTests
{
    internal static string LessonsDir => Path.Combine(TestPaths.RepoRoot, "lessons");

    [Fact]
    public void Lessons_are_generated_from_the_solution_notebooks()
    {
        var drifted = LessonGenerator.Sync(TestPaths.RepoRoot, CourseNotebookTests.NotebooksDir, LessonsDir, check: true);
        Assert.True(drifted.Count == 0, "out of date (run: picogpt notebooks strip): " + string.Join(", ", drifted));
        var names = CourseNotebookTests.Files(CourseNotebookTests.SolutionsDir).Select(Path.GetFileNameWithoutExtension).ToArray();
        Assert.Equal(names, Directory.GetFiles(LessonsDir, "*.cs").Select(Path.GetFileNameWithoutExtension).OrderBy(n => n, StringComparer.Ordinal).ToArray());
    }

    static Microsoft.DotNet.Interactive.Documents.InteractiveDocument Notebook(params string[] cells) =>
        NotebookFile.New(cells.Select((c, i) => c.StartsWith("# ") ? NotebookFile.Markdown(c, $"c{i}") : NotebookFile.Code(c, $"c{i}")).ToArray());

    [Fact]
    public void A_cell_becomes_top_level_statements_with_usings_first_types_last_and_its_value_displayed()
    {
        var nb = Notebook(
            "# 99 · Test\n\nSome *markdown*.",
            "#r \"../../lib/PicoGpt.Course/bin/Debug/net10.0/PicoGpt.Course.dll\"\n#r \"nuget: Foo.Bar, 1.2.3\"\nusing TorchSharp;\nPicoGpt.Course.Setup()",
            "using System.Text;\nrecord Point(int X, int Y);\nvar p = new Point(1, 2);\np",
            "int Twice(int x)\n{\n    // BEGIN SOLUTION\n    return 2 * x;\n    // END SOLUTION\n}",
            "Console.WriteLine(Twice(3));");
        var learner = LessonGenerator.Generate(nb, "notebooks/solutions/99-test.ipynb", 1, learner: true);
        var lines = learner.Split('\n');
        Assert.Equal("// 99 · Test", lines[0]);
        Assert.Contains("#:project ../lib/PicoGpt.Course/PicoGpt.Course.csproj", lines);
        Assert.Contains("#:package Foo.Bar", lines);
        int firstUsing = Array.IndexOf(lines, "using TorchSharp;"), secondUsing = Array.IndexOf(lines, "using System.Text;");
        int setup = Array.IndexOf(lines, "display(PicoGpt.Course.Setup());"), shown = Array.IndexOf(lines, "display(p);");
        int record = Array.IndexOf(lines, "record Point(int X, int Y);"), statement = Array.IndexOf(lines, "var p = new Point(1, 2);");
        Assert.True(firstUsing > 0 && secondUsing > firstUsing && setup > secondUsing, learner);     // usings above every statement
        Assert.True(statement > setup && shown > statement && record > Array.IndexOf(lines, "Console.WriteLine(Twice(3));"), learner); // the type after the last statement
        Assert.Contains("// Some *markdown*.", lines);
        Assert.Contains("// ── exercise 1: Twice (cell c3) ── your answer goes here ──", lines);
        Assert.Contains("    throw new NotImplementedException();", lines);
        Assert.DoesNotContain("return 2 * x;", learner);
        Assert.Contains("    return 2 * x;", LessonGenerator.Generate(nb, "notebooks/solutions/99-test.ipynb", 2, learner: false));
        Assert.Contains("#:project ../../lib/PicoGpt.Course/PicoGpt.Course.csproj", LessonGenerator.Generate(nb, "x.ipynb", 2, learner: false));
        Assert.Equal([new LessonGenerator.Exercise(1, "Twice", "c3")], LessonGenerator.Exercises(learner));
    }

    [Fact]
    public void Names_a_later_cell_declares_again_are_numbered_so_the_cells_compile_as_one_program()
    {
        var nb = Notebook(
            "# 99 · Test",
            "var layer = 1;\nvar x = 10;\nint Loss() => layer;",
            "foreach (var layer in new[] { 2, 3 })\n{\n    var p = new { layer };\n    Console.WriteLine($\"layer {p.layer} {layer}\");\n}\nFunc<int, int> f = layer => layer + 1;  // a lambda may shadow: kept",
            "Console.WriteLine(x + Loss());",
            "var x = \"ten\";\nint Loss(int n) => n * layer;\nConsole.WriteLine(x + Loss(2) + f(layer));",
            "x");
        var lesson = LessonGenerator.Generate(nb, "notebooks/solutions/99-test.ipynb", 1, learner: false);
        var lines = lesson.Split('\n');
        Assert.Contains("foreach (var layer2 in new[] { 2, 3 })", lines);                       // a loop variable named like a top-level one
        Assert.Contains("    var p = new { layer = layer2 };", lines);                            // the anonymous member keeps its name
        Assert.Contains("    Console.WriteLine($\"layer {p.layer} {layer2}\");", lines);        // member access and strings kept
        Assert.Contains("Func<int, int> f = layer => layer + 1;  // a lambda may shadow: kept", lines);
        Assert.Contains("Console.WriteLine(x + Loss());", lines);                                // before the redeclaration: the first ones
        Assert.Contains("var x2 = \"ten\";", lines);                                             // declared again: numbered, with its uses
        Assert.Contains("int Loss2(int n) => n * layer;", lines);
        Assert.Contains("Console.WriteLine(x2 + Loss2(2) + f(layer));", lines);
        Assert.Contains("display(x2);", lines);
        Assert.Contains("numbered here (layer → layer2, x → x2, Loss → Loss2).", lesson);        // the header says so

        // and the program compiles (it does not without the numbering: CS0136, CS0128)
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var references = Directory.GetFiles(runtime, "System*.dll").Append(Path.Combine(runtime, "netstandard.dll"))
            .Where(p => { try { System.Reflection.AssemblyName.GetAssemblyName(p); return true; } catch (BadImageFormatException) { return false; } })
            .Append(typeof(Terminal).Assembly.Location)
            .Select(p => (Microsoft.CodeAnalysis.MetadataReference)Microsoft.CodeAnalysis.MetadataReference.CreateFromFile(p));
        Microsoft.CodeAnalysis.Diagnostic[] Errors(string program) => Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("lesson",
                [Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(System.Text.RegularExpressions.Regex.Replace(program, "(?m)^#:.*$", "")),
                 Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText("global using System; global using System.Linq;")],
                references, new(Microsoft.CodeAnalysis.OutputKind.ConsoleApplication))
            .GetDiagnostics().Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error).ToArray();
        Assert.Empty(Errors(lesson));
        var unrenamed = lesson.Replace("layer2", "layer").Replace("x2", "x").Replace("Loss2", "Loss");
        Assert.Contains(Errors(unrenamed), d => d.Id == "CS0136");
        Assert.Contains(Errors(unrenamed), d => d.Id == "CS0128");
    }

    [Fact]
    public void A_kernel_command_with_no_file_based_equivalent_is_an_error_naming_the_cell()
    {
        var e = Assert.Throws<PicoGptException>(() => LessonGenerator.Generate(Notebook("#!time\nvar x = 1;"), "nb.ipynb", 1, learner: true));
        Assert.Contains("nb.ipynb cell 0: line 1 `#!time`", e.Message);
    }

    [Fact]
    public void Long_markdown_lines_are_wrapped_into_comments_and_tables_kept()
    {
        var words = string.Join(" ", Enumerable.Repeat("word", 60));
        var comment = LessonGenerator.Comment($"{words}\n\n| a | b |\n| --- | --- |\n- {words}");
        var lines = comment.TrimEnd('\n').Split('\n');
        Assert.All(lines, l => Assert.True(l.StartsWith("//") && (l.Length <= 118 || l.StartsWith("// |")), l));
        Assert.Equal(60 * 2, comment.Split("word").Length - 1);                          // every word kept
        Assert.Contains("// | a | b |", lines);
        Assert.Contains(lines, l => l.StartsWith("//   word"));                         // a list item's continuation is indented
    }

    [Fact]
    public void Answers_move_from_a_learners_notebook_to_the_lesson_and_back()
    {
        using var tmp = TestPaths.Temp();
        var notebooks = Directory.CreateDirectory(Path.Combine(tmp.Path, "notebooks")).FullName;
        var lessons = Directory.CreateDirectory(Path.Combine(tmp.Path, "lessons")).FullName;
        Directory.CreateDirectory(Path.Combine(notebooks, "solutions"));
        var solution = Notebook("# 99 · Test", "int Twice(int x)\n{\n    // BEGIN SOLUTION\n    return 2 * x;\n    // END SOLUTION\n}", "Console.WriteLine(Twice(3));");
        NotebookFile.Save(solution, Path.Combine(notebooks, "solutions", "99-test.ipynb"));
        var learnerNb = NotebookStripper.Strip(solution);
        learnerNb.Elements[1].Contents = "int Twice(int x)\n{\n    return x + x; // mine\n}";
        var nbPath = Path.Combine(notebooks, "99-test.ipynb");
        NotebookFile.Save(learnerNb, nbPath);
        var lessonPath = Path.Combine(lessons, "99-test.cs");
        File.WriteAllText(lessonPath, "old");

        Assert.Equal(1, LessonAnswers.FromNotebook(tmp.Path, nbPath, lessonPath));
        var lesson = File.ReadAllText(lessonPath);
        Assert.Contains("    return x + x; // mine", lesson);
        Assert.Equal("old", File.ReadAllText(lessonPath + ".bak"));
        Assert.Equal(LessonGenerator.Generate(solution, "notebooks/solutions/99-test.ipynb", 1, learner: true,
            new Dictionary<string, string> { ["c1"] = learnerNb.Elements[1].Contents }), lesson);

        File.WriteAllText(lessonPath, lesson.Replace("return x + x; // mine", "return x * 2; // edited in the lesson"));
        Assert.Equal(1, LessonAnswers.ToNotebook(lessonPath, nbPath));
        Assert.Equal("int Twice(int x)\n{\n    return x * 2; // edited in the lesson\n}", NotebookFile.Load(nbPath).Elements[1].Contents);
        Assert.Equal("Console.WriteLine(Twice(3));", NotebookFile.Load(nbPath).Elements[2].Contents);
    }

    [Fact]
    public void The_lesson_guard_names_raw_matmul_and_a_zero_read_as_a_dtype()
    {
        using var tmp = TestPaths.Temp();
        var project = Path.Combine(TestPaths.RepoRoot, "lib", "PicoGpt.Course", "PicoGpt.Course.csproj");
        var lesson = Path.Combine(tmp.Path, "lesson.cs");
        File.WriteAllText(lesson, $"#:project {Path.GetRelativePath(tmp.Path, project)[..^".csproj".Length]}.csproj\nusing TorchSharp;\nusing static TorchSharp.torch;\n" +
                                  "var a = torch.ones(2, 3);\nvar b = a.matmul(a.T);\nvar s = a.sum(0);\nvar ok = PicoGpt.Ops.MatMul(a, a.T).sum(dim: 0);\n");
        var warnings = LessonGuard.Check(lesson);
        Assert.Equal(2, warnings.Count);
        Assert.StartsWith("line 5: a.matmul(a.T) is TorchSharp's matmul", warnings[0]);
        Assert.Contains("Ops.MatMul(a, a.T)", warnings[0]);
        Assert.StartsWith("line 6: in a.sum(0), C# reads the 0 as a dtype", warnings[1]);
    }

    [Fact]
    public void Terminal_display_prints_the_notebooks_verdict_lines_coloured_only_when_asked()
    {
        var failed = Checks.Softmax(x => x.exp());
        var plain = Terminal.Verdict(failed, colour: false);
        Assert.Equal(failed.ToPlainText(), plain);
        Assert.StartsWith("✗ softmax failed: ", plain);
        var coloured = Terminal.Verdict(failed, colour: true);
        Assert.StartsWith("\u001b[1;31m✗ softmax failed: ", coloured);
        Assert.Equal(plain, System.Text.RegularExpressions.Regex.Replace(coloured, "\u001b\\[[0-9;]*m", ""));
        Assert.StartsWith("\u001b[1;33m… softmax not implemented yet", Terminal.Verdict(Checks.Softmax(_ => throw new NotImplementedException()), colour: true));
    }

    [Fact]
    public void Terminal_display_writes_a_chart_to_an_offline_html_file_beside_the_lesson()
    {
        using var tmp = TestPaths.Temp();
        var lesson = Path.Combine(tmp.Path, "07-test.cs");
        var before = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try { Terminal.display(PicoGpt.Plots.LinePlot.Create("a line", "x", "y", new PicoGpt.Plots.Series("s", [0.0, 1, 2], [1.0, 2, 3])), lesson); }
        finally { Console.SetOut(before); }
        var html = Directory.GetFiles(Path.Combine(tmp.Path, "charts"), "07-test-*.html").Single();
        Assert.Contains(html, captured.ToString());
        var page = File.ReadAllText(html);
        Assert.Contains("Plotly.newPlot", page);
        Assert.Contains("data-plotlyjs=", page);                                          // plotly.js inside: opens offline
        Assert.DoesNotContain("<script src=", page);                                     // nothing from the network
    }
}

/// <summary>
/// <c>picogpt learn</c>'s state machine, driven directly with made-up runs (no processes, no timing): a failing check
/// shows its hint, a lesson whose checks all pass moves the learner on, the progress and the state file follow.
/// </summary>
public class LearnSessionTests
{
    static string Lesson(params string[] exercises) => string.Join("\n", exercises.Select((e, i) =>
        $"{LessonGenerator.ExerciseStart}{i + 1}: {e} (cell id{i}) ── your answer goes here ──\nint {e}() {{ throw new NotImplementedException(); }}\n{LessonGenerator.ExerciseEnd}{i + 1} ──"));

    static LessonCheck Pass(string n) => new(n, "passed", "all cases match", null, []);
    static LessonCheck Todo(string n) => new(n, "not implemented yet", "write it", null, []);
    static LessonCheck Fail(string n, string hint) => new(n, "failed", $"case 1 differs. Hint: {hint}", hint, ["✗ case 1: max abs error 1"]);

    static (TempDir Dir, LearnSession Session) Course()
    {
        var tmp = TestPaths.Temp();
        var lessons = Directory.CreateDirectory(Path.Combine(tmp.Path, "lessons")).FullName;
        File.WriteAllText(Path.Combine(lessons, "01-a.cs"), Lesson("Softmax", "LogSoftmax"));
        File.WriteAllText(Path.Combine(lessons, "02-b.cs"), Lesson("Gelu"));
        File.WriteAllText(Path.Combine(lessons, "03-notes.cs"), "// no exercises here");
        return (tmp, LearnSession.ForRepository(tmp.Path));
    }

    [Fact]
    public void A_failing_check_is_shown_with_its_hint_and_passing_every_check_moves_on()
    {
        var (tmp, s) = Course();
        using var _ = tmp;
        Assert.Equal(["01-a", "02-b"], s.Lessons.Select(l => l.Name));
        Assert.Equal((0, 3), (s.Passed, s.Total));

        var step = s.Observe(new LessonRun(0, "", [Todo("softmax"), Todo("log_softmax")]));
        Assert.Equal((LearnOutcome.NotImplemented, "softmax"), (step.Outcome, step.Check!.Name));

        step = s.Observe(new LessonRun(0, "", [Fail("softmax", "subtract the max"), Todo("log_softmax")]));
        Assert.Equal(LearnOutcome.Failing, step.Outcome);
        var screen = s.Screen(step, colour: false, []);
        Assert.Contains("✗ softmax failed: case 1 differs\nHint: subtract the max\n", screen);
        Assert.Contains("✗ 1. Softmax", screen);
        Assert.Contains("Progress: [------------------------------] 0/3 exercises passed", screen);
        Assert.Equal(ExerciseState.Failed, s.StateOf("01-a", "Softmax"));

        step = s.Observe(new LessonRun(0, "", [Pass("softmax"), Todo("log_softmax")]));
        Assert.Equal((LearnOutcome.NotImplemented, "log_softmax", "01-a"), (step.Outcome, step.Check!.Name, s.Current));
        Assert.Equal(1, s.Passed);

        step = s.Observe(new LessonRun(0, "", [Pass("softmax"), Pass("log_softmax")]));
        Assert.Equal(LearnOutcome.LessonDone, step.Outcome);
        Assert.Equal("02-b", s.Current);
        Assert.Contains("on to 02-b", s.Screen(step, colour: false, []));

        // the state survives a restart
        var again = LearnSession.ForRepository(tmp.Path);
        Assert.Equal(("02-b", 2), (again.Current, again.Passed));
        var list = again.List(colour: false);
        Assert.Contains("  01-a\n    ✓ 1. Softmax", list);
        Assert.Contains("▶ 02-b\n    … 1. Gelu", list);
        Assert.EndsWith("2/3 exercises passed", list);

        step = again.Observe(new LessonRun(0, "", [Pass("gelu")]));
        Assert.Equal(LearnOutcome.CourseDone, step.Outcome);
        Assert.Equal(3, again.Passed);
    }

    [Fact]
    public void A_lesson_that_does_not_compile_or_dies_says_why_and_does_not_move_on()
    {
        var (tmp, s) = Course();
        using var _ = tmp;
        var step = s.Observe(new LessonRun(1, "/x/lessons/01-a.cs(12,5): error CS1002: ; expected [/tmp/01-a.csproj]\n\nThe build failed. Fix the build errors and run again.\n", []));
        Assert.Equal(LearnOutcome.BuildFailed, step.Outcome);
        Assert.Equal("01-a.cs(12,5): error CS1002: ; expected", step.Detail);

        step = s.Observe(new LessonRun(134, "✓ softmax passed\n", [Pass("softmax")]));             // killed by libtorch after one check
        Assert.Equal(LearnOutcome.Crashed, step.Outcome);
        Assert.Contains("Ops.MatMul", step.Detail);
        Assert.Equal(("01-a", ExerciseState.Passed), (s.Current, s.StateOf("01-a", "Softmax")));

        step = s.Observe(new LessonRun(0, "", [Pass("softmax"), Fail("log_softmax", "h")]));
        s.Select("02");
        Assert.Equal("02-b", s.Current);
        Assert.Throws<PicoGptException>(() => s.Select("99"));
    }
}

/// <summary>
/// Every lesson as a learner runs it, <c>dotnet run lessons/NAME.cs</c> from the repository root (through
/// <see cref="LessonRunner"/>, as <c>picogpt learn</c> does), with PICOGPT_NOTEBOOK_QUICK=1 as the notebook tests.
/// Solutions: exit 0, a passing verdict per exercise (and any further checks passing). Learner lessons: exit 0, one
/// verdict per exercise, every one "not implemented yet".
/// One build is shared: the lessons reference the course library that this test project's build has already built,
/// so each run compiles only its own file (cached in ~/.local/share/dotnet/runfile until the file changes); package
/// assets stay in the NuGet cache (CopyLocalLockFileAssemblies=false), so a lesson's build folder is 2 MB, not 1 GB.
/// Two lessons run at a time. Per-lesson times go to the test output.
/// </summary>
public class LessonRunTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Every_lesson_runs_solutions_pass_and_learner_versions_say_not_implemented()
    {
        var lessons = Directory.GetFiles(LessonTests.LessonsDir, "*.cs").OrderBy(f => f, StringComparer.Ordinal)
            .SelectMany(f => new[] { (Path: Path.Combine(LessonTests.LessonsDir, "solutions", Path.GetFileName(f)), Solution: true), (Path: f, Solution: false) })
            .ToList();
        Assert.True(lessons.Count >= 30, $"{lessons.Count} lessons");
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var lines = new System.Collections.Concurrent.ConcurrentBag<string>();
        var env = Environment.GetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK");
        Environment.SetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK", "1");
        try
        {
            Parallel.ForEach(lessons, new ParallelOptions { MaxDegreeOfParallelism = 2 }, lesson =>
            {
                var started = System.Diagnostics.Stopwatch.StartNew();
                var run = LessonRunner.Run(TestPaths.RepoRoot, lesson.Path, TimeSpan.FromMinutes(10));
                var rel = Path.GetRelativePath(TestPaths.RepoRoot, lesson.Path);
                int exercises = LessonGenerator.Exercises(File.ReadAllText(lesson.Path)).Count;
                lines.Add($"{rel}: {started.Elapsed.TotalSeconds:0.0} s, exit {run.ExitCode}, verdicts: {string.Join(", ", run.Checks.Select(c => $"{c.Name} {c.Status}"))}");
                var problems = new List<string>();
                if (run.ExitCode != 0) problems.Add($"exit code {run.ExitCode}");
                // a solution may show a check beyond its exercises (12 checks the model it trained against the library's)
                if ((lesson.Solution ? run.Checks.Count < exercises : run.Checks.Count != exercises) || exercises < 2)
                    problems.Add($"{run.Checks.Count} verdicts for {exercises} exercises");
                var wrong = run.Checks.Where(c => lesson.Solution ? !c.Passed : !c.NotImplemented).ToList();
                if (wrong.Count > 0) problems.Add(string.Join("; ", wrong.Select(c => $"{c.Name} {c.Status}: {c.Message}")));
                var noise = run.Output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @": (warning|error) [A-Z]+\d+|^Unhandled exception|^⚠ ")).Take(5).ToList();
                if (noise.Count > 0) problems.Add("output: " + string.Join(" | ", noise));
                if (problems.Count > 0) failures.Add($"{rel}: {string.Join("; ", problems)}\n{string.Join("\n", run.Output.Split('\n').TakeLast(15))}");
            });
        }
        finally { Environment.SetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK", env); }
        foreach (var l in lines.OrderBy(l => l, StringComparer.Ordinal)) output.WriteLine(l);
        Assert.True(failures.IsEmpty, string.Join("\n\n", failures));
    }
}
