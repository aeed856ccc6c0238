using System.Text;
using PicoGpt.Notebook;

namespace PicoGpt.Exercises;

/// <summary>
/// The outcome of an exercise check: passed, failed (with the case, expected vs got, and a hint when the mistake is a
/// known one) or not implemented yet (the learner's function still throws NotImplementedException).
/// Shows in a notebook as a green, red or amber box.
/// </summary>
[TypeFormatterSource(typeof(FormatterSource))]
public sealed class CheckResult : IRenderable
{
    /// <summary>What was checked, e.g. "softmax".</summary>
    public string Name { get; }
    public bool Passed { get; }
    /// <summary>The learner's function threw NotImplementedException: nothing was checked yet.</summary>
    public bool NotImplemented { get; }
    /// <summary>One line: the summary on success; on failure the case, what differs, and the hint.</summary>
    public string Message { get; }
    /// <summary>The diagnosis of a known mistake, or null.</summary>
    public string? Hint { get; }
    /// <summary>One line per case that ran: ✓ or ✗, its name, tolerance and error.</summary>
    public IReadOnlyList<string> Details { get; }

    internal CheckResult(string name, bool passed, bool notImplemented, string message, string? hint, IReadOnlyList<string> details)
    {
        Name = name;
        Passed = passed;
        NotImplemented = notImplemented;
        Message = message;
        Hint = hint;
        Details = details;
    }

    /// <summary>"passed", "failed" or "not implemented yet".</summary>
    public string Status => Passed ? "passed" : NotImplemented ? "not implemented yet" : "failed";

    string Mark => Passed ? "✓" : NotImplemented ? "…" : "✗";

    /// <summary>One line, e.g. "✓ softmax passed: 5 cases match ...".</summary>
    public override string ToString() => $"{Mark} {Name} {Status}: {Message}";

    public string ToPlainText() => Details.Count == 0 ? ToString() : ToString() + "\n" + string.Join("\n", Details.Select(d => "  " + d));

    public string ToHtml()
    {
        var (border, background, title) = Passed ? ("#2e7d32", "#e8f5e9", "#1b5e20")
            : NotImplemented ? ("#b7791f", "#f7f3e8", "#7a5a1a")
            : ("#c62828", "#ffebee", "#b71c1c");
        var sb = new StringBuilder();
        sb.Append($"<div class=\"picogpt-check picogpt-check-{(Passed ? "pass" : NotImplemented ? "todo" : "fail")}\" ")
          .Append($"style=\"border:1px solid {border};border-left:6px solid {border};background:{background};color:#222;")
          .Append("padding:6px 12px;margin:4px 0;border-radius:4px;font-family:sans-serif;font-size:13px\">");
        sb.Append($"<div style=\"color:{title};font-weight:bold\">{Mark} {Html.Escape(Name)}: {Html.Escape(Status)}</div>");
        var message = Hint != null && Message.EndsWith(". Hint: " + Hint) ? Message[..^(". Hint: " + Hint).Length] : Message;
        sb.Append($"<div style=\"margin-top:2px\">{Html.Escape(message)}</div>");
        if (Hint != null) sb.Append($"<div style=\"margin-top:4px\"><b>Hint:</b> {Html.Escape(Hint)}</div>");
        if (Details.Count > 0)
        {
            sb.Append($"<details style=\"margin-top:4px\"{(Passed || NotImplemented ? "" : " open")}><summary style=\"cursor:pointer;color:#555\">cases</summary>");
            sb.Append("<ul style=\"margin:2px 0;padding-left:18px;font-family:monospace;font-size:12px\">");
            foreach (var d in Details) sb.Append($"<li>{Html.Escape(d)}</li>");
            sb.Append("</ul></details>");
        }
        return sb.Append("</div>").ToString();
    }
}
