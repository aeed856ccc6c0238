using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace PicoGpt.Interactive;

/// <summary>
/// TorchSharp's reductions and conversions have an overload that takes a dtype (<c>sum(ScalarType type)</c>) beside the
/// one that takes an axis (<c>sum(long dim, ...)</c>), and C# converts the literal 0, and only 0, to any enum. So
/// <c>x.sum(0)</c>, which a PyTorch user reads as "sum over axis 0", binds to <c>sum(ScalarType.Byte)</c>: the sum of
/// the whole tensor, as a byte. It compiles, runs and gives a plausible number. The kernel middleware
/// (<see cref="MatMulGuard"/>) shows this warning under the cell before it runs; the code still runs as written.
/// </summary>
public static class ZeroAsDtype
{
    /// <summary>
    /// One warning per literal 0 that binds to a TorchSharp <c>ScalarType</c> parameter in the submission
    /// (<paramref name="compilation"/>'s first syntax tree), naming the line, the call and how to pass the axis.
    /// </summary>
    public static IReadOnlyList<string> Find(Compilation compilation)
    {
        var tree = compilation.SyntaxTrees.FirstOrDefault();
        if (tree == null) return [];
        var model = compilation.GetSemanticModel(tree);
        var warnings = new List<string>();
        foreach (var call in tree.GetRoot().DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (model.GetOperation(call) is not IInvocationOperation { TargetMethod: var method } op || !InTorchSharp(method)) continue;
            foreach (var arg in op.Arguments)
            {
                if (arg.Syntax is not ArgumentSyntax { NameColon: null, Expression: LiteralExpressionSyntax literal } || literal.Token.ValueText != "0") continue;
                if (!IsScalarType(arg.Parameter?.Type)) continue;
                int line = literal.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                var receiver = call.Expression is MemberAccessExpressionSyntax m ? m.Expression + "." : "";
                warnings.Add($"line {line}: in {call}, C# reads the 0 as a dtype, ScalarType.Byte (a literal 0 converts to any enum), so this calls " +
                             $"{method.Name}(ScalarType {arg.Parameter!.Name}), not {method.Name} over axis 0" +
                             (method.Name is "sum" or "mean" or "prod" ? ": it reduces the WHOLE tensor, in bytes" : "") +
                             $". Name the axis: {receiver}{method.Name}({AxisName(method)}: 0)");
            }
        }
        return warnings;
    }

    static bool InTorchSharp(IMethodSymbol method)
    {
        var ns = method.ContainingType?.ContainingNamespace?.ToDisplayString() ?? "";
        return ns == "TorchSharp" || ns.StartsWith("TorchSharp.", StringComparison.Ordinal);
    }

    static bool IsScalarType(ITypeSymbol? type)
    {
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable) type = nullable.TypeArguments[0];
        return type is { Name: "ScalarType", TypeKind: TypeKind.Enum } && InTorchSharpNamespace(type);
    }

    static bool InTorchSharpNamespace(ITypeSymbol type) =>
        (type.ContainingNamespace?.ToDisplayString() ?? "").StartsWith("TorchSharp", StringComparison.Ordinal);

    /// <summary>The axis parameter's name in an overload of the same method (dim for sum and mean), else "dim".</summary>
    static string AxisName(IMethodSymbol method) =>
        method.ContainingType.GetMembers(method.Name).OfType<IMethodSymbol>()
            .Select(m => m.Parameters.FirstOrDefault())
            .FirstOrDefault(p => p?.Type.SpecialType is SpecialType.System_Int64 or SpecialType.System_Int32)?.Name ?? "dim";
}
