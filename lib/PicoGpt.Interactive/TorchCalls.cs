using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PicoGpt.Interactive;

/// <summary>
/// Finds TorchSharp's <c>matmul</c> calls in C# code (Roslyn only, no kernel types: <c>picogpt learn</c> uses it on
/// lesson files too). <see cref="MatMulGuard"/> rewrites them in a kernel; a program can only be warned.
/// </summary>
public static class TorchCalls
{
    /// <summary>The TorchSharp matmul this call binds to (Tensor.matmul(other), torch.matmul(a, b)), else null.</summary>
    public static IMethodSymbol? MatMul(SemanticModel model, InvocationExpressionSyntax node)
    {
        var name = node.Expression switch
        {
            MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
            IdentifierNameSyntax i => i.Identifier.ValueText,
            _ => null,
        };
        if (name != "matmul") return null;
        var info = model.GetSymbolInfo(node);
        var method = info.Symbol as IMethodSymbol ?? info.CandidateSymbols.OfType<IMethodSymbol>().FirstOrDefault();
        var ns = method?.ContainingType?.ContainingNamespace?.ToDisplayString() ?? "";
        return method != null && (ns == "TorchSharp" || ns.StartsWith("TorchSharp.", StringComparison.Ordinal)) ? method : null;
    }

    /// <summary>
    /// One warning per TorchSharp matmul call in <paramref name="compilation"/>'s first syntax tree, naming the line:
    /// outside a kernel nothing routes it through Ops.MatMul, and mismatched shapes end the process.
    /// </summary>
    public static IReadOnlyList<string> MatMulWarnings(Compilation compilation)
    {
        var tree = compilation.SyntaxTrees.FirstOrDefault();
        if (tree == null) return [];
        var model = compilation.GetSemanticModel(tree);
        var warnings = new List<string>();
        foreach (var call in tree.GetRoot().DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (MatMul(model, call) is not { } method) continue;
            int line = call.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
            var args = method.IsStatic ? call.ArgumentList.Arguments.Select(a => a.ToString()).ToArray()
                : call.Expression is MemberAccessExpressionSyntax m ? [m.Expression.ToString(), .. call.ArgumentList.Arguments.Select(a => a.ToString())] : [];
            warnings.Add($"line {line}: {call} is TorchSharp's matmul, which ENDS THE PROCESS when the shapes do not fit " +
                         $"(nothing is printed, no hint). Write Ops.MatMul({string.Join(", ", args)}): it checks the shapes and says what does not fit");
        }
        return warnings;
    }
}
