using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PicoGpt.Notebooks;

/// <summary>
/// Makes a notebook's code cells legal as one top-level program. In the kernel each cell is a script submission: its
/// top-level variables and methods are members of its own submission, so a later cell may declare a name again (the new
/// one hides the old), and a block, loop or catch in one cell may declare a local with the name of a top-level variable.
/// In one program all top-level locals and local functions share one scope, so the first is CS0128 and the second
/// CS0136. This binds the cells as the kernel does (a chain of Roslyn script compilations, one per cell) and renames,
/// everywhere they are declared and used:
/// <list type="bullet">
/// <item>a top-level variable or method that an earlier cell already declares: the first keeps its name, the later ones
/// are numbered (<c>Loss</c>, then <c>Loss2</c>), and every use that the kernel binds to the later one follows it;</item>
/// <item>a local of a nested scope outside any lambda or method (a block, loop, <c>catch</c>, pattern) that has the name of
/// any top-level variable or method of the program: numbered (<c>layer2</c>).</item>
/// </list>
/// Lambdas and methods keep their locals and parameters: C# lets them shadow the enclosing names. A new name is the old
/// one with the first number from 2 that appears nowhere in the program. Only identifiers change: strings, comments and
/// member names stay, and an anonymous object's member named after a renamed variable keeps its name
/// (<c>new { layer }</c> becomes <c>new { layer = layer2 }</c>).
/// Binding needs no library: which declaration a simple name means depends only on the cells' own declarations.
/// </summary>
public static class OneScope
{
    /// <summary>One renamed declaration: its name in the notebook, its name in the program, and its code cell (from 0).</summary>
    public sealed record Rename(string From, string To, int Cell);

    static readonly CSharpParseOptions Script = new(LanguageVersion.Preview, kind: SourceCodeKind.Script);

    static readonly Lazy<MetadataReference[]> CoreLibrary = new(() =>
    {
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return new[] { typeof(object).Assembly.Location, Path.Combine(runtime, "System.Runtime.dll") }
            .Where(File.Exists).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });

    /// <summary>
    /// The cells (top-level code, in notebook order) with the names renamed that one program cannot hold, and the renames
    /// (in cell order). Cells that need none come back as they were.
    /// </summary>
    public static (IReadOnlyList<string> Cells, IReadOnlyList<Rename> Renames) Apply(IReadOnlyList<string> cells)
    {
        var trees = new SyntaxTree[cells.Count];
        var models = new SemanticModel[cells.Count];
        CSharpCompilation? previous = null;
        var options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable);
        for (int i = 0; i < cells.Count; i++)
        {
            trees[i] = CSharpSyntaxTree.ParseText(cells[i], Script);
            var compilation = CSharpCompilation.CreateScriptCompilation(CellAssembly(i), trees[i], CoreLibrary.Value, options);
            // chained after creation: CreateScriptCompilation refuses a previous submission with errors, and without the
            // libraries every cell has some (unknown types), which do not change what a simple name is bound to
            if (previous != null) compilation = compilation.WithScriptCompilationInfo(compilation.ScriptCompilationInfo!.WithPreviousScriptCompilation(previous));
            previous = compilation;
            models[i] = previous.GetSemanticModel(trees[i]);
        }

