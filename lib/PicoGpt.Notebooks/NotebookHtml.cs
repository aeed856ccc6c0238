using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Notebook;
using PicoGpt.Plots;

namespace PicoGpt.Notebooks;

/// <summary>
/// An executed notebook as one standalone HTML page: markdown cells rendered (simply), code cells with their outputs,
/// plotly.js embedded once in the head when any output draws a chart (inline copies in outputs are dropped), so charts
/// render offline.
/// </summary>
public static class NotebookHtml
{
    public static string Export(InteractiveDocument nb, string title)
    {
        var outputsHtml = nb.Elements.SelectMany(c => c.Outputs).Select(o => NotebookFile.Data(o) is { } d ? NotebookFile.DataText(d, Html.MimeType) ?? "" : "").ToList();
        bool charts = outputsHtml.Any(h => h.Contains("Plotly.newPlot", StringComparison.Ordinal));
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
          .Append($"<title>{Html.Escape(title)}</title>\n<style>{Css}</style>\n");
        if (charts) sb.Append(PlotlyJs.ScriptTag()).Append('\n');
        sb.Append("</head>\n<body>\n<main>\n");
        foreach (var cell in nb.Elements)
        {
            if (!cell.IsCode()) sb.Append("<section class=\"md\">\n").Append(Markdown.ToHtml(cell.Contents)).Append("</section>\n");
            else
            {
                sb.Append("<section class=\"code\">\n");
                sb.Append($"<div class=\"prompt\">[{(cell.ExecutionOrder > 0 ? cell.ExecutionOrder.ToString() : " ")}]</div>");
                sb.Append($"<pre class=\"source\"><code>{Html.Escape(cell.Contents)}</code></pre>\n");
                foreach (var o in cell.Outputs) sb.Append(Output(o)).Append('\n');
                sb.Append("</section>\n");
            }
        }
        return sb.Append("</main>\n</body>\n</html>\n").ToString();
    }

    public static void Save(InteractiveDocument nb, string path, string? title = null) =>
        NotebookFile.WriteAtomic(path, Export(nb, title ?? Path.GetFileNameWithoutExtension(path)));

    static string Output(InteractiveDocumentOutputElement o) => o switch
    {
        TextElement t => $"<pre class=\"out {(t.Name == "stderr" ? "stderr" : "stdout")}\">{Html.Escape(t.Text)}</pre>",
        ErrorElement e => $"<pre class=\"out error\">{Html.Escape(e.ErrorName + ": " + e.ErrorValue)}" +
                          (e.StackTrace.Length > 1 ? "\n" + Html.Escape(string.Join("\n", e.StackTrace.Skip(1))) : "") + "</pre>",
        _ when NotebookFile.Data(o) is { } data => NotebookFile.DataText(data, Html.MimeType) is { } html
            ? $"<div class=\"out html\">{PlotlyJs.RemoveInlineCopies(html)}</div>"
            : $"<pre class=\"out\">{Html.Escape(NotebookFile.DataText(data, Html.PlainMimeType))}</pre>",
        _ => "",
    };

    const string Css =
        "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;line-height:1.5;color:#222;background:#fff;margin:0}" +
        "main{max-width:1100px;margin:0 auto;padding:24px}" +
        "section{margin:12px 0}" +
        ".code{position:relative;padding-left:56px}" +
        ".prompt{position:absolute;left:0;top:6px;width:50px;text-align:right;color:#888;font-family:monospace;font-size:12px}" +
        "pre{overflow-x:auto;padding:8px 10px;border-radius:4px;font-size:13px;margin:4px 0}" +
        "pre.source{background:#f5f7f9;border:1px solid #e1e4e8}" +
        "pre.out{background:#fff;border-left:3px solid #ddd}" +
        "pre.stderr{border-left-color:#e0a030}" +
        "pre.error{background:#fff0f0;border-left-color:#c62828;color:#8b0000}" +
        "div.out{margin:4px 0;overflow-x:auto}" +
        "code{font-family:SFMono-Regular,Consolas,Menlo,monospace}" +
        ".md code{background:#f2f2f2;padding:1px 4px;border-radius:3px}" +
        ".md pre code{background:none;padding:0}" +
        ".md pre{background:#f5f7f9}" +
        ".md table{border-collapse:collapse;margin:8px 0;font-size:14px}" +
        ".md th,.md td{border:1px solid #d0d7de;padding:3px 10px;text-align:left}" +
        ".md th{background:#f6f8fa}";
}

/// <summary>
/// A tiny markdown renderer for notebook prose: headings, paragraphs, fenced code, bullet and numbered lists,
/// block quotes, tables (GitHub's: a header row, a separator row such as <c>| --- | :-: |</c>, then body rows; a
/// <c>|</c> inside a code span or escaped as <c>\|</c> does not split cells), bold, italic, inline code and links.
/// No raw HTML pass-through; math stays as typed.
/// </summary>
public static class Markdown
{
    static readonly Regex Heading = new(@"^(#{1,6})\s+(.*?)\s*#*\s*$");
    static readonly Regex Bullet = new(@"^\s*[-*+]\s+(.*)$");
    static readonly Regex Numbered = new(@"^\s*\d+[.)]\s+(.*)$");
    static readonly Regex TableSeparator = new(@"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$");

