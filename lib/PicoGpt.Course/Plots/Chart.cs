using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using System.Text.Json.Nodes;
using PicoGpt.Notebook;

namespace PicoGpt.Plots;

/// <summary>
/// A plotly figure (data + layout) built by our own code as JSON, rendered as a &lt;div&gt; plus a script calling
/// Plotly.newPlot. We write the plotly JSON ourselves (System.Text.Json) instead of using Plotly.NET's F# API: the figure
/// schema is small and documented, the library stays free of FSharp.Core, and the same HTML works in VS Code, Jupyter,
/// our runner and standalone pages. Displays itself in a notebook through the formatter convention.
/// </summary>
[TypeFormatterSource(typeof(FormatterSource))]
public sealed class Chart : IRenderable
{
    // escapes the HTML-sensitive < > & ' + ` (safe inside a script element) but keeps other characters readable
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false, Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    public string Title { get; }
    public int Width { get; }
    public int Height { get; }
    internal JsonArray Data { get; }
    internal JsonObject Layout { get; }

    internal Chart(string title, JsonArray data, JsonObject layout, int width, int height)
    {
        Title = title;
        Data = data;
        Layout = layout;
        Width = width;
        Height = height;
        Layout["width"] = width;
        Layout["height"] = height;
    }

    /// <summary>The figure as plotly JSON: {"data": [...], "layout": {...}}.</summary>
    public string ToJson() => new JsonObject { ["data"] = Data.DeepClone(), ["layout"] = Layout.DeepClone() }.ToJsonString(Json);

    /// <summary>The notebook output: the chart's div and script, carrying plotly.js if this is the page's first chart.</summary>
    public string ToHtml() => ToDiv(PlotlyJs.ClaimPage());

    /// <summary>
    /// A &lt;div&gt; plus a script calling Plotly.newPlot, with plotly.js inline (gzipped) before it when asked. The
    /// script draws at once when the page has window.Plotly, else waits for the inline copy being inflated
    /// (window.picogptPlotly), else says that plotly.js is not on the page.
    /// </summary>
    public string ToDiv(bool includePlotlyJs)
    {
        var id = "picogpt-plot-" + Guid.NewGuid().ToString("N")[..12];
        var sb = new StringBuilder();
        if (includePlotlyJs) sb.Append(PlotlyJs.CompressedScriptTag()).Append('\n');
        sb.Append($"<div id=\"{id}\" style=\"width:{Width}px;height:{Height}px\"></div>\n");
        sb.Append("<script>(function () {\n")
          .Append($"  var el = document.getElementById('{id}');\n")
          .Append($"  var fig = {ToJson()};\n")
          .Append("  function draw(Plotly) { Plotly.newPlot(el, fig.data, fig.layout, {displaylogo: false, responsive: false}); }\n")
          .Append("  if (window.Plotly) draw(window.Plotly);\n")
          .Append("  else if (window.picogptPlotly) window.picogptPlotly.then(draw, function (e) { el.textContent = 'plotly.js did not load: ' + e; });\n")
          .Append("  else el.textContent = 'plotly.js is not loaded on this page: re-run the first chart cell (or call PicoGpt.Plots.PlotlyJs.ResetPage() and re-run this one).';\n")
          .Append("})();</script>");
        return sb.ToString();
    }

    /// <summary>A complete HTML page with plotly.js embedded once: opens offline in any browser.</summary>
    public string ToStandaloneHtml() =>
        $"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{Html.Escape(Title)}</title>\n{PlotlyJs.ScriptTag()}\n</head>\n<body>\n{ToDiv(false)}\n</body>\n</html>\n";

    /// <summary>Writes <see cref="ToStandaloneHtml"/> to a file (through a temp file and a rename: never half written).</summary>
    public void SaveHtml(string path) => Weights.AtomicFile.WriteAllText(path, ToStandaloneHtml());

    public string ToPlainText() => $"Chart: {Title} ({Data.Count} trace{(Data.Count == 1 ? "" : "s")})";

    public override string ToString() => ToPlainText();
}
