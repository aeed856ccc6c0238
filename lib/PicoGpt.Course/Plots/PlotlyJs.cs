using System.IO.Compression;
using System.Text.RegularExpressions;

namespace PicoGpt.Plots;

/// <summary>
/// plotly.js, embedded in this library: the partial bundle plotly.js-cartesian-dist-min 2.30.1 (1.3 MB; scatter, heatmap,
/// bar and the other 2D traces, no 3D, maps or WebGL), vendored gzipped in Plots/plotly/ (origin, sha256 and licence in its
/// README.md) and embedded as it is (430 kB). Charts need it in the page, offline included:
/// the first chart rendered after <see cref="ResetPage"/> (that is, the first chart of a notebook session) carries it
/// inline, guarded by <c>if (!window.Plotly)</c>; later charts reuse window.Plotly. Standalone pages embed it once.
/// </summary>
public static class PlotlyJs
{
    const string ResourceName = "PicoGpt.Plots.plotly.min.js.gz";
    static readonly Lazy<byte[]> _gzip = new(LoadGzip);
    static readonly Lazy<string> _source = new(() =>
    {
        using var gz = new GZipStream(new MemoryStream(_gzip.Value), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return reader.ReadToEnd();
    });
    static int _pageHasIt;

    /// <summary>The library's text (plotly-cartesian.min.js).</summary>
    public static string Source => _source.Value;

    /// <summary>plotly.js's version, read from the library's header comment ("plotly.js (cartesian - minified) v2.30.1").</summary>
    public static string Version => Regex.Match(Source[..Math.Min(200, Source.Length)], @"plotly\.js (?:\([^)]*\) )?v([0-9.]+)").Groups[1].Value;

    /// <summary>
    /// A script element that defines window.Plotly unless the page already has it. define/exports/module are hidden so the
    /// UMD bundle sets window.Plotly even where RequireJS is loaded (classic Jupyter).
    /// </summary>
    public static string ScriptTag() =>
        $"<script data-plotlyjs=\"{Version}\">if (!window.Plotly) {{ (function (define, exports, module) {{\n{Source}\n}}).call(window); }}</script>";

    /// <summary>
    /// A script element for a notebook output that loads plotly.js from its gzip, inline, unless the page already has it:
    /// the bytes are base64 in the script, the browser's DecompressionStream inflates them and the text runs as an inline
    /// script (with define/exports/module hidden, as in <see cref="ScriptTag"/>). Loading is asynchronous:
    /// window.picogptPlotly is a promise of window.Plotly that charts wait for (<see cref="Chart.ToDiv"/>).
    /// </summary>
    public static string CompressedScriptTag() =>
        $"<script data-plotlyjs=\"{Version}\">(function () {{\n" +
        "  if (window.Plotly || window.picogptPlotly) return;\n" +
        $"  var gz = \"{Convert.ToBase64String(_gzip.Value)}\";\n" +
        "  window.picogptPlotly = new Promise(function (resolve, reject) {\n" +
        "    try {\n" +
        "      var bytes = Uint8Array.from(atob(gz), function (c) { return c.charCodeAt(0); });\n" +
        "      new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text().then(function (code) {\n" +
        "        var s = document.createElement('script');\n" +
        "        s.text = '(function (define, exports, module) {\\n' + code + '\\n}).call(window);';\n" +
        "        document.head.appendChild(s);\n" +
        "        if (window.Plotly) resolve(window.Plotly); else reject(new Error('plotly.js did not define window.Plotly'));\n" +
        "      }, reject);\n" +
        "    } catch (e) { reject(e); }\n" +
        "  });\n" +
        "})();</script>";

    /// <summary>The next chart rendered carries plotly.js again (the runner calls this at the start of every notebook).</summary>
    public static void ResetPage() => Interlocked.Exchange(ref _pageHasIt, 0);

    /// <summary>True the first time it is called after <see cref="ResetPage"/> (or ever): the caller must include plotly.js.</summary>
    internal static bool ClaimPage() => Interlocked.Exchange(ref _pageHasIt, 1) == 0;

    static readonly Regex Inline = new("<script data-plotlyjs=\"[^\"]*\">.*?</script>", RegexOptions.Singleline | RegexOptions.Compiled);

    /// <summary>True when the HTML carries an inline copy of plotly.js.</summary>
    public static bool HasInlineCopy(string html) => html.Contains("<script data-plotlyjs=", StringComparison.Ordinal);

    /// <summary>The HTML without its inline copies of plotly.js (a page that embeds the library once, in its head, uses this).</summary>
    public static string RemoveInlineCopies(string html) => HasInlineCopy(html) ? Inline.Replace(html, "") : html;

    /// <summary>The HTML with each inline copy of plotly.js replaced by a short comment (for logs and JSON reports).</summary>
    public static string Elide(string html) => HasInlineCopy(html)
        ? Inline.Replace(html, $"<script data-plotlyjs=\"{Version}\">/* plotly.js {Version} inline (gzipped, {_gzip.Value.Length:N0} bytes) elided */</script>")
        : html;

    static byte[] LoadGzip()
    {
        using var stream = typeof(PlotlyJs).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new PicoGptException($"plotly.js is missing from {typeof(PlotlyJs).Assembly.GetName().Name}.dll (resource {ResourceName}): rebuild the library");
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}
