using PicoGpt;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.DotNet.Interactive.Documents;

namespace PicoGpt.Notebooks;

/// <summary>
/// Makes a lesson, a .NET file-based app (<c>dotnet run lessons/05-attention.cs</c>), from a course notebook. One lesson
/// per notebook: lessons/NAME.cs (the learner's, exercise bodies stubbed by <see cref="NotebookStripper"/>) and
/// lessons/solutions/NAME.cs (the solutions). What a C# top-level program needs that a kernel did not:
/// <list type="bullet">
/// <item>Markdown cells become <c>//</c> comments (paragraphs wrapped, tables and code as they are).</item>
/// <item>The setup cell's <c>#r ".../lib/X/bin/Debug/net10.0/X.dll"</c> becomes <c>#:project .../lib/X/X.csproj</c>
/// (relative to the lesson's folder) and <c>#r "nuget: P, V"</c> becomes <c>#:package P</c> (versions are central, in
/// Directory.Packages.props); any other <c>#</c> line is an error naming the cell.</item>
/// <item><c>using</c> directives move to the top (a program allows them only there), once each.</item>
/// <item>Type declarations move to the end (a program's types must follow all its top-level statements).</item>
/// <item>A cell that ends in an expression (the notebook shows its value) ends in <c>display(expression);</c>, and
/// <c>display</c> is <see cref="PicoGpt.Notebook.Terminal.display"/>: check verdicts in colour, charts to HTML files.</item>
/// <item>Methods declared in a cell become local functions of the program: the same text.</item>
/// <item>Names that one program cannot hold, because each kernel cell is a scope of its own (a name declared again in a
/// later cell, a loop variable named like a top-level variable), are numbered (<see cref="OneScope"/>), and the header
/// lists them.</item>
/// <item>Each exercise cell (one with a solution block) sits between <c>// ── exercise N: NAME (cell ID)</c> and
/// <c>// ── end of exercise N</c> lines, so answers can move between a lesson and a notebook (<see cref="LessonAnswers"/>).</item>
/// </list>
/// The kernel's guards cannot run in a program (nothing rewrites <c>.matmul</c> before it compiles); the lesson header
/// says so, and <c>picogpt learn</c> looks for both mistakes before it runs a lesson (<see cref="LessonGuard"/>).
/// </summary>
public static class LessonGenerator
{
    public const string ExerciseStart = "// ── exercise ";
    public const string ExerciseEnd = "// ── end of exercise ";
    const int Width = 118;

    static readonly Regex LibReference = new(@"^\s*#r\s+""((?:\.\./)+)lib/([^/""]+)/bin/[^""]*\.dll""\s*$", RegexOptions.Compiled);
    static readonly Regex NugetReference = new(@"^\s*#r\s+""nuget:\s*([^,""\s]+)[^""]*""\s*$", RegexOptions.Compiled);
    static readonly Regex ExerciseHeader = new(@"^// ── exercise (\d+): (.*?) \(cell ([^)\s]+)\)", RegexOptions.Compiled);

    /// <summary>An exercise of a lesson: its number (from 1), the name of its first function, and its notebook cell id.</summary>
    public sealed record Exercise(int Number, string Name, string CellId);

