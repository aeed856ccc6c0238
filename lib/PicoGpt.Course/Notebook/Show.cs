using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Notebook;

/// <summary>
/// Wrappers that display nicely in a notebook (tensors, tokens, next-token probabilities). Each returns a small object
/// holding a copy of what it shows, so it renders the same later even if the tensor is disposed.
/// </summary>
public static class Show
{
    /// <summary>A tensor's shape, dtype, device, min/max/mean and a compact value table (first and last rows and columns).</summary>
    public static TensorView Tensor(Tensor t, int maxRows = 8, int maxCols = 8, string? name = null) => new(t, maxRows, maxCols, name);

    /// <summary>Token ids with their token strings, one column per token.</summary>
    public static TokenTable Tokens(IReadOnlyList<int> ids, IReadOnlyList<string> tokens) => new(ids, tokens);

    /// <summary>Token ids with their token strings from a decoder (e.g. one id at a time through a tokenizer).</summary>
    public static TokenTable Tokens(IReadOnlyList<int> ids, Func<int, string> decode) => new(ids, ids.Select(decode).ToArray());

    /// <summary>The most likely next tokens with probability bars; probs is [V] (or [..., V]: the last row is shown).</summary>
    public static ProbabilityTable Probabilities(Tensor probs, Func<int, string>? decode = null, int top = 10) => new(probs, decode, top);

    /// <summary>Softmax of the logits (last position), then <see cref="Probabilities"/>.</summary>
    public static ProbabilityTable NextTokens(Tensor logits, Func<int, string>? decode = null, int top = 10)
    {
        using var scope = torch.NewDisposeScope();
        return new(logits.to(ScalarType.Float64).softmax(-1), decode, top);
    }

    /// <summary>A token as a label: whitespace made visible (space as ·, newline as \n, tab as \t), empty as ∅.</summary>
    public static string TokenLabel(string token)
    {
        if (token.Length == 0) return "∅";
        var s = token.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
        return string.IsNullOrWhiteSpace(s) || s.StartsWith(' ') || s.EndsWith(' ') ? s.Replace(' ', '·') : s;
    }

    internal static string Number(double v, bool isInteger)
    {
        if (v == 0) return "0";                                                // also -0, e.g. in Ops.CausalMask's visible cells
        if (isInteger) return v.ToString("0", CultureInfo.InvariantCulture);
        if (double.IsNaN(v)) return "nan";
        if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        var a = Math.Abs(v);
        return a != 0 && (a < 1e-3 || a >= 1e5)
            ? v.ToString("0.###e+0", CultureInfo.InvariantCulture)
            : v.ToString("0.####", CultureInfo.InvariantCulture);
    }
}

/// <summary>What <see cref="Show.Tensor"/> returns: shape, dtype, device, statistics and a truncated value table.</summary>
[TypeFormatterSource(typeof(FormatterSource))]
public sealed class TensorView : IRenderable
{
    public string? Name { get; }
    public long[] Shape { get; }
    public string DType { get; }
    public string Device { get; }
    /// <summary>min, max, mean of the values (null for empty, bool or integer-free summaries).</summary>
    public (double Min, double Max, double Mean)? Stats { get; }
    /// <summary>Up to two [rows, cols] slices of the last two dimensions, with their index prefix, e.g. "[0, :, :]".</summary>
    public IReadOnlyList<(string Index, string[][] Cells)> Slices { get; }

