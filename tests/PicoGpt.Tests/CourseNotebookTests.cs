using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Notebooks;
using Xunit.Abstractions;

namespace PicoGpt.Tests;

/// <summary>
/// The course's files. Every notebook in notebooks/ (learner) and notebooks/solutions/ is a valid Polyglot nbformat 4.5
/// file whose first cell is a markdown title and whose first code cell is the setup cell; the learner notebooks are
/// exactly the stripped solutions. Notebooks are found by globbing the folders, so notebooks added later are covered.
/// </summary>
public class CourseNotebookTests
{
    /// <summary>The first code cell of every solution notebook, exactly.</summary>
    public const string SetupCell = """
        #r "../../lib/PicoGpt.Course/bin/Debug/net10.0/PicoGpt.Course.dll"
        // The course library, built by `dotnet build` at the repository root (after rebuilding it, restart the kernel).
        using TorchSharp;
        using static TorchSharp.torch;
        using PicoGpt;
        PicoGpt.Course.Setup()
        """;

    /// <summary>The learner's setup cell: notebooks/ is one folder up from notebooks/solutions/.</summary>
    public static readonly string LearnerSetupCell = SetupCell.Replace("#r \"../../lib/", "#r \"../lib/");

    internal static string NotebooksDir => Path.Combine(TestPaths.RepoRoot, "notebooks");
    internal static string SolutionsDir => Path.Combine(NotebooksDir, "solutions");

    internal static string[] Files(string dir) =>
        Directory.Exists(dir) ? Directory.GetFiles(dir, "*.ipynb").Select(f => Path.GetFileName(f)).OrderBy(f => f, StringComparer.Ordinal).ToArray() : [];

    [Fact]
    public void The_course_has_notebooks_and_each_learner_notebook_has_a_solution()
    {
        Assert.True(Files(SolutionsDir).Length >= 11, string.Join(", ", Files(SolutionsDir)));
        Assert.Equal(Files(SolutionsDir), Files(NotebooksDir));
    }

    [Fact]
    public void Notebooks_are_valid_polyglot_files_that_start_with_the_setup_cell()
    {
        var problems = new List<string>();
        foreach (var (dir, setup) in new[] { (SolutionsDir, SetupCell), (NotebooksDir, LearnerSetupCell) })
            foreach (var name in Files(dir))
            {
                var path = Path.Combine(dir, name);
                problems.AddRange(NotebookFile.Problems(path).Select(p => $"{path}: {p}"));
                var nb = NotebookFile.Load(path);
                var first = nb.Elements.FirstOrDefault(c => c.IsCode());
                if (first?.Contents.ReplaceLineEndings("\n") != setup) problems.Add($"{path}: the first code cell is not the setup cell:\n{first?.Contents}");
                if (nb.Elements.FirstOrDefault() is not { } title || title.IsCode() || !title.Contents.StartsWith("# "))
                    problems.Add($"{path}: the first cell should be a markdown title (# NN · ...)");
                if (nb.Elements.Any(c => c.Outputs.Count > 0 || c.ExecutionOrder != 0)) problems.Add($"{path}: committed with outputs");
            }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Learner_notebooks_are_the_stripped_solutions()
    {
        var drifted = NotebookStripper.Sync(SolutionsDir, NotebooksDir, check: true);
        Assert.True(drifted.Count == 0, "out of date (run: picogpt notebooks strip): " + string.Join(", ", drifted));
    }
}

/// <summary>
/// Every notebook as a learner gets it: run in the real .NET Interactive kernel (the tool pinned in
/// .config/dotnet-tools.json, started as VS Code and Jupyter start it), with PICOGPT_NOTEBOOK_QUICK=1 (training notebooks
/// train a few steps). Solutions: every cell runs, every check passes. Learner notebooks: every cell runs and every check
/// says "not implemented yet". Both: no error and no stderr output (compiler warnings included) anywhere, and the
/// executed notebook, charts included, is at most 1.5 MB. Per-notebook kernel times go to the test output
/// (dotnet test --logger "console;verbosity=detailed").
/// </summary>
public abstract class CourseRunTests(ITestOutputHelper output)
{
    /// <summary>The most an executed notebook may weigh (a learner saves and commits it).</summary>
    public const long MaxExecutedBytes = 1_500_000;

    public static TheoryData<string> Names => new(CourseNotebookTests.Files(CourseNotebookTests.SolutionsDir));

    protected NotebookRun Run(string path, IReadOnlyDictionary<string, string?>? environment = null, string? note = null)
    {
        var env = new Dictionary<string, string?> { ["PICOGPT_NOTEBOOK_QUICK"] = "1" };
        if (environment != null) foreach (var (k, v) in environment) env[k] = v;
        // A quick-mode cell takes at most about a minute here; 300 s leaves room for a loaded machine.
        var options = new RunnerOptions { Environment = env, CellTimeout = TimeSpan.FromSeconds(300) };
        var run = new NotebookRunner(options).Run(path);
        var slowest = run.Cells.OrderByDescending(c => c.Elapsed).First();
        output.WriteLine($"{Path.GetRelativePath(CourseNotebookTests.NotebooksDir, path)}{(note != null ? " " + note : "")}: {run.Elapsed.TotalSeconds:0.0} s in the kernel " +
                         $"({run.Cells.Count} code cells, slowest: cell {slowest.Index} {slowest.Elapsed.TotalSeconds:0.0} s); " +
                         $"checks {run.Checks.Passed} passed, {run.Checks.Failed} failed, {run.Checks.NotImplemented} not implemented; " +
                         $"executed {Bytes(run) / 1e6:0.00} MB");
        return run;
    }

    internal static long Bytes(NotebookRun run) => System.Text.Encoding.UTF8.GetByteCount(NotebookFile.ToJson(run.Notebook));

