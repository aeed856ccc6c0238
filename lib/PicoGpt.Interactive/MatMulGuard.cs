using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;

namespace PicoGpt.Interactive;

/// <summary>
/// TorchSharp 0.107's <c>Tensor.matmul</c> (and <c>torch.matmul</c>) end the whole process when the shapes do not fit:
/// libtorch's error escapes the native wrapper uncaught, so the kernel dies with nothing shown and every variable lost.
/// It is the most common mistake of the course (<c>w.matmul(x)</c>, <c>q.matmul(k.T)</c> on a batch,
/// <c>x.matmul(W.T)</c>). The guard is kernel middleware: before a cell runs, every call that binds to a TorchSharp
/// <c>matmul</c> is replaced by <see cref="Ops.MatMul"/>, which checks the shapes and dtypes first and throws a
/// <see cref="PicoGptException"/> saying what does not fit, then calls the same matmul. The rewrite is semantic (only
/// calls Roslyn binds to TorchSharp's matmul change, not a learner's own method of that name), keeps every line where
/// it was (so compiler errors and stack traces point at the learner's lines) and costs a compilation only for cells
/// whose text contains "matmul". The same compilation finds <see cref="ZeroAsDtype"/> mistakes (<c>x.sum(0)</c>), shown
/// as a warning under the cell before it runs.
/// </summary>
public static class MatMulGuard
{
    static readonly PropertyInfo? CodeProperty = typeof(SubmitCode).GetProperty(nameof(SubmitCode.Code));

    /// <summary>True when this kernel's <c>SubmitCode.Code</c> can be set, which the rewrite needs.</summary>
    internal static bool CanRewrite => CodeProperty?.SetMethod != null || CodeProperty?.GetSetMethod(nonPublic: true) != null;

    /// <summary>
    /// Installs the middleware. Without <see cref="CanRewrite"/> only the bare-0 warnings are given (they change nothing).
    /// </summary>
    internal static void Install(CSharpKernel kernel, Func<ScriptOptions?> options)
    {
        bool rewrite = CanRewrite;
        kernel.AddMiddleware(async (command, context, next) =>
        {
            if (command is SubmitCode submit)
            {
                var rewritten = CellGuard.Apply(submit.Code, rewrite, () =>
                {
                    var state = kernel.ScriptState;
                    var opts = options() ?? ScriptOptions.Default;
                    var script = state != null ? state.Script.ContinueWith(submit.Code, opts) : CSharpScript.Create(submit.Code, opts);
                    return script.GetCompilation();
                }, warning => KernelInvocationContextExtensions.Display(context, warning, "text/plain"));
                if (rewritten != null) CodeProperty!.SetValue(submit, rewritten);
            }
            await next(command, context);
        }, "PicoGpt.MatMulGuard");
    }

    /// <summary>
    /// The submission's code with every TorchSharp matmul call routed through <see cref="Ops.MatMul"/>, or null when it
    /// has none. <paramref name="compilation"/> is the submission's compilation; its first syntax tree is the code.
    /// </summary>
    public static string? Rewrite(Compilation compilation) => CellGuard.Rewrite(compilation);
}

/// <summary>
/// What <see cref="MatMulGuard"/> does to one cell, with nothing of the kernel in it (Roslyn only, so tests can run it):
/// compile, warn about bare zeros, rewrite the matmuls. A step that fails is said under the cell, never silently.
/// </summary>
public static class CellGuard
{
    /// <summary>A literal 0 as an argument: the cells worth compiling for <see cref="ZeroAsDtype"/>.</summary>
    static readonly Regex ZeroArgument = new(@"[(,]\s*0\s*[,)]", RegexOptions.Compiled);

