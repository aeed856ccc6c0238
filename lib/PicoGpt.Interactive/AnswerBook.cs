using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;

namespace PicoGpt.Interactive;

/// <summary>
/// A learner's answers, carried from one notebook to the next. Each notebook runs in a kernel of its own, so a function
/// written in notebook 02 does not exist in notebook 05. This kernel middleware does two things:
/// <list type="bullet">
/// <item><b>records</b>: after a cell that calls a check (<c>Checks.Softmax(Softmax)</c>) runs and the check passes, the
/// learner's method passed to it, with the methods of the learner's that it calls, is saved as
/// <c>.answers/Softmax.cs</c> in the kernel's working directory (the notebook's folder: <c>notebooks/.answers/</c> for
/// the learner's notebooks, <c>notebooks/solutions/.answers/</c> for the solutions; git-ignored; the environment
/// variable <c>PICOGPT_ANSWERS</c> names another folder). The file holds the using directives of the notebook's cells and
/// the methods' source as the learner wrote them.</item>
/// <item><b>loads</b>: a cell that is exactly <c>Answers.Load("Softmax", "LayerNorm", ...)</c> is replaced, before it
/// runs, by the saved methods (each one compiled first against the notebook so far) and, for each name without a saved
/// answer or whose saved answer no longer compiles, the library's version under the same name and signature; the cell
/// prints one line, e.g. <c>yours: Softmax, LayerNorm; library: Gelu</c>. Later cells call <c>Softmax(x)</c> either way.</item>
/// </list>
/// Outside a kernel nothing here runs (the course's <c>Answers.Load</c> then only says so).
/// </summary>
public static class AnswerBook
{
    /// <summary>The folder's name in the kernel's working directory.</summary>
    public const string FolderName = ".answers";
    /// <summary>An environment variable naming another folder for the answers (the course's tests use a temporary one).</summary>
    public const string FolderVariable = "PICOGPT_ANSWERS";

    /// <summary>Where answers are saved and read: $PICOGPT_ANSWERS, else .answers in the working directory.</summary>
    public static string Folder => Environment.GetEnvironmentVariable(FolderVariable) is { Length: > 0 } dir
        ? dir : Path.Combine(Directory.GetCurrentDirectory(), FolderName);

    /// <summary>The saved answer's file for a method name.</summary>
    public static string PathOf(string name, string? folder = null) => Path.Combine(folder ?? Folder, name + ".cs");

    /// <summary>The library's version of an exercise as a method of the same name and signature (set by the course), or null.</summary>
    internal static Func<string, string?>? LibraryCode;

    static readonly CSharpParseOptions ScriptParse = new(LanguageVersion.Preview, kind: SourceCodeKind.Script);

    /// <summary>Installs the middleware in the running C# kernel; false outside one.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]                       // kernel types stay out of callers' JIT
    internal static bool Install() => InKernel.Install();

    /// <summary>What touches the kernel's types, apart, so the rest runs (and is tested) without the kernel's assemblies.</summary>
    static class InKernel
    {
        static readonly PropertyInfo? CodeProperty = typeof(SubmitCode).GetProperty(nameof(SubmitCode.Code));

        static readonly ConditionalWeakTable<CSharpKernel, object> Installed = new();

        internal static bool Install()
        {
            if (KernelInvocationContext.Current?.HandlingKernel is not CSharpKernel kernel) return false;
            if (Installed.TryGetValue(kernel, out _)) return true;
            if (CodeProperty?.SetMethod == null) return false;
            kernel.AddMiddleware(async (command, context, next) =>
            {
                if (command is SubmitCode load && LoadRequest(load.Code) is { } names)
                {
                    try { CodeProperty.SetValue(load, Compose(names, ReadSaved, n => LibraryCode?.Invoke(n), code => FirstError(kernel, code)).Code); }
                    catch (Exception) { }                                       // the cell then runs as written (and says so)
                }
                await next(command, context);
                if (command is SubmitCode submit && submit.Code.Contains("Checks.", StringComparison.Ordinal) && kernel.ScriptState is { } state)
                {
                    // Recording compiles the cell again (a second or so): done here, before the kernel reports the cell
                    // done, so a later cell's Answers.Load always finds what this cell passed.
                    try { Record(state, submit.Code); }
                    catch (Exception) { }                                       // recording never disturbs the notebook
                }
            }, "PicoGpt.AnswerBook");
            Installed.Add(kernel, new object());
            return true;
        }

