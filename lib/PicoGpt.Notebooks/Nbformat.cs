using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PicoGpt.Notebooks;

/// <summary>
/// A Jupyter notebook (nbformat 4.5) as VS Code Polyglot writes it: cells with unique ids, notebook and cell metadata
/// kept as JSON (unknown keys survive a load/save), sources and text outputs as line lists, keys sorted, one-space
/// indent (what Jupyter and VS Code write, so diffs stay small).
/// </summary>
public sealed class NotebookDocument
{
    public int NbFormat { get; set; } = 4;
    public int NbFormatMinor { get; set; } = 5;
    public JsonObject Metadata { get; set; } = new();
    public List<NotebookCell> Cells { get; } = new();

    /// <summary>A new notebook with the Polyglot C# kernelspec and metadata.</summary>
    public static NotebookDocument New(IEnumerable<NotebookCell>? cells = null)
    {
        var nb = new NotebookDocument { Metadata = PolyglotMetadata() };
        if (cells != null) nb.Cells.AddRange(cells);
        nb.EnsureUniqueIds();
        return nb;
    }

    /// <summary>The notebook metadata VS Code Polyglot writes for a C# notebook.</summary>
    public static JsonObject PolyglotMetadata() => new()
    {
        ["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" },
        ["language_info"] = new JsonObject
        {
            ["file_extension"] = ".cs", ["mimetype"] = "text/x-csharp", ["name"] = "C#", ["pygments_lexer"] = "csharp", ["version"] = "13.0",
        },
        ["polyglot_notebook"] = new JsonObject
        {
            ["kernelInfo"] = new JsonObject
            {
                ["defaultKernelName"] = "csharp",
                ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["name"] = "csharp" }),
            },
        },
    };

    public static NotebookDocument Load(string path)
    {
        if (!File.Exists(path)) throw new PicoGptException($"notebook not found: {path}");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Reads nbformat 4 JSON. Cells without a valid id keep none until <see cref="EnsureUniqueIds"/> (called on save).</summary>
    public static NotebookDocument Parse(string json, string? source = null)
    {
        var where = source ?? "notebook";
        JsonObject root;
        try { root = JsonNode.Parse(json) as JsonObject ?? throw new PicoGptException($"{where}: not a JSON object"); }
        catch (JsonException e) { throw new PicoGptException($"{where}: invalid JSON ({e.Message.Split('\n')[0]})"); }
        var nb = new NotebookDocument
        {
            NbFormat = (int?)root["nbformat"] ?? throw new PicoGptException($"{where}: no nbformat field (is this a notebook?)"),
            NbFormatMinor = (int?)root["nbformat_minor"] ?? 0,
            Metadata = root["metadata"]?.DeepClone() as JsonObject ?? new JsonObject(),
        };
        if (nb.NbFormat != 4) throw new PicoGptException($"{where}: nbformat {nb.NbFormat} is not supported (expected 4)");
        if (root["cells"] is not JsonArray cells) throw new PicoGptException($"{where}: no cells array");
        foreach (var c in cells.OfType<JsonObject>()) nb.Cells.Add(NotebookCell.FromJson(c));
        return nb;
    }

    /// <summary>The notebook as nbformat 4.5 JSON (upgrades older minors, gives every cell a unique id).</summary>
    public string ToJson()
    {
        EnsureUniqueIds();
        NbFormatMinor = Math.Max(NbFormatMinor, 5);
        var root = new JsonObject
        {
            ["cells"] = new JsonArray(Cells.Select(c => (JsonNode?)c.ToJson()).ToArray()),
            ["metadata"] = Metadata.DeepClone(),
            ["nbformat"] = NbFormat,
            ["nbformat_minor"] = NbFormatMinor,
        };
        return Write(root);
    }

    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, ToJson());
    }

    public NotebookDocument Clone() => Parse(ToJson());

    static readonly Regex IdPattern = new("^[a-zA-Z0-9_-]{1,64}$", RegexOptions.Compiled);

    /// <summary>Gives cells without a valid id, or with an id used earlier in the notebook, a fresh 8-character id.</summary>
    public void EnsureUniqueIds()
    {
        var seen = new HashSet<string>();
        foreach (var cell in Cells)
        {
            if (cell.Id is { } id && IdPattern.IsMatch(id) && seen.Add(id)) continue;
            string fresh;
            do fresh = Guid.NewGuid().ToString("N")[..8]; while (Cells.Any(c => c.Id == fresh) || !seen.Add(fresh));
            cell.Id = fresh;
        }
    }

    /// <summary>What keeps this from being a valid Polyglot nbformat 4.5 notebook (empty when valid).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (NbFormat != 4 || NbFormatMinor < 5) problems.Add($"nbformat {NbFormat}.{NbFormatMinor}, expected 4.5 or later");
        var ids = new HashSet<string>();
        for (int i = 0; i < Cells.Count; i++)
        {
            var c = Cells[i];
            if (c.Id is not { } id || !IdPattern.IsMatch(id)) problems.Add($"cell {i}: missing or invalid id");
            else if (!ids.Add(id)) problems.Add($"cell {i}: duplicate id {id}");
            if (c.CellType is not ("code" or "markdown" or "raw")) problems.Add($"cell {i}: unknown cell_type '{c.CellType}'");
            if (c.IsCode && (string?)c.Metadata["polyglot_notebook"]?["kernelName"] != "csharp") problems.Add($"cell {i}: code cell without polyglot_notebook.kernelName csharp");
        }
        if ((string?)Metadata["kernelspec"]?["name"] != ".net-csharp") problems.Add("metadata.kernelspec.name is not .net-csharp");
        if ((string?)Metadata["polyglot_notebook"]?["kernelInfo"]?["defaultKernelName"] != "csharp") problems.Add("metadata.polyglot_notebook.kernelInfo.defaultKernelName is not csharp");
        return problems;
    }

    // ---- JSON writing: sorted keys (recursively), one-space indent, no escaping beyond JSON's own, trailing newline

    static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true, IndentSize = 1, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    internal static string Write(JsonNode node)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions)) Sorted(node)!.WriteTo(writer);
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Sorted(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };

    /// <summary>nbformat's multiline string: a list of lines, each but the last ending in \n.</summary>
    internal static JsonArray Lines(string text)
    {
        var lines = new JsonArray();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') { lines.Add(text[start..(i + 1)]); start = i + 1; }
        if (start < text.Length) lines.Add(text[start..]);
        return lines;
    }

    /// <summary>A string or a list of strings, joined.</summary>
    internal static string Text(JsonNode? node) => node switch
    {
        JsonArray a => string.Concat(a.Select(x => (string?)x ?? "")),
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        null => "",
        _ => node.ToJsonString(),
    };
}

