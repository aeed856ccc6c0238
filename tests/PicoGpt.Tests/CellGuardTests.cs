using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PicoGpt.Interactive;

namespace PicoGpt.Tests;

/// <summary>
/// The kernel's cell guard (<see cref="CellGuard"/>, what <see cref="MatMulGuard"/> runs on each cell) on Roslyn in this
/// process: the rewrite keeps every line where it was, and a guard that fails says so under the cell.
/// </summary>
public class CellGuardTests
{
    /// <summary>A compilation of <paramref name="body"/> as a method of a class, with TorchSharp and PicoGpt referenced.</summary>
    static Compilation Compile(string body)
    {
        var source = "using TorchSharp;\nusing static TorchSharp.torch;\nclass C {\nvoid M(Tensor a, Tensor w) {\n" + body + "\n}\n}";
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Private.CoreLib.dll" or "netstandard.dll" or "System.Linq.dll")
            .Concat([typeof(TorchSharp.torch).Assembly.Location, typeof(Ops).Assembly.Location])
            .Select(p => MetadataReference.CreateFromFile(p));
        return CSharpCompilation.Create("cell", [CSharpSyntaxTree.ParseText(source)], refs,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    }

    [Fact]
    public void A_matmul_chain_over_two_lines_keeps_its_line_break()
    {
        var body = "var c = a\n    .matmul(w);\nvar d = torch\n    .matmul(a, w);\nvar e = a.matmul(w) // last\n;";
        var rewritten = CellGuard.Rewrite(Compile(body))!;
        var lines = rewritten.Split('\n');
        Assert.Equal(("using TorchSharp;\nusing static TorchSharp.torch;\nclass C {\nvoid M(Tensor a, Tensor w) {\n" + body + "\n}\n}").Split('\n').Length, lines.Length);
        Assert.Equal("var c = global::PicoGpt.Ops.MatMul(a,", lines[4]);
        Assert.Equal("    w);", lines[5]);
        Assert.Equal("var d = global::PicoGpt.Ops.MatMul", lines[6]);
        Assert.Equal("(a, w);", lines[7]);
        Assert.Equal("var e = global::PicoGpt.Ops.MatMul(a, w) // last", lines[8]);
        Assert.Equal(";", lines[9]);
    }

    [Fact]
    public void Only_torchsharp_matmul_changes()
    {
        Assert.Null(CellGuard.Rewrite(Compile("var c = a.mm(w);")));
        Assert.Equal("var c = global::PicoGpt.Ops.MatMul(a, w.T);", CellGuard.Rewrite(Compile("var c = a.matmul(w.T);"))!.Split('\n')[4]);
    }

    [Fact]
    public void A_guard_that_fails_says_what_is_not_protected_and_the_cell_runs_as_written()
    {
        var warnings = new List<string>();
        var result = CellGuard.Apply("var c = a.matmul(w);", rewrite: true, () => throw new InvalidOperationException("no options\nmore"), warnings.Add);
        Assert.Null(result);
        var warning = Assert.Single(warnings);
        Assert.StartsWith("⚠ PicoGPT could not check this cell (InvalidOperationException: no options)", warning);
        Assert.Contains("its .matmul calls run unchecked", warning);
        warnings.Clear();
        CellGuard.Apply("var s = a.sum(0);", rewrite: true, () => throw new InvalidOperationException("x"), warnings.Add);
        Assert.Contains("a bare 0 read as a dtype (x.sum(0)) is not warned about", Assert.Single(warnings));
        Assert.DoesNotContain(".matmul", warnings[0]);
    }

    [Fact]
    public void The_guard_compiles_only_cells_that_need_it_and_rewrites_only_when_it_may()
    {
        int compiled = 0;
        var warnings = new List<string>();
        Assert.Null(CellGuard.Apply("var c = a.mm(w);", true, () => { compiled++; return Compile("var c = a.mm(w);"); }, warnings.Add));
        Assert.Equal(0, compiled);
        Assert.NotNull(CellGuard.Apply("var c = a.matmul(w);", true, () => Compile("var c = a.matmul(w);"), warnings.Add));
        Assert.Null(CellGuard.Apply("var c = a.matmul(w);", false, () => Compile("var c = a.matmul(w);"), warnings.Add));
        var zero = CellGuard.Apply("var s = a.sum(0);", true, () => Compile("var s = a.sum(0);"), warnings.Add);
        Assert.Null(zero);
        Assert.Contains("x.sum(dim: 0)", Assert.Single(warnings).Replace("a.sum", "x.sum"));
    }

    [Fact]
    public void The_setup_line_names_the_missing_kernel_internal_and_what_is_not_protected()
    {
        Assert.Equal("kernel ready (.matmul checked)", SetupReport.Describe(options: true, rewrite: true));
        var noSetter = SetupReport.Describe(options: true, rewrite: false);
        Assert.Contains(".matmul NOT checked (this kernel's SubmitCode.Code has no setter)", noSetter);
        Assert.DoesNotContain("ready (", noSetter);
        var noOptions = SetupReport.Describe(options: false, rewrite: true);
        Assert.Contains("CSharpKernel._scriptOptions is missing", noOptions);
        Assert.Contains(".matmul is NOT checked", noOptions);
        Assert.Contains("bare 0", noOptions);
    }
}
