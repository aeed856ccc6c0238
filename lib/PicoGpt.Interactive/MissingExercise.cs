using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;

namespace PicoGpt.Interactive;

/// <summary>
/// When an exercise cell does not compile, the learner's function does not exist, and the check cell below it,
/// <c>Checks.Softmax(Softmax)</c>, fails with the compiler's "CS0103: The name 'Softmax' does not exist in the current
/// context", which reads like a fault of the check. Kernel middleware: before a cell that calls <c>Checks.X(Name)</c>
/// runs, it is compiled; when Name is one of its CS0103 errors, that call becomes <c>Checks.NotCompiled("X", "Name")</c>,
/// a red check box saying that the exercise cell above did not compile and where to see why. Only such cells are
/// compiled (a check cell is one line), and the rest of the cell runs as written.
/// </summary>
public static class MissingExercise
{
    /// <summary>A check call whose argument is a bare name: Checks.Softmax(Softmax).</summary>
    static readonly Regex CheckCall = new(@"(?<![\w.])(?:PicoGpt\.Exercises\.)?Checks\.(\w+)\(\s*(\w+)\s*\)", RegexOptions.Compiled);

    /// <remarks>No static field of this class names a kernel type, so <see cref="Rewrite"/> runs without the kernel's assemblies (in tests).</remarks>
    internal static void Install(CSharpKernel kernel, Func<ScriptOptions?> options)
    {
        var codeProperty = typeof(SubmitCode).GetProperty(nameof(SubmitCode.Code));
        if (codeProperty?.SetMethod == null && codeProperty?.GetSetMethod(nonPublic: true) == null) return;
        kernel.AddMiddleware(async (command, context, next) =>
        {
            if (command is SubmitCode submit && CheckCall.IsMatch(submit.Code))
            {
                try
                {
                    var state = kernel.ScriptState;
                    var opts = options() ?? ScriptOptions.Default;
                    var script = state != null ? state.Script.ContinueWith(submit.Code, opts) : CSharpScript.Create(submit.Code, opts);
                    var compilation = script.GetCompilation();
                    var tree = compilation.SyntaxTrees.FirstOrDefault();
                    var undefined = compilation.GetDiagnostics()
                        .Where(d => d.Id == "CS0103" && d.Location.IsInSource && d.Location.SourceTree == tree)
                        .Select(d => tree!.GetText().ToString(d.Location.SourceSpan));
                    if (Rewrite(submit.Code, undefined) is { } rewritten) codeProperty!.SetValue(submit, rewritten);
                }
                catch (Exception)                                            // never stops a cell from running
                {
                }
            }
            await next(command, context);
        }, "PicoGpt.MissingExercise");
    }

    /// <summary>
    /// The cell with every <c>Checks.X(Name)</c> whose Name is undefined replaced by <c>Checks.NotCompiled("X", "Name")</c>,
    /// or null when there is none. Lines stay where they were.
    /// </summary>
    public static string? Rewrite(string code, IEnumerable<string> undefinedNames)
    {
        var names = new HashSet<string>(undefinedNames, StringComparer.Ordinal);
        if (names.Count == 0) return null;
        int count = 0;
        var result = CheckCall.Replace(code, m =>
        {
            if (!names.Contains(m.Groups[2].Value)) return m.Value;
            count++;
            return $"global::PicoGpt.Exercises.Checks.NotCompiled(\"{m.Groups[1].Value}\", \"{m.Groups[2].Value}\")";
        });
        return count == 0 ? null : result;
    }
}