/// <summary>One cell: code, markdown or raw.</summary>
public sealed class NotebookCell
{
    public string? Id { get; set; }
    public string CellType { get; set; } = "code";
    public string Source { get; set; } = "";
    public JsonObject Metadata { get; set; } = new();
    public List<CellOutput> Outputs { get; } = new();
    public int? ExecutionCount { get; set; }
    /// <summary>Other cell fields (e.g. attachments), kept as they were read.</summary>
    public JsonObject Extra { get; } = new();

    public bool IsCode => CellType == "code";

    /// <summary>A C# code cell with Polyglot's cell metadata.</summary>
    public static NotebookCell Code(string source, string? id = null) => new()
    {
        Id = id, CellType = "code", Source = source,
        Metadata = new JsonObject
        {
            ["dotnet_interactive"] = new JsonObject { ["language"] = "csharp" },
            ["polyglot_notebook"] = new JsonObject { ["kernelName"] = "csharp" },
        },
    };

    public static NotebookCell Markdown(string source, string? id = null) => new() { Id = id, CellType = "markdown", Source = source };

    internal static NotebookCell FromJson(JsonObject c)
    {
        var cell = new NotebookCell
        {
            Id = (string?)c["id"],
            CellType = (string?)c["cell_type"] ?? "code",
            Source = NotebookDocument.Text(c["source"]),
            Metadata = c["metadata"]?.DeepClone() as JsonObject ?? new JsonObject(),
            ExecutionCount = (int?)c["execution_count"],
        };
        if (c["outputs"] is JsonArray outputs)
            foreach (var o in outputs.OfType<JsonObject>()) cell.Outputs.Add(CellOutput.FromJson(o));
        foreach (var (k, v) in c)
            if (k is not ("id" or "cell_type" or "source" or "metadata" or "execution_count" or "outputs")) cell.Extra[k] = v?.DeepClone();
        return cell;
    }

