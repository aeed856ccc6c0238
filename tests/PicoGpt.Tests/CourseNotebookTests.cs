using PicoGpt.Model;
using PicoGpt.Notebooks;
using PicoGpt.Weights;
using TorchSharp;
using Xunit.Abstractions;

namespace PicoGpt.Tests;

/// <summary>
/// The course itself. Every notebook in notebooks/ (learner) and notebooks/solutions/ is a valid Polyglot nbformat 4.5
/// file whose first code cell is the setup cell; the learner notebooks are exactly the stripped solutions; every
/// solution runs headless with no cell errors and every check passing; every learner notebook runs with no errors but
/// its stubs and every check "not implemented". Notebooks are found by globbing the folders, so notebooks added later
/// are covered without changing this file. Runs set PICOGPT_NOTEBOOK_QUICK=1 (a training notebook trains a few steps).
/// Per-notebook durations go to the test output (dotnet test --logger "console;verbosity=detailed").
/// </summary>
[Collection("plotly page")] // the runner changes the working directory and the console; PlotlyJs's page state is process-wide
public class CourseNotebookTests(ITestOutputHelper output)
{
    /// <summary>The first code cell of every solution notebook, exactly.</summary>
    public const string SetupCell = """
        #r "nuget: TorchSharp-cpu, 0.107.0"
        #r "nuget: Microsoft.ML.Tokenizers, 2.0.1"
        #r "../../lib/PicoGpt/bin/Debug/net10.0/PicoGpt.dll"
        // Build the library first (dotnet build at the repository root); after rebuilding it, restart the kernel.
        // CUDA: use #r "nuget: TorchSharp-cuda-linux, 0.107.0" instead of TorchSharp-cpu; the library picks cuda when available.
        using TorchSharp;
        using static TorchSharp.torch;
        using PicoGpt;
        PicoGpt.Native.TorchRuntime.Initialize();
        """;

    /// <summary>The learner's setup cell: notebooks/ is one folder up from notebooks/solutions/.</summary>
    public static readonly string LearnerSetupCell = SetupCell.Replace("#r \"../../lib/", "#r \"../lib/");

    static string NotebooksDir => Path.Combine(TestPaths.RepoRoot, "notebooks");
    static string SolutionsDir => Path.Combine(NotebooksDir, "solutions");

    static string[] Files(string dir) =>
        Directory.Exists(dir) ? Directory.GetFiles(dir, "*.ipynb").Select(Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal).ToArray()! : [];

    public static TheoryData<string> Solutions => new(Files(SolutionsDir));
    public static TheoryData<string> Learners => new(Files(NotebooksDir));

    [Fact]
    public void The_course_has_notebooks_and_each_learner_notebook_has_a_solution()
    {
        Assert.NotEmpty(Files(SolutionsDir));
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
                var nb = NotebookDocument.Load(path);
                problems.AddRange(nb.Problems().Select(p => $"{path}: {p}"));
                if (nb.NbFormat != 4 || nb.NbFormatMinor != 5) problems.Add($"{path}: nbformat {nb.NbFormat}.{nb.NbFormatMinor}, expected 4.5");
                var first = nb.Cells.FirstOrDefault(c => c.IsCode);
                if (first?.Source.ReplaceLineEndings("\n") != setup) problems.Add($"{path}: the first code cell is not the setup cell:\n{first?.Source}");
                if (nb.Cells.FirstOrDefault() is not { CellType: "markdown" } title || !title.Source.StartsWith("# "))
                    problems.Add($"{path}: the first cell should be a markdown title (# NN · ...)");
            }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Learner_notebooks_are_the_stripped_solutions()
    {
        var drifted = NotebookStripper.Sync(SolutionsDir, NotebooksDir, check: true);
        Assert.True(drifted.Count == 0, "out of date (run: picogpt notebooks strip): " + string.Join(", ", drifted));
    }

    [Theory]
    [MemberData(nameof(Solutions))]
    public void Solution_runs_with_every_check_passing(string name)
    {
        var path = Path.Combine(SolutionsDir, name);
        var run = Run(path);
        Assert.True(run.Succeeded, $"{name}: cells failed:\n{Errors(run)}");
        Assert.True(run.Checks.Failed == 0 && run.Checks.NotImplemented == 0, $"{name}: checks {run.Checks}\n{CheckOutputs(run)}");
        if (HasChecks(path)) Assert.True(run.Checks.Passed >= 1, $"{name}: has check cells but no check passed ({run.Checks})");
    }

