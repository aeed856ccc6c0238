using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PicoGpt.Interactive;

namespace PicoGpt.Notebooks;

/// <summary>
/// The kernel's guards, as warnings, for a lesson file (a program: nothing can rewrite it before it compiles). Binds the
/// lesson against the course library's build folder (the one its <c>#:project</c> line names) and the running .NET, then
/// reports each TorchSharp <c>matmul</c> call (<see cref="TorchCalls.MatMulWarnings"/>: mismatched shapes end the process)
/// and each literal 0 read as a dtype (<see cref="ZeroAsDtype.Find"/>: <c>x.sum(0)</c>). <c>picogpt learn</c> shows them
/// before it runs the lesson. A lesson that does not compile gets no warnings here (the compiler's errors say more).
/// </summary>
public static class LessonGuard
{
    static readonly Regex ProjectLine = new(@"^#:project\s+(\S+)\.csproj\s*$", RegexOptions.Multiline | RegexOptions.Compiled);

    /// <summary>The warnings for the lesson at <paramref name="lessonPath"/> (empty when its library is not built).</summary>
    public static IReadOnlyList<string> Check(string lessonPath)
    {
        var text = File.ReadAllText(lessonPath);
        var bin = LibraryBuildFolder(lessonPath, text);
        if (bin == null) return [];
        // #: directives are the SDK's, not the compiler's: blank them, keeping the line numbers
        var source = Regex.Replace(text, @"^#:.*$", "", RegexOptions.Multiline);
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview), lessonPath);
        var implicitUsings = CSharpSyntaxTree.ParseText(
            "global using System; global using System.IO; global using System.Linq; global using System.Collections.Generic; " +
            "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;",
            new CSharpParseOptions(LanguageVersion.Preview));
        var compilation = CSharpCompilation.Create("lesson", [tree, implicitUsings], References(bin),
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Disable));
        if (compilation.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error)) return [];
        return [.. TorchCalls.MatMulWarnings(compilation), .. ZeroAsDtype.Find(compilation)];
    }

    /// <summary>bin/Debug/net10.0 of the project the lesson's <c>#:project</c> line names, or null if it is not built.</summary>
    public static string? LibraryBuildFolder(string lessonPath, string? text = null)
    {
        text ??= File.ReadAllText(lessonPath);
        var m = ProjectLine.Match(text.Replace("\r\n", "\n"));
        if (!m.Success) return null;
        var project = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(lessonPath))!, m.Groups[1].Value + ".csproj"));
        var bin = Path.Combine(Path.GetDirectoryName(project)!, "bin", "Debug", "net10.0");
        return File.Exists(Path.Combine(bin, Path.GetFileNameWithoutExtension(project) + ".dll")) ? bin : null;
    }

    static IEnumerable<MetadataReference> References(string bin)
    {
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var framework = Directory.GetFiles(runtime, "*.dll").Where(IsManaged);
        var library = Directory.GetFiles(bin, "*.dll").Where(IsManaged);
        return framework.Concat(library).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
    }

    static bool IsManaged(string path)
    {
        try { System.Reflection.AssemblyName.GetAssemblyName(path); return true; }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException) { return false; }
    }
}