        static string? ReadSaved(string name)
        {
            var path = PathOf(name);
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }

        /// <summary>The first compiler error of <paramref name="code"/> run after the notebook's cells so far, or null.</summary>
        static string? FirstError(CSharpKernel kernel, string code)
        {
            var state = kernel.ScriptState;
            var options = KernelSetup.Options(kernel) ?? ScriptOptions.Default;
            var script = state != null ? state.Script.ContinueWith(code, options) : CSharpScript.Create(code, options);
            var error = script.GetCompilation().GetDiagnostics().FirstOrDefault(d => d.Severity == DiagnosticSeverity.Error);
            return error == null ? null : $"{error.Id}: {error.GetMessage()}";
        }

        /// <summary>After a cell ran: saves each learner method passed to a check that passed.</summary>
        static void Record(ScriptState state, string code)
        {
            if (state.Script.Code != code) return;                                   // the cell did not compile
            var compilation = state.Script.GetCompilation();
            object? ValueOf(string? variable) => variable == null ? state.ReturnValue : state.GetVariable(variable)?.Value;
            foreach (var (method, result) in CheckedMethods(compilation, ValueOf))
            {
                if (!Passed(result)) continue;
                if (AnswerFile(compilation, method) is not { } text) continue;
                Save(method.Name, text, Folder);
            }
        }
    }

    // ---------------------------------------------------------------- loading

    /// <summary>The names of a cell that is exactly <c>Answers.Load("A", "B", ...)</c> (string literals only), else null.</summary>
    public static IReadOnlyList<string>? LoadRequest(string code)
    {
        if (!code.Contains("Answers.Load", StringComparison.Ordinal)) return null;
        var root = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(code, ScriptParse).GetRoot();
        if (root.Members.Count != 1 || root.Members[0] is not GlobalStatementSyntax { Statement: ExpressionStatementSyntax { Expression: InvocationExpressionSyntax call } })
            return null;
        var target = call.Expression.ToString().Replace(" ", "");
        if (target is not ("Answers.Load" or "PicoGpt.Answers.Load" or "global::PicoGpt.Answers.Load")) return null;
        var names = new List<string>();
        foreach (var arg in call.ArgumentList.Arguments)
        {
            if (arg.Expression is not LiteralExpressionSyntax { RawKind: (int)SyntaxKind.StringLiteralExpression } literal) return null;
            var name = literal.Token.ValueText;
            if (!SyntaxFacts.IsValidIdentifier(name)) return null;
            if (!names.Contains(name)) names.Add(name);
        }
        return names.Count > 0 ? names : null;
    }

    /// <summary>What a load brings in: the code to run in place of the cell, and the line it prints.</summary>
    public sealed record Loaded(string Code, string Line, IReadOnlyList<string> Yours, IReadOnlyList<string> Library);

