using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>
/// A notebook with one cell of each kind, run once in the real .NET Interactive kernel (the tool pinned in
/// .config/dotnet-tools.json), shared by the tests that read its outputs.
/// </summary>
public sealed class KernelNotebookFixture
{
    /// <summary>The setup cell for a notebook outside the course folders: the course bundle from the test's own folder.</summary>
    public static string Setup(bool course = true) =>
        $"#r \"{Path.Combine(AppContext.BaseDirectory, "PicoGpt.Course.dll")}\"\n" +
        "using TorchSharp;\nusing static TorchSharp.torch;\nusing PicoGpt;\n" +
        (course ? "PicoGpt.Course.Setup()" : "PicoGpt.Native.TorchRuntime.Initialize();");

    public static readonly string[] Cells =
    [
        /* 1 */ Setup(),
        /* 2 */ "Console.WriteLine(\"out\"); Console.Error.WriteLine(\"err\");\nvar t = torch.tensor(new double[] { 1, 2, 3 });\nt.sum().item<double>()",
        /* 3 */ "using PicoGpt.Exercises;\ndisplay(Checks.Gelu(Ops.Gelu));\ndisplay(Checks.Gelu(x => x.relu()));\nChecks.Gelu(x => throw new NotImplementedException())",
        /* 4 */ "var a = torch.ones(2, 3);\nvar c = a.matmul(a);",
        /* 5 */ "int wrong = \"s\";",
        /* 6 */ "throw new NotImplementedException();",
        /* 7 */ "var live = PicoGpt.Interactive.Live.Display(\"first\");\nlive.Update(\"second\");",
        /* 8 */ "display(\"a\").Update(\"b\");",
        /* 9 */ "",
        /* 10 */ "string? maybe = null;\nmaybe",
        /* 11 */ "a.sum().item<float>()",
        /* 12 */ "var chart = PicoGpt.Interactive.Live.Display(PicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1 }, new double[] { 2, 1 }));\n" +
                 "chart.Update(PicoGpt.Plots.LinePlot.Loss(new double[] { 0, 1, 2 }, new double[] { 2, 1, 0.625 }));",
        /* 13 */ "var z = torch.tensor(new double[] { 1.5, 2, 3, 4 }).reshape(2, 2);\n" +
                 "var ok = torch.arange(0, 3).sum(dim: 0) + z.sum(0L) + z.mean(new long[] { 0 });\n" +
                 "var total = z.sum(0);\n" +
                 "total.dtype + \" \" + total.item<byte>()",
        /* 14 */ "var m = a\n    .matmul(a.T);\nint bad = \"s\";",
        /* 15 */ "class Native { [System.Runtime.InteropServices.DllImport(\"libc\")] public static extern nint write(int fd, byte[] buffer, nint count); }\n" +
                 "Native.write(1, \"native, no newline\"u8.ToArray(), 18);",
    ];

    public NotebookRun Run { get; }

    public KernelNotebookFixture()
    {
        var nb = NotebookFile.New([NotebookFile.Markdown("# runner test"), .. Cells.Select(c => NotebookFile.Code(c))]);
        Run = new NotebookRunner(new RunnerOptions { CellTimeout = TimeSpan.FromMinutes(3) }).Run(nb, AppContext.BaseDirectory);
    }
}

/// <summary>The runner drives the real kernel: outputs, errors, checks, display updates, compiler notes, the matmul guard.</summary>
public class NotebookRunnerTests(KernelNotebookFixture fixture) : IClassFixture<KernelNotebookFixture>
{
    NotebookRun Run => fixture.Run;
    CellRun Cell(int index) => Run.Cells.Single(c => c.Index == index);

    static string? Text(InteractiveDocumentOutputElement o, string mime) => NotebookFile.Data(o) is { } d ? NotebookFile.DataText(d, mime) : null;
    static string Streams(CellRun c, string name) => string.Concat(c.Outputs.OfType<TextElement>().Where(t => t.Name == name).Select(t => t.Text));

    [Fact]
    public void Setup_cell_reports_what_is_ready_and_nothing_else()
    {
        var setup = Cell(1);
        Assert.Equal(CellStatus.Ok, setup.Status);
        var result = Assert.Single(setup.Outputs.OfType<ReturnValueElement>());
        Assert.StartsWith("PicoGPT.NET: TorchSharp 0.107.0, device cpu", Text(result, "text/plain"));
        Assert.Contains("kernel ready (.matmul checked)", Text(result, "text/plain"));
        Assert.Empty(setup.Outputs.OfType<TextElement>());                          // no "Loading extensions", no warnings
        Assert.DoesNotContain(setup.Outputs, o => (Text(o, "text/plain") ?? "").Contains("Loading extensions"));
    }