    internal TensorView(Tensor t, int maxRows, int maxCols, string? name)
    {
        using var scope = torch.NewDisposeScope();
        Name = name;
        Shape = t.shape;
        DType = t.dtype.ToString().ToLowerInvariant();
        Device = t.device.ToString();
        bool isInt = !torch.is_floating_point(t) && !torch.is_complex(t);
        var d = t.detach().cpu();
        if (d.dtype == ScalarType.Bool) d = d.to(ScalarType.Int64);
        d = d.to(ScalarType.Float64);
        if (d.numel() > 0) Stats = (d.min().item<double>(), d.max().item<double>(), d.mean().item<double>());
        var slices = new List<(string, string[][])>();
        if (t.dim() == 0) slices.Add(("", [[Show.Number(d.item<double>(), isInt)]]));
        else
        {
            var three = t.dim() == 1 ? d.reshape(1, 1, -1) : d.reshape(-1, d.shape[^2], d.shape[^1]); // [n_slices, rows, cols]
            long n = three.shape[0];
            foreach (long s in n <= 2 ? Enumerable.Range(0, (int)n).Select(i => (long)i) : new[] { 0L, n - 1 })
                slices.Add((SliceIndex(t.shape, s), Table(three[s], maxRows, maxCols, isInt)));
        }
        Slices = slices;
    }

    static string SliceIndex(long[] shape, long flat)
    {
        if (shape.Length <= 2) return "";
        var lead = new long[shape.Length - 2];
        for (int i = lead.Length - 1; i >= 0; i--) { lead[i] = flat % shape[i]; flat /= shape[i]; }
        return "[" + string.Join(", ", lead) + ", :, :]";
    }

    static string[][] Table(Tensor m, int maxRows, int maxCols, bool isInt) // m: [rows, cols] float64
    {
        var rows = Keep(m.shape[0], maxRows);
        var cols = Keep(m.shape[1], maxCols);
        return rows.Select(r => r < 0 ? cols.Select(_ => "⋮").ToArray()
            : cols.Select(c => c < 0 ? "…" : Show.Number(m[r, c].item<double>(), isInt)).ToArray()).ToArray();
    }

    /// <summary>Indices to show: all of them, or the first and last few with -1 standing for the gap.</summary>
    static long[] Keep(long n, int max)
    {
        if (n <= max) return Enumerable.Range(0, (int)n).Select(i => (long)i).ToArray();
        int head = (max + 1) / 2, tail = max / 2;
        return Enumerable.Range(0, head).Select(i => (long)i).Append(-1).Concat(Enumerable.Range(0, tail).Select(i => n - tail + i)).ToArray();
    }

    string Header => $"{(Name != null ? Name + ": " : "")}Tensor [{string.Join(", ", Shape)}] {DType} on {Device}" +
                     (Stats is { } s ? $" · min {Show.Number(s.Min, false)}, max {Show.Number(s.Max, false)}, mean {Show.Number(s.Mean, false)}" : "");

    public string ToPlainText()
    {
        var sb = new StringBuilder(Header);
        foreach (var (index, cells) in Slices)
        {
            sb.Append('\n');
            if (index != "") sb.Append(index).Append('\n');
            int w = cells.SelectMany(r => r).Select(c => c.Length).DefaultIfEmpty(1).Max();
            sb.AppendJoin('\n', cells.Select(r => string.Join("  ", r.Select(c => c.PadLeft(w)))));
        }
        return sb.ToString();
    }

    public string ToHtml()
    {
        var sb = new StringBuilder("<div style=\"font-family:sans-serif;font-size:13px;margin:4px 0\">");
        sb.Append($"<div style=\"margin-bottom:4px\"><b>{Html.Escape(Header)}</b></div>");
        foreach (var (index, cells) in Slices)
        {
            if (index != "") sb.Append($"<div style=\"color:#666;font-family:monospace\">{Html.Escape(index)}</div>");
            sb.Append("<table style=\"border-collapse:collapse;font-family:monospace;font-size:12px;margin-bottom:4px\">");
            foreach (var row in cells)
            {
                sb.Append("<tr>");
                foreach (var c in row) sb.Append($"<td style=\"border:1px solid #ddd;padding:1px 6px;text-align:right\">{Html.Escape(c)}</td>");
                sb.Append("</tr>");
            }
            sb.Append("</table>");
        }
        return sb.Append("</div>").ToString();
    }

    public override string ToString() => Header;
}

/// <summary>What <see cref="Show.Tokens(IReadOnlyList{int}, IReadOnlyList{string})"/> returns: ids with their token strings.</summary>
[TypeFormatterSource(typeof(FormatterSource))]
public sealed class TokenTable : IRenderable
{
    public IReadOnlyList<int> Ids { get; }
    public IReadOnlyList<string> Tokens { get; }