    public static string ToHtml(string markdown)
    {
        var sb = new StringBuilder();
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var paragraph = new List<string>();
        string? list = null;                                                  // "ul" or "ol" while inside a list

        void EndParagraph()
        {
            if (paragraph.Count > 0) sb.Append("<p>").Append(Inline(string.Join(" ", paragraph))).Append("</p>\n");
            paragraph.Clear();
        }
        void EndList()
        {
            if (list != null) sb.Append($"</{list}>\n");
            list = null;
        }

        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.TrimStart().StartsWith("```"))
            {
                EndParagraph(); EndList();
                var lang = line.Trim()[3..].Trim();
                var code = new List<string>();
                for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```"); i++) code.Add(lines[i]);
                var cls = lang.Length > 0 ? $" class=\"language-{Html.Escape(lang)}\"" : "";
                sb.Append($"<pre><code{cls}>").Append(Html.Escape(string.Join("\n", code))).Append("</code></pre>\n");
                continue;
            }
            if (string.IsNullOrWhiteSpace(line)) { EndParagraph(); EndList(); continue; }
            if (line.Contains('|') && i + 1 < lines.Length && lines[i + 1].Contains('-') && TableSeparator.IsMatch(lines[i + 1]))
            {
                EndParagraph(); EndList();
                var header = Cells(line);
                var align = Cells(lines[i + 1]).Select(c => c.StartsWith(':') && c.EndsWith(':') ? "center" : c.EndsWith(':') ? "right" : c.StartsWith(':') ? "left" : null).ToList();
                string Cell(string tag, string text, int col) =>
                    $"<{tag}{(col < align.Count && align[col] is { } a ? $" style=\"text-align:{a}\"" : "")}>{Inline(text)}</{tag}>";
                sb.Append("<table>\n<thead><tr>").AppendJoin("", header.Select((c, col) => Cell("th", c, col))).Append("</tr></thead>\n<tbody>\n");
                for (i += 2; i < lines.Length && !string.IsNullOrWhiteSpace(lines[i]) && lines[i].Contains('|'); i++)
                {
                    var cells = Cells(lines[i]);
                    sb.Append("<tr>").AppendJoin("", header.Select((_, col) => Cell("td", col < cells.Count ? cells[col] : "", col))).Append("</tr>\n");
                }
                i--;
                sb.Append("</tbody>\n</table>\n");
                continue;
            }
            var h = Heading.Match(line);
            if (h.Success)
            {
                EndParagraph(); EndList();
                int level = h.Groups[1].Length;
                sb.Append($"<h{level}>").Append(Inline(h.Groups[2].Value)).Append($"</h{level}>\n");
                continue;
            }
            var b = Bullet.Match(line);
            var n = b.Success ? Match.Empty : Numbered.Match(line);
            if (b.Success || n.Success)
            {
                EndParagraph();
                var kind = b.Success ? "ul" : "ol";
                if (list != kind) { EndList(); sb.Append($"<{kind}>\n"); list = kind; }
                sb.Append("<li>").Append(Inline((b.Success ? b : n).Groups[1].Value)).Append("</li>\n");
                continue;
            }
            if (line.TrimStart().StartsWith('>'))
            {
                EndParagraph(); EndList();
                sb.Append("<blockquote>").Append(Inline(line.TrimStart()[1..].Trim())).Append("</blockquote>\n");
                continue;
            }
            if (list != null && line.StartsWith("  ")) { sb.Length -= "</li>\n".Length; sb.Append(' ').Append(Inline(line.Trim())).Append("</li>\n"); continue; }
            EndList();
            paragraph.Add(line.Trim());
        }
        EndParagraph(); EndList();
        return sb.ToString();
    }

    /// <summary>The cells of a table row: split on | outside code spans and not escaped (\|), outer pipes dropped, trimmed.</summary>
    static List<string> Cells(string row)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        bool code = false;
        var s = row.Trim();
        if (s.StartsWith('|')) s = s[1..];
        if (s.EndsWith('|') && !s.EndsWith("\\|")) s = s[..^1];
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\\' && i + 1 < s.Length && s[i + 1] == '|') { cell.Append('|'); i++; continue; }
            if (c == '`') code = !code;
            if (c == '|' && !code) { cells.Add(cell.ToString().Trim()); cell.Clear(); continue; }
            cell.Append(c);
        }
        cells.Add(cell.ToString().Trim());
        return cells;
    }

    /// <summary>Inline markup on escaped text; code spans are protected from the other rules.</summary>
    static string Inline(string text)
    {
        var spans = new List<string>();
        var s = Regex.Replace(text, "`([^`]+)`", m => { spans.Add(m.Groups[1].Value); return $"\u0000{spans.Count - 1}\u0000"; });
        s = Html.Escape(s);
        s = Regex.Replace(s, @"\[([^\]]+)\]\(([^)\s]+)\)", m => $"<a href=\"{m.Groups[2].Value}\">{m.Groups[1].Value}</a>");
        s = Regex.Replace(s, @"\*\*(.+?)\*\*|__(.+?)__", m => $"<strong>{m.Groups[1].Value}{m.Groups[2].Value}</strong>");
        s = Regex.Replace(s, @"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", m => $"<em>{m.Groups[1].Value}{m.Groups[2].Value}</em>");
        return Regex.Replace(s, "\u0000(\\d+)\u0000", m => $"<code>{Html.Escape(spans[int.Parse(m.Groups[1].Value)])}</code>");
    }
}
