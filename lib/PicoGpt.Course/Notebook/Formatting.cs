using System.Collections;
using System.Reflection;

namespace PicoGpt.Notebook;

/// <summary>
/// The formatter convention of .NET Interactive (Polyglot Notebooks), declared here so the library needs no Interactive
/// package: the kernel looks for an attribute named TypeFormatterSourceAttribute with a FormatterSourceType property,
/// creates that type and calls its CreateTypeFormatters(); each formatter has a MimeType and a Format(object, TextWriter).
/// Our headless runner applies the same convention through <see cref="Html.Formats"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = true)]
internal sealed class TypeFormatterSourceAttribute : Attribute
{
    public TypeFormatterSourceAttribute(Type formatterSourceType) => FormatterSourceType = formatterSourceType;
    public Type FormatterSourceType { get; }
    public string[] PreferredMimeTypes { get; set; } = [Html.MimeType, Html.PlainMimeType];
}

/// <summary>A value that renders itself as HTML and as one line (or a few) of plain text.</summary>
internal interface IRenderable
{
    string ToHtml();
    string ToPlainText();
}

/// <summary>The formatter source named by our display types' attribute: one formatter for text/html, one for text/plain.</summary>
internal sealed class FormatterSource
{
    public IEnumerable<object> CreateTypeFormatters() =>
        [new RenderableFormatter(Html.MimeType), new RenderableFormatter(Html.PlainMimeType)];
}

internal sealed class RenderableFormatter(string mimeType)
{
    public string MimeType { get; } = mimeType;

    public bool Format(object instance, TextWriter writer)
    {
        if (instance is not IRenderable r) return false;
        writer.Write(MimeType == Html.MimeType ? r.ToHtml() : r.ToPlainText());
        return true;
    }
}

/// <summary>
/// Renders values the way a notebook shows them: through the type's convention-based formatters (any type carrying a
/// TypeFormatterSourceAttribute, ours or another library's), with a text/plain fallback for everything else.
/// </summary>
public static class Html
{
    public const string MimeType = "text/html";
    public const string PlainMimeType = "text/plain";

    /// <summary>The mime bundle for a value: text/html when its type has an HTML formatter, and always text/plain.</summary>
    public static IReadOnlyDictionary<string, string> Formats(object? value)
    {
        var result = new Dictionary<string, string>();
        if (value != null)
            foreach (var formatter in ConventionFormatters(value.GetType()))
            {
                var mime = formatter.GetType().GetProperty("MimeType")?.GetValue(formatter) as string;
                var format = formatter.GetType().GetMethod("Format", [typeof(object), typeof(TextWriter)]);
                if (mime == null || format == null || result.ContainsKey(mime)) continue;
                var writer = new StringWriter();
                if (format.Invoke(formatter, [value, writer]) is false) continue;
                result[mime] = writer.ToString();
            }
        if (!result.ContainsKey(PlainMimeType)) result[PlainMimeType] = PlainText(value);
        return result;
    }

    /// <summary>HTML for a value: its text/html formatter, else its plain text, escaped, in a &lt;pre&gt;.</summary>
    public static string Render(object? value)
    {
        var formats = Formats(value);
        return formats.TryGetValue(MimeType, out var html) ? html : $"<pre>{Escape(formats[PlainMimeType])}</pre>";
    }

    /// <summary>HTML-escapes text: &amp;, &lt;, &gt; and quotes (other characters stay as they are).</summary>
    public static string Escape(string? text) =>
        (text ?? "").Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;").Replace("'", "&#39;");

    /// <summary>Plain text for values without a formatter: null as &lt;null&gt;, sequences as [a, b, c], else ToString().</summary>
    static string PlainText(object? value) => value switch
    {
        null => "<null>",
        string s => s,
        IEnumerable e and not IRenderable => "[" + string.Join(", ", e.Cast<object?>().Take(100).Select(PlainText)) + "]",
        _ => value.ToString() ?? "",
    };

    /// <summary>The formatters from every TypeFormatterSourceAttribute (matched by name, as the kernel does) on the type and its bases.</summary>
    static IEnumerable<object> ConventionFormatters(Type type)
    {
        for (var t = type; t != null; t = t.BaseType)
            foreach (var attr in t.GetCustomAttributes(inherit: false))
            {
                if (attr.GetType().Name != "TypeFormatterSourceAttribute") continue;
                if (attr.GetType().GetProperty("FormatterSourceType")?.GetValue(attr) is not Type sourceType) continue;
                var source = Activator.CreateInstance(sourceType, nonPublic: true);
                if (sourceType.GetMethod("CreateTypeFormatters")?.Invoke(source, null) is not IEnumerable formatters) continue;
                foreach (var f in formatters) if (f != null) yield return f;
            }
    }
}
