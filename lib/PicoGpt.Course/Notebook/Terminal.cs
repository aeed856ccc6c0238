using System.Runtime.CompilerServices;
using System.Text.Json;
using PicoGpt.Exercises;
using PicoGpt.Plots;

namespace PicoGpt.Notebook;

/// <summary>
/// What a notebook's <c>display(...)</c> does, in a terminal: the lessons (lessons/*.cs, file-based apps generated from
/// the notebooks) import it with <c>using static PicoGpt.Notebook.Terminal;</c>.
/// <list type="bullet">
/// <item>A <see cref="CheckResult"/> prints the notebook's text/plain (<c>✓ … passed</c>, <c>✗ … failed: … Hint: …</c>,
/// <c>… not implemented yet</c>), its first line green, red or amber (ANSI colours unless NO_COLOR is set or the output is
/// not a terminal).</item>
/// <item>A <see cref="Chart"/> (line charts, heatmaps) is written as an offline HTML page (plotly.js embedded) in a
/// <c>charts/</c> folder beside the lesson file, and its path is printed.</item>
/// <item>Anything else prints its text/plain form (tensors as shape, dtype, statistics and a value table).</item>
/// </list>
/// When the environment variable <see cref="ReportVariable"/> names a file, every check result is also appended to it as
/// one JSON line (name, status, message, hint, details): <c>picogpt learn</c> reads the verdicts from there.
/// </summary>
public static class Terminal
{
    /// <summary>The environment variable naming the file that check results are appended to (JSON lines).</summary>
    public const string ReportVariable = "PICOGPT_LESSON_REPORT";

    static int _charts;

    /// <summary>True when output gets ANSI colours: stdout is a terminal and NO_COLOR is not set (FORCE_COLOR forces them).</summary>
    public static bool Colour =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("FORCE_COLOR")) ||
        (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")) && !Console.IsOutputRedirected);

    /// <summary>
    /// Shows a value as the notebook would, in the terminal (see the class summary). <paramref name="file"/> is the
    /// calling source file (the lesson), filled in by the compiler: charts are written beside it.
    /// </summary>
    public static void display(object? value, [CallerFilePath] string file = "")
    {
        switch (value)
        {
            case CheckResult check:
                Console.WriteLine(Verdict(check, Colour));
                Report(check);
                break;
            case Chart chart:
                Console.WriteLine($"chart: {chart.Title} -> {SaveChart(chart, file, null)}");
                break;
            default:
                var formats = Html.Formats(value);
                Console.WriteLine(formats[Html.PlainMimeType]);
                break;
        }
    }

    /// <summary>
    /// A chart that a cell redraws (PicoGpt's Live.Display outside a kernel): written to one HTML file, rewritten on every
    /// update, its path printed once. Values other than charts print once and ignore updates. Internal, and not named
    /// Live: the lessons import this class's public members with <c>using static</c>, and a member named Live would hide
    /// the type in their <c>Live.Display(...)</c> (CS0119).
    /// </summary>
    internal static Action<object?> LiveToFile(object? value, string file)
    {
        if (value is not Chart chart) { display(value, file); return _ => { }; }
        var path = SaveChart(chart, file, null);
        Console.WriteLine($"chart: {chart.Title} -> {path} (updated as the cell runs)");
        return v => { if (v is Chart c) SaveChart(c, file, path); };
    }

    /// <summary>A check's text/plain lines, the first one coloured by its status when <paramref name="colour"/>.</summary>
    public static string Verdict(CheckResult check, bool colour)
    {
        var text = check.ToPlainText();
        if (!colour) return text;
        var code = check.Passed ? "32" : check.NotImplemented ? "33" : "31";
        var lines = text.Split('\n');
        lines[0] = $"\u001b[1;{code}m{lines[0]}\u001b[0m";
        for (int i = 1; i < lines.Length; i++) lines[i] = $"\u001b[2m{lines[i]}\u001b[0m";
        return string.Join("\n", lines);
    }

    static void Report(CheckResult check)
    {
        var path = Environment.GetEnvironmentVariable(ReportVariable);
        if (string.IsNullOrEmpty(path)) return;
        // Utf8JsonWriter, not JsonSerializer: a file-based app may run with reflection-based serialization disabled
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("Name", check.Name);
            json.WriteString("Status", check.Status);
            json.WriteString("Message", check.Message);
            if (check.Hint != null) json.WriteString("Hint", check.Hint); else json.WriteNull("Hint");
            json.WriteStartArray("Details");
            foreach (var d in check.Details) json.WriteStringValue(d);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        File.AppendAllText(path, System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n");
    }

    /// <summary>Writes the chart as a standalone page in charts/ beside <paramref name="file"/>; returns its path (relative to the working directory when inside it).</summary>
    static string SaveChart(Chart chart, string file, string? path)
    {
        if (path == null)
        {
            var dir = Path.Combine(string.IsNullOrEmpty(file) ? Environment.CurrentDirectory : Path.GetDirectoryName(Path.GetFullPath(file))!, "charts");
            Directory.CreateDirectory(dir);
            var stem = string.IsNullOrEmpty(file) ? "chart" : Path.GetFileNameWithoutExtension(file);
            path = Path.Combine(dir, $"{stem}-{Interlocked.Increment(ref _charts)}.html");
        }
        chart.SaveHtml(path);
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, path);
        return relative.StartsWith("..", StringComparison.Ordinal) ? path : relative;
    }
}

/// <summary>One check result as a lesson reports it to <c>picogpt learn</c> (a JSON line; see <see cref="Terminal.ReportVariable"/>).</summary>
public sealed record LessonCheck(string Name, string Status, string Message, string? Hint, string[] Details)
{
    public bool Passed => Status == "passed";
    public bool NotImplemented => Status == "not implemented yet";
}