    [Fact]
    public void Console_output_and_return_values_become_outputs_without_compiler_noise()
    {
        var c = Cell(2);
        Assert.Equal(CellStatus.Ok, c.Status);
        Assert.Equal("out\n", Streams(c, "stdout"));
        Assert.Equal("err\n", Streams(c, "stderr"));                                // the cell's own stderr, and no CS1701 after it
        Assert.Contains("<pre>6</pre>", Text(Assert.Single(c.Outputs.OfType<ReturnValueElement>()), "text/html")); // the kernel's HTML for a number
        Assert.Equal(2, Run.Notebook.Elements[2].ExecutionOrder);
    }

    [Fact]
    public void Check_results_are_counted_and_carry_html_and_plain_text()
    {
        Assert.Equal(new CheckCounts(1, 1, 1), Run.Checks);
        var outputs = Cell(3).Outputs.Where(o => NotebookFile.Data(o) != null).ToList();
        Assert.Equal(3, outputs.Count);
        Assert.StartsWith("✓ gelu passed", Text(outputs[0], "text/plain"));
        Assert.StartsWith("✗ gelu failed", Text(outputs[1], "text/plain"));
        Assert.Contains("this is ReLU", Text(outputs[1], "text/plain"));
        Assert.StartsWith("… gelu not implemented yet", Text(outputs[2], "text/plain"));
        Assert.Contains("picogpt-check-todo", Text(outputs[2], "text/html"));
    }

    [Fact]
    public void A_raw_matmul_mistake_throws_instead_of_ending_the_kernel()
    {
        var c = Cell(4);
        Assert.Equal(CellStatus.Error, c.Status);
        Assert.Equal("PicoGpt.PicoGptException", c.ErrorName);
        Assert.Contains("matmul shapes do not fit: [2, 3] @ [2, 3]", c.ErrorValue);
        Assert.Equal(CellStatus.Ok, Cell(11).Status);                               // the kernel and its variables live on
        Assert.Contains("<pre>6</pre>", Text(Cell(11).Outputs.OfType<ReturnValueElement>().Single(), "text/html"));
        Assert.Equal("ok", Run.Kernel.Status);
    }

    [Fact]
    public void A_literal_0_taken_as_a_dtype_gets_a_warning_and_the_cell_runs_as_written()
    {
        var c = Cell(13);
        Assert.Equal(CellStatus.Ok, c.Status);
        var shown = c.Outputs.Where(o => o is not ReturnValueElement).Select(o => Text(o, "text/plain")).OfType<string>().ToList();
        var warning = Assert.Single(shown);                                          // arange(0, 3), sum(dim: 0), sum(0L) and mean(new long[] { 0 }) are fine
        Assert.Equal("⚠ line 3: in z.sum(0), C# reads the 0 as a dtype, ScalarType.Byte (a literal 0 converts to any enum), so this calls sum(ScalarType type), " +
                     "not sum over axis 0: it reduces the WHOLE tensor, in bytes. Name the axis: z.sum(dim: 0)", warning);
        Assert.Equal("Byte 10", Text(Assert.Single(c.Outputs.OfType<ReturnValueElement>()), "text/plain")); // 1.5 + 2 + 3 + 4 = 10.5 → 10 as a byte
        Assert.DoesNotContain(Cell(2).Outputs, o => o is not ReturnValueElement && o is not TextElement);       // "t.sum()" has no literal 0: no warning
    }

    [Fact]
    public void The_matmul_rewrite_keeps_the_line_numbers_of_a_chain_over_two_lines()
    {
        var c = Cell(14);
        Assert.Equal("CompilationError", c.ErrorName);
        Assert.StartsWith("(3,11): error CS0029", c.ErrorValue);                    // line 3, as written, not 2
    }

    [Fact]
    public void Native_output_without_a_newline_does_not_hide_the_end_of_the_cell()
    {
        var c = Cell(15);
        Assert.Equal(CellStatus.Ok, c.Status);                                       // the CommandSucceeded after the text was read
        Assert.Contains("native, no newline", Streams(c, "stdout"));
        Assert.True(c.Elapsed < TimeSpan.FromSeconds(60), $"took {c.Elapsed}");
    }