    internal JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["cell_type"] = CellType,
            ["id"] = Id,
            ["metadata"] = Metadata.DeepClone(),
            ["source"] = NotebookDocument.Lines(Source),
        };
        if (IsCode)
        {
            o["execution_count"] = ExecutionCount;
            o["outputs"] = new JsonArray(Outputs.Select(x => (JsonNode?)x.ToJson()).ToArray());
        }
        foreach (var (k, v) in Extra) o[k] = v?.DeepClone();
        return o;
    }
}

/// <summary>One output of a code cell: display_data, execute_result, stream or error.</summary>
public sealed class CellOutput
{
    public string OutputType { get; set; } = "display_data";
    /// <summary>Mime type to content (display_data, execute_result); text content is a string.</summary>
    public JsonObject Data { get; } = new();
    public JsonObject Metadata { get; } = new();
    public int? ExecutionCount { get; set; }
    /// <summary>stdout or stderr (stream).</summary>
    public string? Name { get; set; }
    /// <summary>The stream's text (stream).</summary>
    public string? Text { get; set; }
    public string? EName { get; set; }
    public string? EValue { get; set; }
    public List<string> Traceback { get; } = new();

    /// <summary>A mime type's content as text, or null.</summary>
    public string? DataText(string mime) => Data.TryGetPropertyValue(mime, out var v) ? NotebookDocument.Text(v) : null;

    public static CellOutput Display(IReadOnlyDictionary<string, string> formats, bool result = false, int? executionCount = null)
    {
        var o = new CellOutput { OutputType = result ? "execute_result" : "display_data", ExecutionCount = result ? executionCount : null };
        foreach (var (mime, text) in formats) o.Data[mime] = text;
        return o;
    }

    public static CellOutput Stream(string name, string text) => new() { OutputType = "stream", Name = name, Text = text };

    public static CellOutput Error(string ename, string evalue, IEnumerable<string> traceback)
    {
        var o = new CellOutput { OutputType = "error", EName = ename, EValue = evalue };
        o.Traceback.AddRange(traceback);
        return o;
    }

    internal static CellOutput FromJson(JsonObject o)
    {
        var output = new CellOutput
        {
            OutputType = (string?)o["output_type"] ?? "display_data",
            ExecutionCount = (int?)o["execution_count"],
            Name = (string?)o["name"],
            Text = o["text"] is { } t ? NotebookDocument.Text(t) : null,
            EName = (string?)o["ename"],
            EValue = (string?)o["evalue"],
        };
        if (o["data"] is JsonObject data)
            foreach (var (mime, v) in data)
                output.Data[mime] = v is JsonArray a && a.All(x => x is JsonValue) ? NotebookDocument.Text(a) : v?.DeepClone();
        if (o["metadata"] is JsonObject meta) foreach (var (k, v) in meta) output.Metadata[k] = v?.DeepClone();
        if (o["traceback"] is JsonArray tb) output.Traceback.AddRange(tb.Select(x => (string?)x ?? ""));
        return output;
    }

    internal JsonObject ToJson()
    {
        var o = new JsonObject { ["output_type"] = OutputType };
        switch (OutputType)
        {
            case "stream":
                o["name"] = Name ?? "stdout";
                o["text"] = NotebookDocument.Lines(Text ?? "");
                break;
            case "error":
                o["ename"] = EName ?? "";
                o["evalue"] = EValue ?? "";
                o["traceback"] = new JsonArray(Traceback.Select(x => (JsonNode?)x).ToArray());
                break;
            default:
                var data = new JsonObject();
                foreach (var (mime, v) in Data)
                    data[mime] = v is JsonValue s && s.TryGetValue<string>(out var text) && IsTextMime(mime) ? NotebookDocument.Lines(text) : v?.DeepClone();
                o["data"] = data;
                o["metadata"] = Metadata.DeepClone();
                if (OutputType == "execute_result") o["execution_count"] = ExecutionCount;
                break;
        }
        return o;
    }

    static bool IsTextMime(string mime) => mime.StartsWith("text/") || mime is "image/svg+xml" or "application/javascript";
}
