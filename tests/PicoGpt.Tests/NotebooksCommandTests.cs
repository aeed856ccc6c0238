using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Cli;
using PicoGpt.Cli.Commands;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>picogpt notebooks run (in the real kernel) / strip, called in-process.</summary>
[Collection("console")] // redirects Console.Out
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
        var nb = NotebookFile.New(
            NotebookFile.Code(KernelNotebookFixture.Setup()),
            NotebookFile.Code("PicoGpt.Exercises.Checks.Gelu(Ops.Gelu)"),
            NotebookFile.Code("Console.WriteLine(\"hi\");\nPicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1 }, new double[] { 2, 1 })"),
            NotebookFile.Code("throw new NotImplementedException();"));
        var path = Path.Combine(tmp.Path, "n.ipynb");
        NotebookFile.Save(nb, path);
        var outDir = Path.Combine(tmp.Path, "out");

        var (code, output) = Cli("run", path, "--json", "--out", outDir);
        Assert.Equal(1, code);                                                    // a cell errored (the stub)
        var report = JsonNode.Parse(output)!["notebooks"]![0]!;
        Assert.Equal(path, (string)report["path"]!);
        Assert.Equal("ok", (string)report["kernel"]!["status"]!);
        Assert.True((double)report["seconds"]! > 0);
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

        var executed = NotebookFile.Load(Path.Combine(outDir, "n.ipynb"));
        Assert.Equal(2, executed.Elements[2].Outputs.Count);
        Assert.IsType<ReturnValueElement>(executed.Elements[2].Outputs[1]);
        Assert.Contains("data-plotlyjs", File.ReadAllText(Path.Combine(outDir, "n.html")));
    }

    [Fact]
    public void Run_exits_zero_when_every_cell_runs()
    {
        using var tmp = TestPaths.Temp();
        NotebookFile.Save(NotebookFile.New(NotebookFile.Code("1 + 1")), Path.Combine(tmp.Path, "ok.ipynb"));
        var (code, output) = Cli("run", tmp.Path);                               // a folder runs its notebooks
        Assert.Equal(0, code);
        Assert.Contains("ok.ipynb: 1 code cells, 1 ok, 0 errors; checks 0 passed, 0 failed, 0 not implemented; kernel ok (", output);
    }

    [Fact]
    public void Strip_and_check()
    {
        using var tmp = TestPaths.Temp();
        var solutions = Directory.CreateDirectory(Path.Combine(tmp.Path, "solutions")).FullName;
        NotebookFile.Save(NotebookFile.New(NotebookFile.Code("int F()\n{\n    // BEGIN SOLUTION\n    return 1;\n    // END SOLUTION\n}")), Path.Combine(solutions, "a.ipynb"));
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
        Assert.Contains("--cell-timeout must be at least 1", Assert.Throws<CliError>(() => Cli("run", ".", "--cell-timeout", "0")).Message);
    }
}
