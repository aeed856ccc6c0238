using System.Text.Json.Nodes;
using PicoGpt.Cli;
using PicoGpt.Cli.Commands;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>picogpt notebooks run / strip, called in-process.</summary>
[Collection("plotly page")]
public class NotebooksCommandTests
{
    static (int Code, string Out) Cli(params string[] argv)
    {
        var command = new NotebooksCommand();
        var before = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try { return (command.Run(new Args(argv, command.Flags)), sw.ToString()); }
        finally { Console.SetOut(before); }
    }

    [Fact]
    public void Run_json_reports_cells_outputs_and_checks_and_writes_out_files()
    {
        using var tmp = TestPaths.Temp();
        var dll = Path.Combine(TestPaths.RepoRoot, "lib", "PicoGpt", "bin", "Debug", "net10.0", "PicoGpt.dll");
        var nb = NotebookDocument.New(
        [
            NotebookCell.Code($"#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"{Path.GetRelativePath(tmp.Path, dll)}\"\nusing PicoGpt;"),
            NotebookCell.Code("PicoGpt.Exercises.Checks.Gelu(Ops.Gelu)"),
            NotebookCell.Code("Console.WriteLine(\"hi\");\nPicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1 }, new double[] { 2, 1 })"),
            NotebookCell.Code("throw new NotImplementedException();"),
        ]);
        var path = Path.Combine(tmp.Path, "n.ipynb");
        nb.Save(path);
        var outDir = Path.Combine(tmp.Path, "out");

        var (code, output) = Cli("run", path, "--json", "--out", outDir);
        Assert.Equal(1, code);                                                    // a cell errored (the stub)
        var report = JsonNode.Parse(output)!["notebooks"]![0]!;
        Assert.Equal(path, (string)report["path"]!);
        var cells = report["cells"]!.AsArray();
        Assert.Equal(["ok", "ok", "ok", "error"], cells.Select(c => (string)c!["status"]!));
        Assert.Equal([0, 1, 2, 3], cells.Select(c => (int)c!["index"]!));
        Assert.Equal("System.NotImplementedException", (string)cells[3]!["error"]!["ename"]!);
        var chartCell = cells[2]!["outputs"]!.AsArray();
        Assert.Equal("hi\n", (string)chartCell[0]!["text"]!);
        var html = chartCell.Single(o => (string)o!["mime"]! == "text/html")!;
        Assert.Contains("elided", (string)html["text"]!);                        // no 3.6 MB of plotly.js in the report
        Assert.Contains("Plotly.newPlot", (string)html["text"]!);
        Assert.Equal(1, (int)report["checks"]!["passed"]!);
        Assert.Equal(0, (int)report["checks"]!["failed"]!);
        Assert.Equal(0, (int)report["checks"]!["not_implemented"]!);
        Assert.True(output.Length < 50_000);

        var executed = NotebookDocument.Load(Path.Combine(outDir, "n.ipynb"));
        Assert.Equal(2, executed.Cells[2].Outputs.Count);
        Assert.Contains("data-plotlyjs", File.ReadAllText(Path.Combine(outDir, "n.html")));
    }

    [Fact]
    public void Run_exits_zero_when_every_cell_runs()
    {
        using var tmp = TestPaths.Temp();
        NotebookDocument.New([NotebookCell.Code("1 + 1")]).Save(Path.Combine(tmp.Path, "ok.ipynb"));
        var (code, output) = Cli("run", tmp.Path);                               // a folder runs its notebooks
        Assert.Equal(0, code);
        Assert.Contains("ok.ipynb: 1 code cells, 1 ok, 0 errors", output);
    }

    [Fact]
    public void Strip_and_check()
    {
        using var tmp = TestPaths.Temp();
        var solutions = Directory.CreateDirectory(Path.Combine(tmp.Path, "solutions")).FullName;
        NotebookDocument.New([NotebookCell.Code("int F()\n{\n    // BEGIN SOLUTION\n    return 1;\n    // END SOLUTION\n}")]).Save(Path.Combine(solutions, "a.ipynb"));
        Assert.Equal(1, Cli("strip", "--check", "--dir", tmp.Path).Code);
        var (code, output) = Cli("strip", "--dir", tmp.Path);
        Assert.Equal(0, code);
        Assert.Contains("wrote", output);
        var (checkCode, checkOutput) = Cli("strip", "--check", "--dir", tmp.Path);
        Assert.Equal(0, checkCode);
        Assert.Contains("match their solutions", checkOutput);
    }

    [Fact]
    public void Usage_errors()
    {
        Assert.Throws<CliError>(() => Cli());
        Assert.Throws<CliError>(() => Cli("fly"));
        Assert.Throws<CliError>(() => Cli("run"));
        Assert.Throws<CliError>(() => Cli("run", "/no/such.ipynb"));
        Assert.Throws<CliError>(() => Cli("strip", "--bogus"));
    }
}