    [Fact]
    public void Compilation_errors_and_stubs_are_errors_with_their_names()
    {
        Assert.Equal(CellStatus.Error, Cell(5).Status);
        Assert.Equal("CompilationError", Cell(5).ErrorName);
        Assert.Contains("CS0029", Cell(5).ErrorValue);
        Assert.True(Cell(6).IsStub);
        var error = Assert.IsType<ErrorElement>(Cell(6).Outputs.Last());
        Assert.Equal("System.NotImplementedException", error.ErrorName);
        Assert.False(Run.Succeeded);
    }

    [Fact]
    public void Live_display_updates_its_output_but_the_kernels_own_display_handle_does_not()
    {
        var live = Assert.Single(Cell(7).Outputs);
        Assert.Equal("second", Text(live, "text/plain"));
        var plain = Assert.Single(Cell(8).Outputs);
        Assert.Equal("a", Text(plain, "text/plain"));                               // kernel 1.0.712001: display(x).Update(y) names no output
    }

    [Fact]
    public void A_live_chart_that_carried_plotly_keeps_it_when_updated()
    {
        var html = Text(Assert.Single(Cell(12).Outputs), "text/html")!;
        Assert.Contains("data-plotlyjs", html);                                    // the notebook's first chart: plotly.js inline
        Assert.Contains("0.625", html);                                           // and the updated data
    }

    [Fact]
    public void Empty_cells_are_skipped_and_level_one_warnings_go_to_stderr_as_in_jupyter()
    {
        Assert.Equal(CellStatus.Skipped, Cell(9).Status);
        Assert.Equal(0, Run.Notebook.Elements[9].ExecutionOrder);
        Assert.Contains("warning CS8632", Streams(Cell(10), "stderr"));
    }
}

/// <summary>What the runner does when a cell kills the kernel, runs too long, or fails with --stop-on-error.</summary>
public class NotebookRunnerFailureTests
{
    static InteractiveDocument Notebook(params string[] cells) => NotebookFile.New(cells.Select(c => NotebookFile.Code(c)).ToArray());

    [Fact]
    public void A_cell_that_kills_the_kernel_is_reported_with_the_reason_and_the_fix_and_the_rest_is_skipped()
    {
        // no Course.Setup(): TorchSharp's own matmul with shapes that do not fit aborts the process
        var run = new NotebookRunner().Run(Notebook(KernelNotebookFixture.Setup(course: false),
            "var a = TorchSharp.torch.ones(2, 3);\na.matmul(a)", "1 + 1"), AppContext.BaseDirectory);
        Assert.Equal(CellStatus.Ok, run.Cells[0].Status);
        var dead = run.Cells[1];
        Assert.Equal(CellStatus.KernelDied, dead.Status);
        Assert.Contains("The kernel process ended while this cell ran (it aborted (SIGABRT): mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3))", dead.ErrorValue);
        Assert.Contains("Ops.MatMul(a, b)", dead.ErrorValue);
        Assert.Contains("setup cell", dead.ErrorValue);
        Assert.Equal("KernelDied", Assert.IsType<ErrorElement>(dead.Outputs.Last()).ErrorName);
        Assert.Equal(CellStatus.Skipped, run.Cells[2].Status);
        Assert.Equal(new KernelOutcome("died", 1, dead.ErrorValue), run.Kernel);
        Assert.False(run.Succeeded);
    }

