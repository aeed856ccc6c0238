using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Documents;

namespace PicoGpt.Notebooks;

/// <summary>
/// Makes a learner's notebook from a solution notebook: in every code cell, each block from a <c>// BEGIN SOLUTION</c>
/// line to its <c>// END SOLUTION</c> line (markers included) becomes one <c>throw new NotImplementedException();</c>
/// at the BEGIN marker's indentation; outputs and execution counts are cleared; ids and metadata are kept, so the
/// learner file is a pure function of the solution file and can be checked for drift. Write solutions with block
/// bodies (a method body can hold a throw statement; an expression-bodied member cannot hold a block).
/// One more transformation: solutions live one folder deeper (notebooks/solutions/) than learner notebooks (notebooks/),
/// so a <c>#r "../../lib/...</c> line (the setup cell's reference to the built library) becomes <c>#r "../lib/...</c>
/// (<see cref="LearnerReferences"/>); nothing else in the code changes.
/// </summary>
public static class NotebookStripper
{
    public const string Begin = "// BEGIN SOLUTION";
    public const string End = "// END SOLUTION";
    public const string Stub = "throw new NotImplementedException();";

    static readonly Regex SolutionLibReference = new(@"^([ \t]*#r[ \t]+"")\.\./\.\./lib/", RegexOptions.Multiline | RegexOptions.Compiled);

    /// <summary>
    /// <c>#r "../../lib/...</c> lines (relative to notebooks/solutions/) rewritten as <c>#r "../lib/...</c> (relative to
    /// notebooks/); other lines, including other #r lines, are unchanged.
    /// </summary>
    public static string LearnerReferences(string source) => SolutionLibReference.Replace(source, "$1../lib/");

    /// <summary>The cell source with its solution blocks replaced by the stub. Unbalanced markers are a PicoGptException.</summary>
    public static string StripSource(string source, string where = "cell")
    {
        var lines = source.Split('\n');
        var sb = new StringBuilder();
        int? open = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            bool last = i == lines.Length - 1;
            if (trimmed.StartsWith(Begin, StringComparison.Ordinal))
            {
                if (open != null) throw new PicoGptException($"{where}: line {i + 1} opens a solution block inside the one opened on line {open + 1}");
                open = i;
                sb.Append(line[..(line.Length - line.TrimStart().Length)]).Append(Stub);
                continue;
            }
            if (trimmed.StartsWith(End, StringComparison.Ordinal))
            {
                if (open == null) throw new PicoGptException($"{where}: line {i + 1} closes a solution block that was not opened");
                open = null;
                if (!last) sb.Append('\n');
                continue;
            }
            if (open != null) continue;
            sb.Append(line);
            if (!last) sb.Append('\n');
        }
        if (open != null) throw new PicoGptException($"{where}: the solution block opened on line {open + 1} has no {End}");
        return sb.ToString();
    }

    /// <summary>The learner's notebook for a solution notebook (a new object; the solution is unchanged).</summary>
    public static InteractiveDocument Strip(InteractiveDocument solution, string? name = null)
    {
        var nb = NotebookFile.Clone(solution);
        for (int i = 0; i < nb.Elements.Count; i++)
        {
            var cell = nb.Elements[i];
            if (!cell.IsCode()) continue;
            cell.Contents = LearnerReferences(StripSource(cell.Contents, $"{name ?? "notebook"} cell {i}"));
            cell.Outputs.Clear();
            cell.ExecutionOrder = 0;
        }
        return nb;
    }

    /// <summary>The learner file's expected text for a solution file.</summary>
    public static string Expected(string solutionPath) =>
        NotebookFile.ToJson(Strip(NotebookFile.Load(solutionPath), Path.GetFileName(solutionPath)));

    /// <summary>
    /// For every solutions/*.ipynb, the learner notebook of the same name in learnerDir: written (check = false) or
    /// compared (check = true). Returns the learner files that were out of date (and, when writing, have been rewritten).
    /// Learner notebooks without a solution are left alone. When writing, a solution file whose text is not what the
    /// serializer writes (hand-edited JSON: other escaping, indent or key order, cells without ids) is rewritten in the
    /// serializer's format first, so every committed notebook round-trips byte for byte.
    /// </summary>
    public static IReadOnlyList<string> Sync(string solutionsDir, string learnerDir, bool check)
    {
        if (!Directory.Exists(solutionsDir)) throw new PicoGptException($"solutions folder not found: {solutionsDir}");
        var drifted = new List<string>();
        foreach (var solution in Directory.GetFiles(solutionsDir, "*.ipynb").OrderBy(f => f, StringComparer.Ordinal))
        {
            if (!check)
            {
                var text = File.ReadAllText(solution);
                var normal = NotebookFile.ToJson(NotebookFile.Parse(text, solution));
                if (text.ReplaceLineEndings("\n") != normal) NotebookFile.WriteAtomic(solution, normal);
            }
            var learner = Path.Combine(learnerDir, Path.GetFileName(solution));
            var expected = Expected(solution);
            var actual = File.Exists(learner) ? File.ReadAllText(learner).ReplaceLineEndings("\n") : null;
            if (actual == expected) continue;
            drifted.Add(learner);
            if (!check) NotebookFile.WriteAtomic(learner, expected);
        }
        return drifted;
    }
}