    /// <summary>Everything a learner should not see: failed cells, error outputs, stderr text, the course's kernel warnings.</summary>
    internal static List<string> Problems(NotebookRun run)
    {
        var problems = new List<string>();
        if (run.Kernel.Status != "ok") problems.Add($"kernel {run.Kernel.Status} in cell {run.Kernel.Cell}: {run.Kernel.Message}");
        foreach (var cell in run.Cells)
        {
            if (cell.Status is not (CellStatus.Ok or CellStatus.Skipped)) problems.Add($"cell {cell.Index}: {cell.Status} {cell.ErrorName}: {cell.ErrorValue?.Split('\n')[0]}");
            foreach (var o in cell.Outputs)
                if (o is TextElement { Name: "stderr" } err) problems.Add($"cell {cell.Index}: stderr: {err.Text.Trim()}");
                else if (o is ErrorElement e && cell.Status == CellStatus.Ok) problems.Add($"cell {cell.Index}: error output {e.ErrorName}: {e.ErrorValue}");
                else if (NotebookFile.Data(o) is { } d && NotebookFile.DataText(d, "text/plain") is { } t && t.StartsWith("⚠ "))
                    problems.Add($"cell {cell.Index}: kernel warning: {t}");            // e.g. x.sum(0) read as sum(ScalarType.Byte)
        }
        if (Bytes(run) > MaxExecutedBytes) problems.Add($"the executed notebook is {Bytes(run):N0} bytes (at most {MaxExecutedBytes:N0})");
        return problems;
    }

    internal static string CheckTexts(NotebookRun run, params string[] marks) => string.Join("\n", run.Notebook.Elements.SelectMany(c => c.Outputs)
        .Select(o => NotebookFile.Data(o) is { } d ? NotebookFile.DataText(d, "text/plain") : null)
        .Where(t => t != null && marks.Any(m => t.StartsWith(m))));
}

public class SolutionNotebookTests(ITestOutputHelper output) : CourseRunTests(output)
{
    [Theory]
    [MemberData(nameof(Names))]
    public void Solution_runs_clean_with_every_check_passing(string name)
    {
        var run = Run(Path.Combine(CourseNotebookTests.SolutionsDir, name));
        var problems = Problems(run);
        Assert.True(problems.Count == 0, $"{name}:\n" + string.Join("\n", problems));
        Assert.True(run.Checks.Failed == 0 && run.Checks.NotImplemented == 0, $"{name}: checks {run.Checks}\n{CheckTexts(run, "✗", "…")}");
        Assert.True(run.Checks.Passed >= 2, $"{name}: {run.Checks.Passed} checks passed; every notebook has at least two checked exercises");
    }
}

public class LearnerNotebookTests(ITestOutputHelper output) : CourseRunTests(output)
{
    [Theory]
    [MemberData(nameof(Names))]
    public void Learner_notebook_runs_clean_with_every_check_not_implemented(string name)
    {
        var run = Run(Path.Combine(CourseNotebookTests.NotebooksDir, name));
        var problems = Problems(run);
        Assert.True(problems.Count == 0, $"{name}:\n" + string.Join("\n", problems));
        Assert.True(run.Checks.Passed == 0 && run.Checks.Failed == 0, $"{name}: checks {run.Checks}\n{CheckTexts(run, "✓", "✗")}");
        Assert.True(run.Checks.NotImplemented >= 2, $"{name}: {run.Checks.NotImplemented} checks say not implemented; every notebook has at least two exercises");
    }
}

/// <summary>
/// Notebooks use GPT-2 when weights/gpt2 exists, and the course model otherwise; GPT-2 is rarely downloaded where the
/// tests run. This runs every solution once more against a random model in GPT-2's layout (GPT-2's tokenizer files and
/// vocabulary, 12 layers, 12 heads, context 1024, but only 48 wide) through PICOGPT_WEIGHTS, so the GPT-2 branches run
/// too. The numbers are meaningless; what is tested is that every cell runs clean and every check passes.
/// </summary>
public class Gpt2LayoutNotebookTests(ITestOutputHelper output) : CourseRunTests(output)
{
    [Fact]
    public void Solutions_also_run_when_gpt2_is_downloaded()
    {
        using var weights = TestPaths.Temp();
        var gpt2 = Path.Combine(weights.Path, "gpt2");
        using (var model = new PicoGpt.Model.Gpt(new PicoGpt.Model.GptConfig { VocabSize = 50257, ContextLength = 1024, NEmbd = 48, NLayer = 12, NHead = 12 },
                   TorchSharp.torch.CPU, seed: 7))
            PicoGpt.Weights.Gpt2Checkpoint.Save(model, gpt2);
        PicoGpt.Tokenizers.Gpt2Tokenizer.Default.Save(gpt2);
        var shipped = Directory.CreateDirectory(Path.Combine(weights.Path, PicoGpt.Weights.ModelStore.ShippedModel)).FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "weights", PicoGpt.Weights.ModelStore.ShippedModel)))
            File.Copy(f, Path.Combine(shipped, Path.GetFileName(f)));

        var failures = new List<string>();
        foreach (var name in CourseNotebookTests.Files(CourseNotebookTests.SolutionsDir))
        {
            var run = Run(Path.Combine(CourseNotebookTests.SolutionsDir, name), new Dictionary<string, string?> { ["PICOGPT_WEIGHTS"] = weights.Path }, "with a GPT-2-layout model");
            var problems = Problems(run);
            if (run.Checks.Failed > 0 || run.Checks.NotImplemented > 0) problems.Add($"checks {run.Checks}");
            if (problems.Count > 0) failures.Add($"{name}:\n  " + string.Join("\n  ", problems));
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
