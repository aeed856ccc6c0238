using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>The headless runner executes a notebook written here, cell by cell, as a kernel would.</summary>
[Collection("plotly page")] // PlotlyJs's page state and the console are process-wide
public class NotebookRunnerTests
{
    /// <summary>The setup cell every notebook starts with: the backend package, then the built library by relative path.</summary>
    static string SetupCell(string notebookDir)
    {
        var dll = Path.Combine(TestPaths.RepoRoot, "lib", "PicoGpt", "bin", "Debug", "net10.0", "PicoGpt.dll");
        return $"#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"{Path.GetRelativePath(notebookDir, dll)}\"\nusing PicoGpt;\nusing TorchSharp;\nusing static TorchSharp.torch;";
    }

    static NotebookDocument Sample(string dir) => NotebookDocument.New(
    [
        NotebookCell.Markdown("# A test notebook\nIt has *every* kind of cell."),
        NotebookCell.Code(SetupCell(dir)),                                                              // 1
        NotebookCell.Code("var x = torch.ones(2, 3);\nConsole.WriteLine(\"hello\");\ndisplay(PicoGpt.Notebook.Show.Tensor(x));\nx.shape[1]"), // 2
        NotebookCell.Code("PicoGpt.Exercises.Checks.Gelu(Ops.Gelu)"),                                   // 3
        NotebookCell.Code("Tensor MySoftmax(Tensor t)\n{\n    throw new NotImplementedException();\n}\nPicoGpt.Exercises.Checks.Softmax(MySoftmax)"), // 4
        NotebookCell.Code("display(PicoGpt.Exercises.Checks.Gelu(t => t.relu()));\nthrow new InvalidOperationException(\"boom\");"), // 5
        NotebookCell.Code("int Twice(int v) => v * 2;\nTwice((int)x.shape[0] * 10 + 1)"),             // 6
        NotebookCell.Code("undefinedVariable + 1"),                                                     // 7
        NotebookCell.Code("MySoftmax(x)"),                                                              // 8
        NotebookCell.Code("#r \"nuget: Humanizer, 2.14.1\"\n1"),                                        // 9
        NotebookCell.Code("PicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1 }, new double[] { 2, 1 })"), // 10
        NotebookCell.Code("PicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1 }, new double[] { 3, 1 })"), // 11
        NotebookCell.Code("Environment.CurrentDirectory"),                                              // 12
    ]);