    /// <summary>
    /// Checks one cell: the bare-0 warnings go to <paramref name="warn"/>, and the code with its matmuls routed through
    /// <see cref="Ops.MatMul"/> comes back (null: nothing to change, or <paramref name="rewrite"/> is off). The cell runs
    /// whatever happens here; when the check itself fails (the compilation or the rewrite throws), <paramref name="warn"/>
    /// says so and what is not protected, and the cell runs as written.
    /// </summary>
    public static string? Apply(string code, bool rewrite, Func<Compilation> compile, Action<string> warn)
    {
        bool matmul = code.Contains("matmul", StringComparison.Ordinal);
        if (!matmul && !ZeroArgument.IsMatch(code)) return null;
        try
        {
            var compilation = compile();
            foreach (var warning in ZeroAsDtype.Find(compilation)) warn("⚠ " + warning);
            return matmul && rewrite ? Rewrite(compilation) : null;
        }
        catch (Exception e)
        {
            var unprotected = matmul && rewrite
                ? "its .matmul calls run unchecked (shapes that do not fit end the kernel: use Ops.MatMul(a, b) to be safe) and a bare 0 read as a dtype is not warned about"
                : "a bare 0 read as a dtype (x.sum(0)) is not warned about";
            warn($"⚠ PicoGPT could not check this cell ({e.GetType().Name}: {e.Message.Split('\n')[0]}): {unprotected}. The cell ran as written.");
            return null;
        }
    }

    /// <summary>
    /// The submission's code with every TorchSharp matmul call routed through <see cref="Ops.MatMul"/>, or null when it
    /// has none. Every line break stays where it was (a chain split over lines included), so later lines keep their numbers.
    /// </summary>
    public static string? Rewrite(Compilation compilation)
    {
        var tree = compilation.SyntaxTrees.FirstOrDefault();
        if (tree == null) return null;
        var rewriter = new Rewriter(compilation.GetSemanticModel(tree));
        var root = tree.GetRoot();
        var result = rewriter.Visit(root);
        return rewriter.Count == 0 ? null : result.ToFullString();
    }

    sealed class Rewriter(SemanticModel model) : CSharpSyntaxRewriter
    {
        public int Count { get; private set; }

        static readonly ExpressionSyntax Target = SyntaxFactory.ParseExpression("global::PicoGpt.Ops.MatMul");

        public override SyntaxNode? VisitInvocationExpression(InvocationExpressionSyntax node)
        {
            var method = TorchCalls.MatMul(model, node);
            var visited = (InvocationExpressionSyntax)base.VisitInvocationExpression(node)!;
            if (method == null) return visited;
            InvocationExpressionSyntax result;
            if (!method.IsStatic && visited.Expression is MemberAccessExpressionSyntax member && visited.ArgumentList.Arguments.Count == 1)
            {
                // x⏎  .matmul(w)  →  Ops.MatMul(x,⏎  w): the trivia between x and w (line breaks, comments) moves after the comma
                var between = member.Expression.GetTrailingTrivia()
                    .AddRange(member.OperatorToken.LeadingTrivia).AddRange(member.OperatorToken.TrailingTrivia)
                    .AddRange(member.Name.GetLeadingTrivia()).AddRange(member.Name.GetTrailingTrivia())
                    .AddRange(visited.ArgumentList.OpenParenToken.LeadingTrivia).AddRange(visited.ArgumentList.OpenParenToken.TrailingTrivia);
                if (!between.Any(t => t.IsKind(SyntaxKind.EndOfLineTrivia) || t.IsKind(SyntaxKind.SingleLineCommentTrivia) || t.IsKind(SyntaxKind.MultiLineCommentTrivia)))
                    between = SyntaxFactory.TriviaList(SyntaxFactory.Space);
                var comma = SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(between);
                var args = SyntaxFactory.ArgumentList(SyntaxFactory.SeparatedList(
                        [SyntaxFactory.Argument(member.Expression.WithoutTrivia()), visited.ArgumentList.Arguments[0]], [comma]))
                    .WithCloseParenToken(visited.ArgumentList.CloseParenToken);
                result = SyntaxFactory.InvocationExpression(Target, args);
            }
            else if (method.IsStatic && visited.ArgumentList.Arguments.Count == 2)
            {
                // torch⏎  .matmul(a, b): the trivia inside the callee goes after the new one
                var inner = visited.Expression.DescendantTokens().SelectMany(t => t.LeadingTrivia.Concat(t.TrailingTrivia))
                    .Skip(visited.Expression.GetLeadingTrivia().Count);
                result = SyntaxFactory.InvocationExpression(Target.WithTrailingTrivia(inner.Where(t => !t.IsKind(SyntaxKind.WhitespaceTrivia))), visited.ArgumentList);
            }
            else return visited;
            Count++;
            return result.WithLeadingTrivia(visited.GetLeadingTrivia()).WithTrailingTrivia(visited.GetTrailingTrivia());
        }
    }
}
