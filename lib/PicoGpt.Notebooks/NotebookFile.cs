using System.Text;
using System.Text.Json;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;

namespace PicoGpt.Notebooks;

/// <summary>
/// Reads and writes .ipynb files with Microsoft.DotNet.Interactive.Documents, the serializer VS Code Polyglot Notebooks
/// itself uses. It keeps our format byte for byte (nbformat 4.5, cell ids, notebook and cell metadata, keys in sorted
/// order, one-space indent); we add the trailing newline Jupyter and git expect and write through a temp file + rename.
/// One limit of that serializer: a "raw" cell is read as a code cell (the course has none).
/// </summary>
public static class NotebookFile
{
    /// <summary>Loads a notebook; a missing file or invalid JSON is a <see cref="PicoGptException"/> naming the file.</summary>
    public static InteractiveDocument Load(string path)
    {
        if (!File.Exists(path)) throw new PicoGptException($"notebook not found: {path}");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses nbformat 4 JSON; <paramref name="source"/> names it in errors.</summary>
    public static InteractiveDocument Parse(string json, string? source = null)
    {
        var where = source ?? "notebook";
        try
        {
            using (var doc = JsonDocument.Parse(json))
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new PicoGptException($"{where}: not a JSON object");
                if (!root.TryGetProperty("nbformat", out var format)) throw new PicoGptException($"{where}: no nbformat field (is this a notebook?)");
                if (format.ValueKind != JsonValueKind.Number || format.GetInt32() != 4)
                    throw new PicoGptException($"{where}: nbformat {format} is not supported (expected 4)");
                if (!root.TryGetProperty("cells", out var cells) || cells.ValueKind != JsonValueKind.Array)
                    throw new PicoGptException($"{where}: no cells array");
            }
            return Microsoft.DotNet.Interactive.Documents.Jupyter.Notebook.Parse(json);
        }
        catch (JsonException e) { throw new PicoGptException($"{where}: invalid notebook JSON ({e.Message.Split('\n')[0]})"); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            throw new PicoGptException($"{where}: not a notebook this tool can read ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>The notebook as nbformat 4.5 JSON, ending with a newline; cells without an id get one first.</summary>
    public static string ToJson(InteractiveDocument notebook)
    {
        EnsureIds(notebook);
        return notebook.ToJupyterJson() + "\n";
    }

    /// <summary>Writes the notebook atomically (temp file + rename).</summary>
    public static void Save(InteractiveDocument notebook, string path) => WriteAtomic(path, ToJson(notebook));

    /// <summary>Writes text to a file through a temp file in the same folder and a rename, so no half-written file is left.</summary>
    public static void WriteAtomic(string path, string text) => PicoGpt.IO.AtomicFile.WriteAllText(path, text);

    /// <summary>A deep copy (through JSON).</summary>
    public static InteractiveDocument Clone(InteractiveDocument notebook) => Microsoft.DotNet.Interactive.Documents.Jupyter.Notebook.Parse(notebook.ToJupyterJson());

    /// <summary>A new notebook with the Polyglot C# metadata and the given cells.</summary>
    public static InteractiveDocument New(params InteractiveDocumentElement[] cells)
    {
        var nb = new InteractiveDocument(cells.ToList());
        foreach (var (k, v) in PolyglotMetadata()) nb.Metadata[k] = v;
        EnsureIds(nb);
        return nb;
    }

    /// <summary>A C# code cell with Polyglot's cell metadata.</summary>
    public static InteractiveDocumentElement Code(string source, string? id = null) => new(source, "csharp")
    {
        Id = id,
        Metadata = new Dictionary<string, object>
        {
            ["dotnet_interactive"] = new Dictionary<string, object> { ["language"] = "csharp" },
            ["polyglot_notebook"] = new Dictionary<string, object> { ["kernelName"] = "csharp" },
        },
    };

    /// <summary>A markdown cell.</summary>
    public static InteractiveDocumentElement Markdown(string source, string? id = null) =>
        new(source, "markdown") { Id = id, Metadata = new Dictionary<string, object>() };

    /// <summary>True for code cells (Documents marks markdown cells with the kernel name "markdown").</summary>
    public static bool IsCode(this InteractiveDocumentElement cell) => cell.KernelName != "markdown";

    /// <summary>The notebook metadata VS Code Polyglot writes for a C# notebook.</summary>
    public static Dictionary<string, object> PolyglotMetadata() => new()
    {
        ["kernelspec"] = new Dictionary<string, object> { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" },
        ["language_info"] = new Dictionary<string, object>
        {
            ["file_extension"] = ".cs", ["mimetype"] = "text/x-csharp", ["name"] = "C#", ["pygments_lexer"] = "csharp", ["version"] = "13.0",
        },
        ["polyglot_notebook"] = new Dictionary<string, object>
        {
            ["kernelInfo"] = new Dictionary<string, object>
            {
                ["defaultKernelName"] = "csharp",
                ["items"] = new List<object> { new Dictionary<string, object> { ["aliases"] = new List<object>(), ["name"] = "csharp" } },
            },
        },
    };

    static readonly System.Text.RegularExpressions.Regex IdPattern = new("^[a-zA-Z0-9_-]{1,64}$");

    /// <summary>Gives cells without a valid id, or with an id used earlier in the notebook, a fresh 8-character id.</summary>
    public static void EnsureIds(InteractiveDocument notebook)
    {
        var seen = new HashSet<string>();
        foreach (var cell in notebook.Elements)
        {
            if (cell.Id is { } id && IdPattern.IsMatch(id) && seen.Add(id)) continue;
            string fresh;
            do fresh = Guid.NewGuid().ToString("N")[..8]; while (notebook.Elements.Any(c => c.Id == fresh) || !seen.Add(fresh));
            cell.Id = fresh;
        }
    }

    /// <summary>What keeps the file at <paramref name="path"/> from being a valid Polyglot nbformat 4.5 C# notebook (empty when valid).</summary>
    public static IReadOnlyList<string> Problems(string path)
    {
        var problems = new List<string>();
        using (var doc = JsonDocument.Parse(File.ReadAllText(path)))
        {
            var root = doc.RootElement;
            int major = root.TryGetProperty("nbformat", out var f) ? f.GetInt32() : 0;
            int minor = root.TryGetProperty("nbformat_minor", out var m) ? m.GetInt32() : 0;
            if (major != 4 || minor < 5) problems.Add($"nbformat {major}.{minor}, expected 4.5");
            int i = 0;
            foreach (var cell in root.GetProperty("cells").EnumerateArray())
            {
                var type = cell.TryGetProperty("cell_type", out var t) ? t.GetString() : null;
                if (type is not ("code" or "markdown")) problems.Add($"cell {i}: cell_type '{type}' (expected code or markdown)");
                i++;
            }
        }
        var nb = Load(path);
        var ids = new HashSet<string>();
        for (int i = 0; i < nb.Elements.Count; i++)
        {
            var c = nb.Elements[i];
            if (c.Id is not { } id || !IdPattern.IsMatch(id)) problems.Add($"cell {i}: missing or invalid id");
            else if (!ids.Add(id)) problems.Add($"cell {i}: duplicate id {id}");
            if (c.IsCode() && MetadataString(c.Metadata, "polyglot_notebook", "kernelName") != "csharp")
                problems.Add($"cell {i}: code cell without polyglot_notebook.kernelName csharp");
        }
        if (MetadataString(nb.Metadata, "kernelspec", "name") != ".net-csharp") problems.Add("metadata.kernelspec.name is not .net-csharp");
        if (nb.Metadata.TryGetValue("polyglot_notebook", out var p) && p is IDictionary<string, object> pd
            && MetadataString(pd, "kernelInfo", "defaultKernelName") == "csharp") { }
        else problems.Add("metadata.polyglot_notebook.kernelInfo.defaultKernelName is not csharp");
        return problems;
    }

    static string? MetadataString(IDictionary<string, object>? metadata, string outer, string inner) =>
        metadata != null && metadata.TryGetValue(outer, out var o) && o is IDictionary<string, object> d && d.TryGetValue(inner, out var v) ? v as string : null;

    /// <summary>A mime type's content in an output's data as text (Documents keeps it as a string or a list of lines), or null.</summary>
    public static string? DataText(IDictionary<string, object> data, string mime) =>
        data.TryGetValue(mime, out var v) ? v switch
        {
            string s => s,
            IEnumerable<string> lines => string.Concat(lines),
            IEnumerable<object> items => string.Concat(items.Select(x => x as string ?? x?.ToString())),
            null => null,
            _ => v.ToString(),
        } : null;

    /// <summary>The data of a display or result output, or null for streams and errors.</summary>
    public static IDictionary<string, object>? Data(InteractiveDocumentOutputElement output) => output switch
    {
        DisplayElement d => d.Data,
        ReturnValueElement r => r.Data,
        _ => null,
    };
}