    [Fact]
    public void Runs_cells_in_order_with_outputs_errors_and_checks()
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "sample.ipynb");
        Sample(tmp.Path).Save(path);

        var run = new NotebookRunner().Run(path);
        var cells = run.Cells.ToDictionary(c => c.Index);
        Assert.Equal(12, run.Cells.Count);                                       // code cells only
        Assert.False(run.Succeeded);

        Assert.Equal(CellStatus.Ok, cells[1].Status);
        Assert.Empty(cells[1].Outputs);

        var c2 = cells[2];
        Assert.Equal(CellStatus.Ok, c2.Status);
        Assert.Equal(["stream", "display_data", "execute_result"], c2.Outputs.Select(o => o.OutputType));
        Assert.Equal("hello\n", c2.Outputs[0].Text);
        Assert.Contains("Tensor [2, 3] float32 on cpu", c2.Outputs[1].DataText("text/html"));
        Assert.Equal("3", c2.Outputs[2].DataText("text/plain"));
        Assert.Equal(2, c2.Outputs[2].ExecutionCount);

        Assert.Contains("picogpt-check-pass", cells[3].Outputs.Single().DataText("text/html"));
        Assert.Contains("picogpt-check-todo", cells[4].Outputs.Single().DataText("text/html"));

        var c5 = cells[5];
        Assert.Equal(CellStatus.Error, c5.Status);
        Assert.Equal("System.InvalidOperationException", c5.ErrorName);
        Assert.Equal("boom", c5.ErrorValue);
        Assert.Equal(["display_data", "error"], c5.Outputs.Select(o => o.OutputType));  // the display before the throw is kept
        Assert.Contains(c5.Outputs[1].Traceback, l => l.StartsWith("System.InvalidOperationException: boom"));

        Assert.Equal("42", cells[6].Outputs.Single().DataText("text/plain"));  // state survives the error

        Assert.Equal(CellStatus.Error, cells[7].Status);
        Assert.Equal("CompilationError", cells[7].ErrorName);
        Assert.Contains("CS0103", cells[7].ErrorValue);
        Assert.Contains("(1,1)", cells[7].ErrorValue);

        Assert.Equal(CellStatus.Error, cells[8].Status);
        Assert.True(cells[8].IsStub);
        Assert.False(cells[5].IsStub);

        Assert.Equal("NotebookDirectiveError", cells[9].ErrorName);
        Assert.Contains("Humanizer", cells[9].ErrorValue);

        var firstChart = cells[10].Outputs.Single().DataText("text/html")!;
        var secondChart = cells[11].Outputs.Single().DataText("text/html")!;
        Assert.Contains("data-plotlyjs", firstChart);
        Assert.DoesNotContain("data-plotlyjs", secondChart);
        Assert.Contains("Plotly.newPlot", secondChart);

        Assert.Equal(tmp.Path, cells[12].Outputs.Single().DataText("text/plain"));

        Assert.Equal(new CheckCounts(1, 1, 1), run.Checks);                       // gelu passed, relu gelu failed, softmax stub

        // the executed notebook carries the outputs and execution counts; the input file is unchanged
        Assert.Equal(3, run.Notebook.Cells[2].Outputs.Count);
        Assert.Equal(2, run.Notebook.Cells[2].ExecutionCount);
        Assert.Empty(NotebookDocument.Load(path).Cells[2].Outputs);
        Assert.Empty(run.Notebook.Problems());
    }

    [Fact]
    public void Stop_on_error_skips_the_rest()
    {
        using var tmp = TestPaths.Temp();
        var nb = NotebookDocument.New([NotebookCell.Code("1"), NotebookCell.Code("throw new Exception(\"x\");"), NotebookCell.Code("3")]);
        var run = new NotebookRunner(new RunnerOptions { StopOnError = true }).Run(nb, tmp.Path);
        Assert.Equal([CellStatus.Ok, CellStatus.Error, CellStatus.Skipped], run.Cells.Select(c => c.Status));
        Assert.Null(run.Notebook.Cells[2].ExecutionCount);
    }

    [Fact]
    public void Notebook_without_the_setup_cell_cannot_see_the_library()
    {
        // like a kernel: nothing is referenced until #r says so
        using var tmp = TestPaths.Temp();
        var run = new NotebookRunner().Run(NotebookDocument.New([NotebookCell.Code("PicoGpt.Ops.Gelu(null!)")]), tmp.Path);
        Assert.Equal("CompilationError", run.Cells[0].ErrorName);
    }

    [Fact]
    public void Missing_dll_path_with_a_host_assembly_name_uses_the_runners_copy()
    {
        using var tmp = TestPaths.Temp();
        var run = new NotebookRunner().Run(NotebookDocument.New(
            [NotebookCell.Code("#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"../not/built/yet/PicoGpt.dll\"\nPicoGpt.Ops.Gelu(TorchSharp.torch.ones(1)).item<float>()")]), tmp.Path);
        Assert.Equal(CellStatus.Ok, run.Cells[0].Status);
        Assert.StartsWith("0.841", run.Cells[0].Outputs.Single().DataText("text/plain"));
    }

    [Fact]
    public void Display_returns_a_handle_whose_Update_replaces_that_output()
    {
        // .NET Interactive's display() returns a DisplayedValue with Update(object): a live loss chart relies on it
        using var tmp = TestPaths.Temp();
        var nb = NotebookDocument.New(
        [
            NotebookCell.Code(SetupCell(tmp.Path)),                                                                        // 0
            NotebookCell.Code("var handle = display(PicoGpt.Plots.LinePlot.Loss(new double[] { 0 }, new double[] { 9 }));\n" +
                              "Console.WriteLine(\"training\");\n" +
                              "for (int i = 1; i <= 3; i++) handle.Update(PicoGpt.Plots.LinePlot.Loss(Enumerable.Range(0, i + 1).Select(s => (double)s).ToArray(), Enumerable.Range(0, i + 1).Select(s => 9.0 - s).ToArray()));\n" +
                              "var note = display(\"first\");"),                                                        // 1
            NotebookCell.Code("note.Update(\"second\");\nnote.Update(PicoGpt.Exercises.Checks.Gelu(Ops.Gelu));\ndisplay(1)"),   // 2
            NotebookCell.Code("note.Update(PicoGpt.Exercises.Checks.Gelu(t => t.relu()));\nhandle.DisplayId.Length"),    // 3
        ]);
        var run = new NotebookRunner().Run(nb, tmp.Path);
        Assert.True(run.Succeeded, string.Join("; ", run.Cells.Select(c => c.ErrorValue)));

        var c1 = run.Cells[1].Outputs;
        Assert.Equal(["display_data", "stream", "display_data"], c1.Select(o => o.OutputType)); // updated in place, not appended
        var chart = c1[0].DataText("text/html")!;
        Assert.Contains("\"y\":[9,8,7,6]", chart);                                    // the last update's data
        Assert.Contains("data-plotlyjs", chart);                                        // still carries the page's plotly.js
        Assert.Equal("training\n", c1[1].Text);

        // an update from a later cell replaces the output of the cell that displayed it (in the saved notebook too)
        Assert.Contains("picogpt-check-fail", c1[2].DataText("text/html"));
        Assert.Contains("picogpt-check-fail", run.Notebook.Cells[1].Outputs[2].DataText("text/html"));
        Assert.Equal("1", run.Cells[2].Outputs.Single().DataText("text/plain"));        // display(...) as the last expression: shown once
        Assert.Equal("32", run.Cells[3].Outputs.Single().DataText("text/plain"));
        Assert.Equal(new CheckCounts(0, 1, 0), run.Checks);                            // the replaced passing check no longer counts
    }
}