    /// <summary>
    /// The lesson's text for a notebook. <paramref name="notebookPath"/> is how the header names the source (relative to
    /// the repository root, e.g. notebooks/solutions/05-attention.ipynb); <paramref name="lessonDepth"/> is how many
    /// folders the lesson lies below the repository root (1 for lessons/, 2 for lessons/solutions/);
    /// <paramref name="learner"/> strips the solution blocks. <paramref name="answers"/> (by notebook cell id) replaces the
    /// code of those exercise cells: a learner's own answers, from their notebook or lesson (<see cref="LessonAnswers"/>).
    /// </summary>
    public static string Generate(InteractiveDocument notebook, string notebookPath, int lessonDepth, bool learner,
        IReadOnlyDictionary<string, string>? answers = null)
    {
        var name = Path.GetFileNameWithoutExtension(notebookPath);
        var up = string.Concat(Enumerable.Repeat("../", lessonDepth));
        var directives = new List<string>();
        var usings = new List<string>();
        var types = new List<string>();
        var parts = new List<(string? Comment, string Code, string? Exercise)>();   // in notebook order
        int exercises = 0;
        string title = name;

        for (int i = 0; i < notebook.Elements.Count; i++)
        {
            var cell = notebook.Elements[i];
            var where = $"{notebookPath} cell {i}";
            if (!cell.IsCode())
            {
                if (i == 0 && cell.Contents.Split('\n')[0].TrimStart('#', ' ') is { Length: > 0 } heading) title = heading.Trim();
                parts.Add((Comment(cell.Contents), "", null));
                continue;
            }
            bool exercise = cell.Contents.Contains(NotebookStripper.Begin, StringComparison.Ordinal);
            var source = exercise && cell.Id != null && answers != null && answers.TryGetValue(cell.Id, out var answer) ? answer
                : learner ? NotebookStripper.StripSource(cell.Contents, where) : cell.Contents;
            if (AnswersLoad.Match(source.Trim()) is { Success: true } load) source = LibraryAnswers(load, where);
            var code = TopLevel(source, where, up, directives, usings, types);
            parts.Add((null, code, exercise ? $"{++exercises}: {FirstFunction(source) ?? "exercise " + exercises} (cell {cell.Id})" : null));
        }

        // one program is one scope, where each cell was its own: names declared again are numbered (OneScope)
        var codeParts = parts.Select((p, i) => (p, i)).Where(x => x.p.Comment == null).Select(x => x.i).ToList();
        var (renamedCode, renames) = OneScope.Apply(codeParts.Select(i => parts[i].Code).ToList());
        for (int k = 0; k < codeParts.Count; k++) parts[codeParts[k]] = parts[codeParts[k]] with { Code = renamedCode[k] };

        var body = new StringBuilder();
        foreach (var (comment, code, exercise) in parts)
        {
            if (comment != null)
                body.Append('\n').Append(comment);
            else if (exercise != null)
            {
                var number = exercise[..exercise.IndexOf(':')];
                body.Append('\n').Append($"{ExerciseStart}{exercise} ── your answer goes here ──\n");
                body.Append(code.TrimEnd('\n')).Append('\n');
                body.Append($"{ExerciseEnd}{number} ──\n");
            }
            else if (code.Trim().Length > 0)
                body.Append('\n').Append(code.TrimEnd('\n')).Append('\n');
        }

        var sb = new StringBuilder();
        sb.Append($"// {title}\n");
        sb.Append($"//\n// A PicoGPT.NET lesson: the notebook {notebookPath} as a .NET file-based app, generated by\n");
        sb.Append("// `picogpt notebooks strip` (do not edit it in the repository; edit the notebook and regenerate).\n");
        sb.Append($"// Run it from the repository root: dotnet run {(lessonDepth == 1 ? "lessons/" : "lessons/solutions/")}{name}.cs   (.NET 10 SDK)\n");
        sb.Append("// Or let `picogpt learn` run it on every save and show the first failing check with its hint.\n");
        if (exercises > 0)
            sb.Append($"// Your answers go between the `{ExerciseStart}N` and `{ExerciseEnd}N` lines ({exercises} exercise{(exercises == 1 ? "" : "s")}).\n");
        sb.Append("// Unlike the notebook kernel, nothing here guards TorchSharp for you: Tensor.matmul ENDS THE PROCESS when the shapes\n");
        sb.Append("// do not fit (use Ops.MatMul, which checks them and throws), and x.sum(0) reads the 0 as a dtype, summing the whole\n");
        sb.Append("// tensor into a byte (write x.sum(dim: 0)). `picogpt learn` looks for both before it runs the lesson.\n");
        sb.Append("// Charts are written as HTML files into charts/ beside this file; the lesson prints their paths.\n");
        if (renames.Count > 0)
            sb.Append(Comment("A notebook cell is a scope of its own; this program is one scope, so names that the notebook declares " +
                $"again are numbered here ({string.Join(", ", renames.Select(r => $"{r.From} → {r.To}").Distinct())})."));
        foreach (var d in directives.Distinct()) sb.Append(d).Append('\n');
        // Package assets (TorchSharp, libtorch: 1 GB) stay in the NuGet cache, where the runtime finds them through
        // runtimeconfig.dev.json, instead of being copied into every lesson's build folder (~/.local/share/dotnet/runfile).
        sb.Append("#:property CopyLocalLockFileAssemblies=false\n");
        sb.Append("#:property GenerateRuntimeConfigDevFile=true\n");
        sb.Append("#:property PublishAot=false\n");                   // a file-based app defaults to AOT: no reflection-based JSON
        sb.Append("#:property Nullable=disable\n");                    // as in the kernel: no nullable annotations or warnings
        sb.Append("#:property WarningLevel=1\n");                       // as in the kernel's setup: no notes on learners' stubs
        sb.Append('\n');
        foreach (var u in usings.Distinct()) sb.Append(u).Append('\n');
        sb.Append("using static PicoGpt.Notebook.Terminal;   // display(...): verdicts in colour, charts to HTML files\n");
        sb.Append(body);
        if (types.Count > 0)
        {
            sb.Append("\n// Types declared in the notebook's cells (a program declares its types after all its statements).\n");
            foreach (var t in types) sb.Append('\n').Append(t.Trim('\n')).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A notebook cell that is exactly <c>Answers.Load("A", "B")</c> (the kernel bridge carries earlier answers in).</summary>
    static readonly Regex AnswersLoad = new(@"^(?:display\()?Answers\.Load\(((?:\s*""\w+""\s*,?)+)\)\)?\s*;?$", RegexOptions.Compiled);

    /// <summary>
    /// A lesson has no kernel to carry answers between files, so an <c>Answers.Load</c> cell becomes the library's
    /// versions of those functions (<see cref="global::PicoGpt.Answers.Library"/>), with a line saying so; a learner who wants theirs
    /// pastes them in its place.
    /// </summary>
    static string LibraryAnswers(Match load, string where)
    {
        var names = Regex.Matches(load.Groups[1].Value, @"""(\w+)""").Select(m => m.Groups[1].Value).ToList();
        var sb = new StringBuilder();
        sb.Append("// In the notebook this cell was Answers.Load(...), which brings in your passing answers from earlier notebooks.\n");
        sb.Append("// A lesson file cannot: these are the library's versions. Paste yours over them to use your own.\n");
        foreach (var n in names)
        {
            if (!global::PicoGpt.Answers.Library.TryGetValue(n, out var code))
                throw new PicoGptException($"{where}: Answers.Load names \"{n}\", which has no library version (Answers.Library)");
            sb.Append(code).Append('\n');
        }
        sb.Append($"Console.WriteLine(\"library: {string.Join(", ", names)} (paste your own over them to use yours)\");\n");
        return sb.ToString();
    }

    /// <summary>
    /// One cell as top-level statements: <c>#r</c> lines become directives, usings and type declarations are taken out
    /// (into <paramref name="usings"/> and <paramref name="types"/>), and a final expression becomes <c>display(...);</c>.
    /// </summary>
    static string TopLevel(string source, string where, string up, List<string> directives, List<string> usings, List<string> types)
    {
        var lines = source.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (!line.TrimStart().StartsWith('#') || line.TrimStart().StartsWith("#pragma") || line.TrimStart().StartsWith("#nullable")) continue;
            if (LibReference.Match(line) is { Success: true } lib)
                directives.Add($"#:project {up}lib/{lib.Groups[2].Value}/{lib.Groups[2].Value}.csproj");
            else if (NugetReference.Match(line) is { Success: true } pkg)
                directives.Add($"#:package {pkg.Groups[1].Value}");
            else if (line.TrimStart().StartsWith("#region") || line.TrimStart().StartsWith("#endregion")) continue;
            else throw new PicoGptException($"{where}: line {i + 1} `{line.Trim()}` has no equivalent in a file-based app (expected #r \"../../lib/NAME/bin/.../NAME.dll\" or #r \"nuget: PACKAGE, VERSION\")");
            lines[i] = "\u0001";                                                // dropped below
        }
        var text = string.Join("\n", lines.Where(l => l != "\u0001"));

        var tree = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Preview, kind: SourceCodeKind.Script));
        var root = (CompilationUnitSyntax)tree.GetRoot();
        var edits = new List<(TextSpanLite Span, string Replacement)>();
        foreach (var u in root.Usings)
        {
            usings.Add(u.ToString().Trim());
            edits.Add((Full(u), ""));
        }
        foreach (var member in root.Members)
        {
            if (member is BaseTypeDeclarationSyntax or DelegateDeclarationSyntax)
            {
                types.Add(member.ToFullString());
                edits.Add((Full(member), ""));
            }
        }
        if (root.Members.LastOrDefault() is GlobalStatementSyntax { Statement: ExpressionStatementSyntax { SemicolonToken.IsMissing: true } last })
        {
            var expr = last.Expression;
            edits.Add((new TextSpanLite(expr.SpanStart, expr.Span.End), $"display({expr});"));
        }
        foreach (var (span, replacement) in edits.OrderByDescending(e => e.Span.Start))
            text = text[..span.Start] + replacement + text[span.End..];
        // drop the blank lines the removals leave at the top of the cell
        return text.TrimStart('\n', ' ', '\t').Length == 0 ? "" : string.Join("\n", text.Split('\n').SkipWhile(l => l.Trim().Length == 0));
    }

    readonly record struct TextSpanLite(int Start, int End);

    static TextSpanLite Full(SyntaxNode node) => new(node.FullSpan.Start, node.FullSpan.End);

    /// <summary>The name of the first method (local function) declared in a cell, or null.</summary>
    static string? FirstFunction(string source)
    {
        var root = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview, kind: SourceCodeKind.Script)).GetRoot();
        return root.DescendantNodes().Select(n => n switch
        {
            MethodDeclarationSyntax m => m.Identifier.ValueText,
            LocalFunctionStatementSyntax f => f.Identifier.ValueText,
            _ => null,
        }).FirstOrDefault(n => n != null);
    }

    /// <summary>Markdown as <c>//</c> comment lines: paragraphs and list items wrapped, tables and fenced code as they are.</summary>
    public static string Comment(string markdown)
    {
        var sb = new StringBuilder();
        bool fence = false;
        foreach (var raw in markdown.Replace("\r\n", "\n").TrimEnd('\n').Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.TrimStart().StartsWith("```")) fence = !fence;
            if (fence || line.TrimStart().StartsWith("```") || line.TrimStart().StartsWith('|') || line.Length + 3 <= Width)
            {
                sb.Append(line.Length == 0 ? "//" : "// " + line).Append('\n');
                continue;
            }
            var indent = Regex.Match(line, @"^(\s*(?:[-*]|\d+\.)\s+|\s*)").Value;
            var hanging = new string(' ', indent.Length);
            var current = new StringBuilder(indent);
            foreach (var word in line[indent.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (current.Length > hanging.Length && current.Length + 1 + word.Length + 3 > Width)
                {
                    sb.Append("// ").Append(current.ToString().TrimEnd()).Append('\n');
                    current.Clear().Append(hanging);
                }
                if (current.Length > hanging.Length && current[^1] != ' ') current.Append(' ');
                current.Append(word);
            }
            sb.Append("// ").Append(current.ToString().TrimEnd()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The exercises of a lesson file's text, from its exercise lines.</summary>
    public static IReadOnlyList<Exercise> Exercises(string lessonText) =>
        lessonText.Split('\n').Select(l => ExerciseHeader.Match(l)).Where(m => m.Success)
            .Select(m => new Exercise(int.Parse(m.Groups[1].Value), m.Groups[2].Value, m.Groups[3].Value)).ToList();

    /// <summary>The learner's code of each exercise in a lesson's text, by notebook cell id (the lines between its markers).</summary>
    public static IReadOnlyDictionary<string, string> Answers(string lessonText, string where = "lesson")
    {
        var answers = new Dictionary<string, string>();
        var lines = lessonText.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var m = ExerciseHeader.Match(lines[i]);
            if (!m.Success) continue;
            var end = $"{ExerciseEnd}{m.Groups[1].Value} ";
            int j = i + 1;
            while (j < lines.Length && !lines[j].StartsWith(end, StringComparison.Ordinal)) j++;
            if (j == lines.Length) throw new PicoGptException($"{where}: exercise {m.Groups[1].Value} (line {i + 1}) has no `{end.Trim()}` line: restore it, or regenerate the lesson");
            answers[m.Groups[3].Value] = string.Join("\n", lines[(i + 1)..j]);
            i = j;
        }
        return answers;
    }

    /// <summary>The lesson files' paths for a notebook: (learner lesson, solution lesson) in <paramref name="lessonsDir"/>.</summary>
    public static (string Learner, string Solution) LessonPaths(string lessonsDir, string notebookPath)
    {
        var file = Path.GetFileNameWithoutExtension(notebookPath) + ".cs";
        return (Path.Combine(lessonsDir, file), Path.Combine(lessonsDir, "solutions", file));
    }

    /// <summary>
    /// For every solutions/*.ipynb in <paramref name="notebooksDir"/>, the learner lesson and the solution lesson in
    /// <paramref name="lessonsDir"/> (and its solutions/): written (check = false) or compared (check = true). Returns the
    /// lesson files that were out of date (and, when writing, have been rewritten). Lessons are named relative to
    /// <paramref name="repoRoot"/> in their headers.
    /// </summary>
    public static IReadOnlyList<string> Sync(string repoRoot, string notebooksDir, string lessonsDir, bool check)
    {
        var solutionsDir = Path.Combine(notebooksDir, "solutions");
        if (!Directory.Exists(solutionsDir)) throw new PicoGptException($"solutions folder not found: {solutionsDir}");
        var drifted = new List<string>();
        foreach (var solution in Directory.GetFiles(solutionsDir, "*.ipynb").OrderBy(f => f, StringComparer.Ordinal))
        {
            var notebook = NotebookFile.Load(solution);
            var rel = Path.GetRelativePath(repoRoot, solution).Replace('\\', '/');
            var (learner, solved) = LessonPaths(lessonsDir, solution);
            foreach (var (path, isLearner) in new[] { (learner, true), (solved, false) })
            {
                int depth = Path.GetRelativePath(repoRoot, Path.GetDirectoryName(Path.GetFullPath(path))!).Split(Path.DirectorySeparatorChar).Length;
                var expected = Generate(notebook, rel, depth, isLearner);
                var actual = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : null;
                if (actual == expected) continue;
                drifted.Add(path);
                if (!check)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                    NotebookFile.WriteAtomic(path, expected);
                }
            }
        }
        return drifted;
    }
}