    /// <summary>
    /// The code that defines every requested method: the saved answer (<paramref name="saved"/>: the file's text or null)
    /// when it compiles with the answers chosen before it (<paramref name="firstError"/>: the first compiler error of a
    /// piece of code, or null), else the library's (<paramref name="library"/>). Methods a saved answer calls come with it
    /// (as they were when its check passed) unless that method is itself requested. The code ends by printing one line.
    /// </summary>
    public static Loaded Compose(IReadOnlyList<string> names, Func<string, string?> saved, Func<string, string?> library, Func<string, string?> firstError)
    {
        var usings = new List<string>();
        var methods = new List<(string Key, string Name, string Text, bool Requested)>();
        var yours = new List<string>();
        var fromLibrary = new List<string>();
        var notes = new List<string>();

        foreach (var name in names)
        {
            if (saved(name) is { } text)
            {
                var (u, ms) = Parse(text);
                var tryUsings = usings.Union(u).ToList();
                var tryMethods = Merge(methods, ms.Select(m => (m.Key, m.Name, m.Text, m.Name == name)));
                if (!ms.Any(m => m.Name == name))
                    notes.Add($"{name}: the saved file has no method {name}, so the library's is used");
                else if (firstError(Build(tryUsings, tryMethods)) is { } error)
                    notes.Add($"{name}: your saved answer no longer compiles here ({error}), so the library's is used");
                else
                {
                    usings = tryUsings; methods = tryMethods; yours.Add(name);
                    continue;
                }
            }
            if (library(name) is { } lib)
            {
                var (_, ms) = Parse(lib);
                methods = Merge(methods, ms.Select(m => (m.Key, m.Name, m.Text, true)));
                fromLibrary.Add(name);
            }
            else notes.Add($"{name}: no saved answer and no library version of that name");
        }
        var parts = new List<string>();
        if (yours.Count > 0) parts.Add("yours: " + string.Join(", ", yours));
        if (fromLibrary.Count > 0) parts.Add("library: " + string.Join(", ", fromLibrary));
        var line = string.Join("; ", parts.Concat(notes));
        var code = Build(usings, methods) + "\nSystem.Console.WriteLine(" + SymbolDisplay.FormatLiteral(line, quote: true) + ");";
        return new Loaded(code, line, yours, fromLibrary);
    }

    /// <summary>Adds methods: a requested one replaces any method with its signature; a helper never replaces a requested one.</summary>
    static List<(string Key, string Name, string Text, bool Requested)> Merge(
        List<(string Key, string Name, string Text, bool Requested)> chosen, IEnumerable<(string Key, string Name, string Text, bool Requested)> added)
    {
        var result = chosen.ToList();
        foreach (var m in added)
        {
            int at = result.FindIndex(c => c.Key == m.Key);
            if (at < 0) result.Add(m);
            else if (m.Requested || !result[at].Requested) result[at] = m;
        }
        return result;
    }

    static string Build(IEnumerable<string> usings, IEnumerable<(string Key, string Name, string Text, bool Requested)> methods) =>
        string.Join("\n", usings) + "\n" + string.Join("\n\n", methods.Select(m => m.Text));

    /// <summary>A saved file's using directives and top-level methods (key: name and parameter types).</summary>
    static (List<string> Usings, List<(string Key, string Name, string Text)> Methods) Parse(string text)
    {
        var root = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(text, ScriptParse).GetRoot();
        var usings = root.Usings.Select(u => u.ToString().Trim()).ToList();
        var methods = root.Members.OfType<MethodDeclarationSyntax>()
            .Select(m => (Key(m), m.Identifier.ValueText, m.WithoutLeadingTrivia().ToFullString().Trim()))
            .ToList();
        return (usings, methods);
    }

    static string Key(MethodDeclarationSyntax m) =>
        m.Identifier.ValueText + "(" + string.Join(",", m.ParameterList.Parameters.Select(p => p.Type?.ToString().Replace(" ", "") ?? "")) + ")";

    // ---------------------------------------------------------------- recording

    static bool Passed(object? result) =>
        result?.GetType() is { Name: "CheckResult" } t && t.GetProperty("Passed")?.GetValue(result) is true;

    /// <summary>Writes the answer via a temporary file, so a half-written answer never exists.</summary>
    public static void Save(string name, string text, string folder)
    {
        Directory.CreateDirectory(folder);
        var path = PathOf(name, folder);
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// The learner's methods passed to a check in this submission (<c>Checks.X(Method)</c>, or called inside a lambda
    /// passed to it), each with the check's result: <paramref name="valueOf"/> gets the variable the result was assigned
    /// to, or null when the check is the cell's value.
    /// </summary>
    public static List<(IMethodSymbol Method, object? Result)> CheckedMethods(Compilation compilation, Func<string?, object?> valueOf)
    {
        var found = new List<(IMethodSymbol, object?)>();
        var tree = compilation.SyntaxTrees.FirstOrDefault();
        if (tree == null) return found;
        var model = compilation.GetSemanticModel(tree);
        var root = (CompilationUnitSyntax)tree.GetRoot();
        var last = root.Members.LastOrDefault() is GlobalStatementSyntax { Statement: ExpressionStatementSyntax { SemicolonToken.IsMissing: true } e } ? e.Expression : null;
        foreach (var call in root.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (call.Expression is not MemberAccessExpressionSyntax { Expression: var type } || !type.ToString().EndsWith("Checks", StringComparison.Ordinal)) continue;
            if (model.GetSymbolInfo(call).Symbol is not IMethodSymbol { ContainingType.Name: "Checks" }) continue;
            string? variable = call.Parent is EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax v } ? v.Identifier.ValueText : null;
            if (variable == null && call != last) continue;                   // the result is nowhere to read
            object? result;
            try { result = valueOf(variable); } catch (Exception) { continue; }
            foreach (var arg in call.ArgumentList.Arguments)
                foreach (var m in ScriptMethods(model, arg.Expression))
                    if (!found.Any(f => SymbolEqualityComparer.Default.Equals(f.Item1, m))) found.Add((m, result));
        }
        return found;
    }