    internal TokenTable(IReadOnlyList<int> ids, IReadOnlyList<string> tokens)
    {
        if (ids.Count != tokens.Count) throw new PicoGptException($"token table needs one token per id: {ids.Count} ids, {tokens.Count} tokens");
        Ids = ids.ToArray();
        Tokens = tokens.ToArray();
    }

    public string ToPlainText() =>
        $"{Ids.Count} tokens: " + string.Join(" ", Ids.Select((id, i) => $"{id}:{Show.TokenLabel(Tokens[i])}"));

    public string ToHtml()
    {
        var sb = new StringBuilder($"<div style=\"font-family:sans-serif;font-size:13px\"><div><b>{Ids.Count} tokens</b></div>");
        sb.Append("<div style=\"display:flex;flex-wrap:wrap;gap:3px;margin-top:4px\">");
        for (int i = 0; i < Ids.Count; i++)
            sb.Append("<div style=\"border:1px solid #bbb;border-radius:3px;padding:2px 5px;text-align:center;background:#f6f8fa;color:#222\">")
              .Append($"<div style=\"font-family:monospace;white-space:pre\">{Html.Escape(Show.TokenLabel(Tokens[i]))}</div>")
              .Append($"<div style=\"font-size:11px;color:#666\">{Ids[i]}</div></div>");
        return sb.Append("</div></div>").ToString();
    }

    public override string ToString() => ToPlainText();
}

/// <summary>What <see cref="Show.Probabilities"/> returns: the top next tokens with their probabilities.</summary>
[TypeFormatterSource(typeof(FormatterSource))]
public sealed class ProbabilityTable : IRenderable
{
    public IReadOnlyList<(int Id, string Token, double Probability)> Rows { get; }

    internal ProbabilityTable(Tensor probs, Func<int, string>? decode, int top)
    {
        if (top < 1) throw new PicoGptException($"top must be at least 1, got {top}");
        using var scope = torch.NewDisposeScope();
        var p = probs.detach().cpu().to(ScalarType.Float64);
        if (p.dim() == 0) throw new PicoGptException("probabilities must have a vocabulary axis, got a scalar");
        p = p.reshape(-1, p.shape[^1])[-1];                                   // [V]: the last row
        var (values, indices) = p.topk((int)Math.Min(top, p.shape[0]));
        var v = values.data<double>().ToArray();
        var ix = indices.data<long>().ToArray();
        Rows = ix.Select((id, i) => ((int)id, decode?.Invoke((int)id) ?? id.ToString(CultureInfo.InvariantCulture), v[i])).ToArray();
    }

    public string ToPlainText() =>
        string.Join("\n", Rows.Select(r => $"{r.Probability,8:P2}  {r.Id,6}  {Show.TokenLabel(r.Token)}"));

    public string ToHtml()
    {
        var sb = new StringBuilder("<table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\">");
        sb.Append("<tr style=\"color:#666\"><th style=\"text-align:left;padding:1px 6px\">token</th><th style=\"padding:1px 6px\">id</th><th style=\"text-align:left;padding:1px 6px\">probability</th></tr>");
        foreach (var (id, token, prob) in Rows)
        {
            var width = Math.Clamp(prob * 200, 0, 200).ToString("0.#", CultureInfo.InvariantCulture);
            sb.Append("<tr>")
              .Append($"<td style=\"font-family:monospace;white-space:pre;padding:1px 6px\">{Html.Escape(Show.TokenLabel(token))}</td>")
              .Append($"<td style=\"color:#666;text-align:right;padding:1px 6px\">{id}</td>")
              .Append($"<td style=\"padding:1px 6px\"><span style=\"display:inline-block;width:{width}px;height:10px;background:#4c78a8\"></span> ")
              .Append($"{(prob * 100).ToString("0.00", CultureInfo.InvariantCulture)}%</td></tr>");
        }
        return sb.Append("</table>").ToString();
    }

    public override string ToString() => ToPlainText();
}