    [Theory]
    [MemberData(nameof(Learners))]
    public void Learner_notebook_runs_with_only_its_stubs_missing(string name)
    {
        var path = Path.Combine(NotebooksDir, name);
        var run = Run(path);
        var errors = run.Cells.Where(c => c.Status == CellStatus.Error && !c.IsStub).ToList();
        Assert.True(errors.Count == 0, $"{name}: cells failed with something else than a stub's NotImplementedException:\n{Errors(run)}");
        Assert.Equal(0, run.Checks.Passed);
        Assert.Equal(0, run.Checks.Failed);
        if (HasChecks(Path.Combine(SolutionsDir, name))) Assert.True(run.Checks.NotImplemented >= 1, $"{name}: no check reported 'not implemented' ({run.Checks})");
    }

    /// <summary>
    /// Notebooks use GPT-2 when weights/gpt2 exists, and the course model otherwise; GPT-2 is rarely downloaded where the
    /// tests run. This runs every solution once more against a random model in GPT-2's layout (GPT-2's tokenizer and
    /// vocabulary, 12 layers, 12 heads, context 1024, but only 48 wide), so the GPT-2 branches run too. The numbers are
    /// meaningless; what is tested is that every cell runs and every check passes.
    /// </summary>
    [Fact]
    public void Solutions_also_run_when_gpt2_is_downloaded()
    {
        using var weights = TestPaths.Temp();
        using (var model = new Gpt(new GptConfig { VocabSize = 50257, ContextLength = 1024, NEmbd = 48, NLayer = 12, NHead = 12 }, torch.CPU, seed: 7))
            Gpt2Checkpoint.Save(model, Path.Combine(weights.Path, "gpt2"));
        PicoGpt.Tokenizers.Gpt2Tokenizer.Default.Save(Path.Combine(weights.Path, "gpt2"));
        var shipped = Directory.CreateDirectory(Path.Combine(weights.Path, ModelStore.ShippedModel)).FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "weights", ModelStore.ShippedModel)))
            File.Copy(f, Path.Combine(shipped, Path.GetFileName(f)));

        var previous = Environment.GetEnvironmentVariable("PICOGPT_WEIGHTS");
        Environment.SetEnvironmentVariable("PICOGPT_WEIGHTS", weights.Path);
        try
        {
            Assert.Equal(Path.Combine(weights.Path, "gpt2"), ModelStore.Resolve(null));
            var failures = new List<string>();
            foreach (var name in Files(SolutionsDir))
            {
                var run = Run(Path.Combine(SolutionsDir, name), "with a GPT-2-layout model");
                if (!run.Succeeded) failures.Add($"{name}: cells failed:\n{Errors(run)}");
                if (run.Checks.Failed > 0 || run.Checks.NotImplemented > 0) failures.Add($"{name}: checks {run.Checks}");
            }
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
        finally { Environment.SetEnvironmentVariable("PICOGPT_WEIGHTS", previous); }
    }

    NotebookRun Run(string path, string? note = null)
    {
        var previous = Environment.GetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK");
        Environment.SetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK", "1");
        try
        {
            var run = new NotebookRunner().Run(path);
            var slowest = run.Cells.OrderByDescending(c => c.Elapsed).First();
            output.WriteLine($"{Path.GetRelativePath(NotebooksDir, path)}{(note != null ? " " + note : "")}: {run.Elapsed.TotalSeconds:0.0} s " +
                             $"({run.Cells.Count} code cells, slowest: cell {slowest.Index} {slowest.Elapsed.TotalSeconds:0.0} s); " +
                             $"checks {run.Checks.Passed} passed, {run.Checks.Failed} failed, {run.Checks.NotImplemented} not implemented");
            return run;
        }
        finally { Environment.SetEnvironmentVariable("PICOGPT_NOTEBOOK_QUICK", previous); }
    }

    static bool HasChecks(string solutionPath) =>
        NotebookDocument.Load(solutionPath).Cells.Any(c => c.IsCode && c.Source.Contains("Checks."));

    static string Errors(NotebookRun run) => string.Join("\n", run.Cells.Where(c => c.Status == CellStatus.Error)
        .Select(c => $"  cell {c.Index}: {c.ErrorName}: {c.ErrorValue?.Split('\n')[0]}"));

    static string CheckOutputs(NotebookRun run) => string.Join("\n", run.Notebook.Cells.SelectMany(c => c.Outputs)
        .Select(o => o.DataText("text/plain")).Where(t => t != null && (t.StartsWith("✗") || t.StartsWith("…"))));
}