    /// <summary>Methods declared in earlier cells that an expression names: a method group, or calls inside a lambda.</summary>
    static IEnumerable<IMethodSymbol> ScriptMethods(SemanticModel model, ExpressionSyntax e)
    {
        var nodes = e is LambdaExpressionSyntax ? e.DescendantNodesAndSelf().OfType<InvocationExpressionSyntax>().Select(i => (ExpressionSyntax)i) : [e];
        foreach (var node in nodes)
        {
            var info = model.GetSymbolInfo(node);
            var symbol = info.Symbol ?? info.CandidateSymbols.FirstOrDefault();
            if (symbol is IMethodSymbol { ContainingType.IsScriptClass: true } m && m.DeclaringSyntaxReferences.Length > 0) yield return m;
        }
    }

    /// <summary>
    /// The text of an answer's file: the using directives of every cell so far, then the methods of the learner's that
    /// <paramref name="method"/> calls (directly or not), then the method itself, each as written in its cell. Null when
    /// the method's source is not found.
    /// </summary>
    public static string? AnswerFile(Compilation compilation, IMethodSymbol method)
    {
        var chain = new List<Compilation>();
        for (Compilation? c = compilation; c != null; c = c.ScriptCompilationInfo?.PreviousScriptCompilation) chain.Add(c);
        chain.Reverse();                                                          // earliest cell first
        var usings = new List<string>();
        foreach (var c in chain)
            foreach (var t in c.SyntaxTrees)
                foreach (var u in ((CompilationUnitSyntax)t.GetRoot()).Usings.Select(u => u.ToString().Trim()))
                    if (!usings.Contains(u)) usings.Add(u);

        var ordered = new List<MethodDeclarationSyntax>();                        // callees before callers
        var visiting = new HashSet<SyntaxNode>();
        bool Visit(IMethodSymbol m)
        {
            if (m.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is not MethodDeclarationSyntax decl) return false;
            if (!visiting.Add(decl)) return true;
            var owner = chain.FirstOrDefault(c => c.SyntaxTrees.Contains(decl.SyntaxTree));
            if (owner != null)
            {
                var model = owner.GetSemanticModel(decl.SyntaxTree);
                foreach (var node in decl.DescendantNodes().OfType<ExpressionSyntax>().Where(n => n is InvocationExpressionSyntax or IdentifierNameSyntax))
                {
                    var info = model.GetSymbolInfo(node);
                    if ((info.Symbol ?? info.CandidateSymbols.FirstOrDefault()) is IMethodSymbol { ContainingType.IsScriptClass: true } callee
                        && !SymbolEqualityComparer.Default.Equals(callee.OriginalDefinition, m.OriginalDefinition))
                        Visit(callee);
                }
            }
            ordered.Add(decl);
            return true;
        }
        if (!Visit(method)) return null;
        var header = $"// {method.Name}: your answer, saved when its check passed ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC).\n" +
                     "// A later notebook's Answers.Load(\"" + method.Name + "\") brings it in; delete this file to use the library's instead.\n";
        return header + string.Join("\n", usings) + "\n\n" + string.Join("\n\n", ordered.Distinct().Select(d => d.WithoutLeadingTrivia().ToFullString().Trim())) + "\n";
    }
}