        // every name in the program: a new name must be none of them
        var used = new HashSet<string>(trees.SelectMany(t => t.GetRoot().DescendantTokens())
            .Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText), StringComparer.Ordinal);
        string Fresh(string name)
        {
            for (int k = 2; ; k++)
                if (used.Add(name + k)) return name + k;
        }

        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);   // symbol key -> new name
        var renames = new List<Rename>();
        var declarations = new List<(int Cell, SyntaxToken Token, ISymbol Symbol)>[cells.Count];
        var top = new HashSet<string>(StringComparer.Ordinal);                  // the program's top-level names, final
        for (int i = 0; i < cells.Count; i++)
        {
            declarations[i] = Declarations(i, trees[i], models[i]).ToList();
            foreach (var name in declarations[i].Where(d => IsTopLevel(d.Symbol)).Select(d => d.Symbol.Name).Distinct())
            {
                if (top.Add(name)) continue;
                var to = Fresh(name);
                renamed[TopKey(CellAssembly(i), name)] = to;
                renames.Add(new Rename(name, to, i));
                top.Add(to);
            }
        }
        for (int i = 0; i < cells.Count; i++)
            foreach (var (_, token, symbol) in declarations[i].Where(d => IsNested(d.Symbol) && top.Contains(d.Symbol.Name)))
            {
                var to = Fresh(symbol.Name);
                renamed[NestedKey(symbol)] = to;
                renames.Add(new Rename(symbol.Name, to, i));
            }
        if (renamed.Count == 0) return (cells, []);
        renames = [.. renames.OrderBy(r => r.Cell)];                             // stable: in notebook order

        var result = new string[cells.Count];
        for (int i = 0; i < cells.Count; i++)
        {
            var edits = new List<(TextSpanPair Span, string Text)>();
            foreach (var (_, token, symbol) in declarations[i])
                if (renamed.TryGetValue(Key(symbol), out var to)) edits.Add((new(token.SpanStart, token.Span.End), to));
            foreach (var name in trees[i].GetRoot().DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var info = models[i].GetSymbolInfo(name);
                var symbol = info.Symbol ?? (info.CandidateSymbols.Length > 0 && info.CandidateSymbols.Select(Key).Distinct().Count() == 1 ? info.CandidateSymbols[0] : null);
                if (symbol == null || symbol is not (ILocalSymbol or IFieldSymbol or IMethodSymbol or IRangeVariableSymbol)) continue;
                if (!renamed.TryGetValue(Key(symbol.OriginalDefinition), out var to)) continue;
                var id = name.Identifier;
                edits.Add(name.Parent is AnonymousObjectMemberDeclaratorSyntax { NameEquals: null }
                    ? (new(id.SpanStart, id.Span.End), $"{id.ValueText} = {to}")
                    : (new(id.SpanStart, id.Span.End), to));
            }
            var text = cells[i];
            foreach (var (span, replacement) in edits.DistinctBy(e => e.Span.Start).OrderByDescending(e => e.Span.Start))
                text = text[..span.Start] + replacement + text[span.End..];
            result[i] = text;
        }
        return (result, renames);
    }

    readonly record struct TextSpanPair(int Start, int End);

    static string CellAssembly(int i) => $"cell{i}";

    /// <summary>The declarations of a cell that may clash in one program: variables, methods, loop and catch variables, range variables, local functions.</summary>
    static IEnumerable<(int Cell, SyntaxToken Token, ISymbol Symbol)> Declarations(int cell, SyntaxTree tree, SemanticModel model)
    {
        foreach (var node in tree.GetRoot().DescendantNodes())
        {
            SyntaxToken token = node switch
            {
                VariableDeclaratorSyntax v => v.Identifier,
                SingleVariableDesignationSyntax s => s.Identifier,
                ForEachStatementSyntax f => f.Identifier,
                CatchDeclarationSyntax c => c.Identifier,
                MethodDeclarationSyntax m => m.Identifier,
                LocalFunctionStatementSyntax l => l.Identifier,
                FromClauseSyntax q => q.Identifier,
                LetClauseSyntax q => q.Identifier,
                JoinClauseSyntax q => q.Identifier,
                JoinIntoClauseSyntax q => q.Identifier,
                QueryContinuationSyntax q => q.Identifier,
                _ => default,
            };
            if (token == default || token.ValueText.Length == 0) continue;
            if (model.GetDeclaredSymbol(node) is { } symbol && (IsTopLevel(symbol) || IsNested(symbol)))
                yield return (cell, token, symbol);
        }
    }

    /// <summary>A cell's top-level variable or method: a member of its submission (a local or local function of the program).</summary>
    static bool IsTopLevel(ISymbol s) =>
        s is IFieldSymbol or IMethodSymbol { MethodKind: MethodKind.Ordinary } && s.ContainingType is { IsScriptClass: true } && !s.IsImplicitlyDeclared;

    /// <summary>A local of a nested scope of the cell's own statements, not of a lambda or method (those may shadow).</summary>
    static bool IsNested(ISymbol s) =>
        s is ILocalSymbol or IRangeVariableSymbol or IMethodSymbol { MethodKind: MethodKind.LocalFunction }
        && s.ContainingSymbol is IMethodSymbol { ContainingType.IsScriptClass: true } container && IsScriptBody(container);

    /// <summary>The method that holds a submission's statements (not a method the cell declares).</summary>
    static bool IsScriptBody(IMethodSymbol m) =>
        m.MethodKind is not (MethodKind.AnonymousFunction or MethodKind.LocalFunction) && (m.IsImplicitlyDeclared || m.DeclaringSyntaxReferences.IsEmpty);

    static string Key(ISymbol s) => IsTopLevel(s) ? TopKey(s.ContainingAssembly.Name, s.Name) : NestedKey(s);

    static string TopKey(string cell, string name) => $"{cell}|{name}";

    static string NestedKey(ISymbol s) => $"{s.ContainingAssembly?.Name}|{s.Name}@{(s.DeclaringSyntaxReferences.FirstOrDefault()?.Span.Start ?? -1)}";
}
