using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Notebook;
using PicoGpt.Notebooks;
using PicoGpt.Plots;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt notebooks run PATH... [--json] [--out DIR] [--stop-on-error] [--cell-timeout SECONDS]: execute notebooks in
/// the real .NET Interactive kernel (a folder runs its *.ipynb), one fresh kernel per notebook; exit 1 if any cell fails
/// or a kernel dies. A cell that ends the kernel (TorchSharp's matmul abort) is reported with the reason and the fix, and
/// the run goes on with the next notebook. --out writes each executed .ipynb and an offline HTML page.
/// picogpt notebooks strip [--check] [--dir DIR] [--lessons DIR]: regenerate DIR/*.ipynb (default: the repository's
/// notebooks/) from DIR/solutions/*.ipynb, and the lessons (file-based apps, default: lessons/ beside DIR) NAME.cs and
/// solutions/NAME.cs from the same solutions; --check only compares and exits 1 listing the drifted files.
/// </summary>
public sealed class NotebooksCommand : ICommand
{
    public string Name => "notebooks";
    public string Help => "run notebooks in the .NET Interactive kernel (run PATH... [--json] [--out DIR] [--cell-timeout S]) or make learner notebooks and lesson files from solutions (strip [--check])";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "check", "stop-on-error" };

    public int Run(Args args)
    {
        var sub = args.Positionals.FirstOrDefault() ?? throw new CliError("give a subcommand: run PATH... or strip");
        return sub switch
        {
            "run" => RunNotebooks(args),
            "strip" => Strip(args),
            _ => throw new CliError($"unknown subcommand '{sub}' (expected run or strip)"),
        };
    }

    static int RunNotebooks(Args args)
    {
        bool json = args.Flag("json");
        bool stop = args.Flag("stop-on-error");
        var outDir = args.Get("out");
        var timeout = args.Int("cell-timeout", min: 1);
        args.EnsureAllUsed(args.Positionals.Count);
        var paths = args.Positionals.Skip(1).SelectMany(Expand).ToList();
        if (paths.Count == 0) throw new CliError("give at least one notebook (or folder) to run");

        var runner = new NotebookRunner(new RunnerOptions
        {
            StopOnError = stop,
            CellTimeout = timeout is int t ? TimeSpan.FromSeconds(t) : new RunnerOptions().CellTimeout,
        });
        var report = new JsonArray();
        bool ok = true;
        foreach (var path in paths)
        {
            var run = runner.Run(path);
            ok &= run.Succeeded;
            if (outDir != null)
            {
                var stem = Path.Combine(outDir, Path.GetFileNameWithoutExtension(path));
                NotebookFile.Save(run.Notebook, stem + ".ipynb");
                NotebookHtml.Save(run.Notebook, stem + ".html");
            }
            if (json) report.Add(Json(run));
            else Print(run);
        }
        if (json) Console.WriteLine(new JsonObject { ["notebooks"] = report }.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return ok ? 0 : 1;
    }

    static IEnumerable<string> Expand(string path)
    {
        if (Directory.Exists(path)) return Directory.GetFiles(path, "*.ipynb").OrderBy(f => f, StringComparer.Ordinal);
        if (File.Exists(path)) return [path];
        throw new CliError($"notebook not found: {path}");
    }

    static void Print(NotebookRun run)
    {
        int errors = run.Cells.Count(c => c.Status == CellStatus.Error), stubs = run.Cells.Count(c => c.IsStub);
        var c = run.Checks;
        Console.WriteLine($"{run.Path}: {run.Cells.Count} code cells, {run.Cells.Count(x => x.Status == CellStatus.Ok)} ok, {errors} errors" +
                          (stubs > 0 ? $" ({stubs} NotImplementedException stubs)" : "") +
                          $"; checks {c.Passed} passed, {c.Failed} failed, {c.NotImplemented} not implemented; kernel {run.Kernel.Status} ({run.Elapsed.TotalSeconds:0.0} s)");
        foreach (var cell in run.Cells.Where(x => x.Status is CellStatus.Error or CellStatus.KernelDied or CellStatus.TimedOut))
            Console.WriteLine($"  cell {cell.Index}: {cell.ErrorName}: {(cell.Status == CellStatus.Error ? cell.ErrorValue?.Split('\n')[0] : cell.ErrorValue)}");
        foreach (var note in run.Notes) Console.WriteLine($"  note: {note}");
    }

    /// <summary>One notebook in the --json report. Inline plotly.js in chart outputs is elided to a comment.</summary>
    static JsonObject Json(NotebookRun run) => new()
    {
        ["path"] = run.Path,
        ["seconds"] = Math.Round(run.Elapsed.TotalSeconds, 1),
        ["kernel"] = new JsonObject { ["status"] = run.Kernel.Status, ["cell"] = run.Kernel.Cell, ["message"] = run.Kernel.Message },
        ["cells"] = new JsonArray(run.Cells.Select(cell =>
        {
            var o = new JsonObject
            {
                ["index"] = cell.Index,
                ["status"] = cell.Status switch
                {
                    CellStatus.Ok => "ok", CellStatus.Error => "error", CellStatus.KernelDied => "kernel_died",
                    CellStatus.TimedOut => "timeout", _ => "skipped",
                },
                ["seconds"] = Math.Round(cell.Elapsed.TotalSeconds, 2),
                ["outputs"] = new JsonArray(cell.Outputs.SelectMany(Outputs).ToArray()),
            };
            if (cell.ErrorName != null) o["error"] = new JsonObject { ["ename"] = cell.ErrorName, ["evalue"] = cell.ErrorValue };
            return (JsonNode)o;
        }).ToArray()),
        ["checks"] = new JsonObject { ["passed"] = run.Checks.Passed, ["failed"] = run.Checks.Failed, ["not_implemented"] = run.Checks.NotImplemented },
    };

    static IEnumerable<JsonNode> Outputs(InteractiveDocumentOutputElement o) => o switch
    {
        TextElement t => [new JsonObject { ["type"] = "stream", ["mime"] = "text/plain", ["name"] = t.Name, ["text"] = t.Text }],
        ErrorElement e => [new JsonObject { ["type"] = "error", ["mime"] = "text/plain", ["text"] = $"{e.ErrorName}: {e.ErrorValue}" }],
        _ when NotebookFile.Data(o) is { } data => data.Keys.Select(mime => (JsonNode)new JsonObject
        {
            ["type"] = o is ReturnValueElement ? "execute_result" : "display_data", ["mime"] = mime,
            ["text"] = mime == Html.MimeType ? PlotlyJs.Elide(NotebookFile.DataText(data, mime) ?? "") : NotebookFile.DataText(data, mime),
        }),
        _ => [],
    };

    static int Strip(Args args)
    {
        bool check = args.Flag("check");
        var dir = args.Get("dir") ?? (Paths.RepoRoot is { } root ? Path.Combine(root, "notebooks")
            : throw new CliError("repository root not found: give --dir NOTEBOOKS_DIR"));
        var lessons = args.Get("lessons") ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dir))!, "lessons");
        args.EnsureAllUsed(1);
        var repoRoot = Path.GetDirectoryName(Path.GetFullPath(lessons))!;
        var drifted = NotebookStripper.Sync(Path.Combine(dir, "solutions"), dir, check)
            .Concat(LessonGenerator.Sync(repoRoot, dir, lessons, check)).ToList();
        if (check)
        {
            foreach (var f in drifted) Console.WriteLine($"drifted: {f} (run: picogpt notebooks strip)");
            if (drifted.Count == 0) Console.WriteLine($"learner notebooks in {dir} and lessons in {lessons} match their solutions");
            return drifted.Count == 0 ? 0 : 1;
        }
        foreach (var f in drifted) Console.WriteLine($"wrote {f}");
        if (drifted.Count == 0) Console.WriteLine($"learner notebooks in {dir} and lessons in {lessons} were already up to date");
        return 0;
    }
}
