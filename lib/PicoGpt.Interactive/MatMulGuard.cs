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

    /// <summary>A literal 0 as an argument: the cells worth compiling for <see cref="ZeroAsDtype"/>.</summary>
    static readonly Regex ZeroArgument = new(@"[(,]\s*0\s*[,)]", RegexOptions.Compiled);

    internal static void Install(CSharpKernel kernel, Func<ScriptOptions?> options)
    {
        if (CodeProperty?.SetMethod == null && CodeProperty?.GetSetMethod(nonPublic: true) == null) return;
        kernel.AddMiddleware(async (command, context, next) =>
        {
            bool matmul = command is SubmitCode { Code: var code } && code.Contains("matmul", StringComparison.Ordinal);
            if (command is SubmitCode submit && (matmul || ZeroArgument.IsMatch(submit.Code)))
            {
                try
                {
                    var state = kernel.ScriptState;
                    var opts = options() ?? ScriptOptions.Default;
                    var script = state != null ? state.Script.ContinueWith(submit.Code, opts) : CSharpScript.Create(submit.Code, opts);
                    var compilation = script.GetCompilation();
                    foreach (var warning in ZeroAsDtype.Find(compilation))
                        KernelInvocationContextExtensions.Display(context, "⚠ " + warning, "text/plain");
                    var rewritten = matmul ? Rewrite(compilation) : null;
                    if (rewritten != null) CodeProperty!.SetValue(submit, rewritten);
                }
                catch (Exception)                                            // the guard never stops a cell from running
                {
                }
            }
            await next(command, context);
        }, "PicoGpt.MatMulGuard");
    }

    /// <summary>
    /// The submission's code with every TorchSharp matmul call routed through <see cref="Ops.MatMul"/>, or null when it
    /// has none. <paramref name="compilation"/> is the submission's compilation; its first syntax tree is the code.
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
            ArgumentListSyntax? args = null;
            if (!method.IsStatic && visited.Expression is MemberAccessExpressionSyntax member && visited.ArgumentList.Arguments.Count == 1)
                args = SyntaxFactory.ArgumentList(SyntaxFactory.SeparatedList(
                    [SyntaxFactory.Argument(member.Expression.WithoutTrivia()), visited.ArgumentList.Arguments[0]]));
            else if (method.IsStatic && visited.ArgumentList.Arguments.Count == 2)
                args = visited.ArgumentList;
            if (args == null) return visited;
            Count++;
            return SyntaxFactory.InvocationExpression(Target, args.WithoutTrivia())
                .WithLeadingTrivia(visited.GetLeadingTrivia()).WithTrailingTrivia(visited.GetTrailingTrivia());
        }
    }
}