    [Fact]
    public void A_cell_that_runs_too_long_stops_the_kernel()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var run = new NotebookRunner(new RunnerOptions { CellTimeout = TimeSpan.FromSeconds(20) })
            .Run(Notebook("var x = 1;", "System.Threading.Thread.Sleep(300_000);", "x"), AppContext.BaseDirectory);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"took {watch.Elapsed}");
        Assert.Equal(CellStatus.Ok, run.Cells[0].Status);
        Assert.Equal(CellStatus.TimedOut, run.Cells[1].Status);
        Assert.Contains("longer than 20 s", run.Cells[1].ErrorValue);
        Assert.Equal(CellStatus.Skipped, run.Cells[2].Status);
        Assert.Equal("timeout", run.Kernel.Status);
    }

    [Fact]
    public void Stop_on_error_skips_the_rest()
    {
        var run = new NotebookRunner(new RunnerOptions { StopOnError = true })
            .Run(Notebook("throw new InvalidOperationException(\"boom\");", "1 + 1"), AppContext.BaseDirectory);
        Assert.Equal(CellStatus.Error, run.Cells[0].Status);
        Assert.Equal("System.InvalidOperationException", run.Cells[0].ErrorName);
        Assert.Equal("boom", run.Cells[0].ErrorValue);
        Assert.Equal(CellStatus.Skipped, run.Cells[1].Status);
        Assert.Equal("ok", run.Kernel.Status);
    }

    [Fact]
    public void Failure_messages_parse_into_name_and_value()
    {
        var (name, value, trace) = NotebookRunner.ParseFailure("System.Runtime.InteropServices.ExternalException (0x80004005): mat1 and mat2 shapes\nsecond line\n   at X.Y()");
        Assert.Equal("System.Runtime.InteropServices.ExternalException", name);
        Assert.Equal("mat1 and mat2 shapes\nsecond line", value);
        Assert.Equal(3, trace.Length);
        Assert.Equal("CompilationError", NotebookRunner.ParseFailure("(1,9): error CS0029: Cannot convert\n(2,1): error CS1002: ; expected").Name);
        Assert.Equal("Error", NotebookRunner.ParseFailure("Command cancelled").Name);
    }

    [Fact]
    public void Deaths_are_explained()
    {
        var matmul = NotebookRunner.ExplainDeath("a.matmul(b)", -6, "terminate called after throwing an instance of 'c10::Error'\n  what():  mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)\nframe #0");
        Assert.Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", matmul);
        Assert.Contains("Ops.MatMul", matmul);
        var other = NotebookRunner.ExplainDeath("Environment.Exit(3);", 3, "bye\n");
        Assert.Contains("it exited with code 3", other);
        Assert.Contains("last words: bye", other);
        Assert.DoesNotContain("matmul", other);
    }
}

/// <summary>
/// The three raw-matmul mistakes learners make in notebooks 01, 05 and 06, as they make them, in the real kernel: with
/// the setup cell's guard each becomes a failed check with the reason and a hint, and the kernel lives on.
/// </summary>
public class MatMulMistakeTests
{
    [Fact]
    public void Raw_matmul_mistakes_fail_their_checks_with_an_explanation_instead_of_killing_the_kernel()
    {
        var nb = NotebookFile.New(
            NotebookFile.Code(KernelNotebookFixture.Setup()),
            NotebookFile.Code("using PicoGpt.Exercises;"),
            NotebookFile.Code("Tensor Linear(Tensor x, Tensor w, Tensor b) => w.matmul(x) + b;\nChecks.Linear(Linear)"),
            NotebookFile.Code("Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor mask) =>\n    Ops.Softmax(q.matmul(k.T) / Math.Sqrt(q.shape[^1]) + mask).matmul(v);\nChecks.Attention(Attention)"),
            NotebookFile.Code("""
                Tensor MultiHeadAttention(Tensor x, AttentionParams p, int nHead)
                {
                    var qkv = x.matmul(p.CAttn.W.T) + p.CAttn.B;
                    var parts = qkv.chunk(3, dim: -1);
                    return Ops.Linear(parts[2], p.CProj.W, p.CProj.B);
                }
                Checks.MultiHeadAttention(MultiHeadAttention)
                """),
            NotebookFile.Code("\"still alive\""));
        var run = new NotebookRunner().Run(nb, AppContext.BaseDirectory);
        Assert.Equal("ok", run.Kernel.Status);
        Assert.All(run.Cells, c => Assert.Equal(CellStatus.Ok, c.Status));
        Assert.Equal(new CheckCounts(0, 3, 0), run.Checks);
        string Check(int cell) => NotebookFile.DataText(NotebookFile.Data(run.Cells[cell].Outputs.Single())!, "text/plain")!;
        Assert.Contains("threw PicoGptException: matmul shapes do not fit: [3, 3] @ [2, 3]", Check(2));
        Assert.Contains("Hint: your product is w @ x (w.matmul(x)", Check(2));                    // found by running it on square x and w
        Assert.Contains("threw PicoGptException: matmul shapes do not fit: [2, 4, 8] @ [8, 4, 2]", Check(3)); // k.T reverses all three axes
        Assert.Contains("Hint: the scores are q @ kᵀ", Check(3));
        Assert.Contains("threw PicoGptException: matmul shapes do not fit", Check(4));
        Assert.Contains("Hint:", Check(4));
    }
}
