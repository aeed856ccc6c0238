using System.Text.Json.Nodes;
using PicoGpt.Notebook;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Plots;

/// <summary>
/// Attention heatmaps: rows are query tokens (the position that attends), columns are key tokens (the positions it
/// attends to), colour is the attention weight in [0, 1]. Masked future positions (above the diagonal, weight exactly 0
/// in a causal model) are left blank and show as grey, so the causal triangle is visible.
/// </summary>
public static class AttentionPlot
{
    /// <summary>Charts hold at most this many weights (about 3 MB of output); larger requests raise a PicoGptException.</summary>
    public const int MaxValues = 500_000;

    /// <summary>Grids are at most this wide in pixels (a notebook output column).</summary>
    const int MaxWidth = 1000;

    /// <summary>One attention matrix.</summary>
    public static Chart Heatmap(Tensor weights, string[] tokens, string title = "Attention weights") // weights: [T, T]
    {
        var w = Read(weights, 2, tokens, "Heatmap", "[T, T]");                // [1, 1, T, T]
        var labels = Labels(tokens);
        int size = Math.Clamp(22 * tokens.Length + 160, 360, 760);
        var layout = BaseLayout(Title(title, w), fontSize: 11);
        layout["xaxis"] = Axis("key (attended to)");
        layout["yaxis"] = Axis("query (attending)");
        return new Chart(title, [Trace(Slice(w, 0, 0), labels, "x", "y", "")], layout, size + 60, size);
    }

    /// <summary>All heads of one layer, one subplot per head in a grid.</summary>
    public static Chart Heads(Tensor weights, string[] tokens, string title = "Attention weights per head") // weights: [n_head, T, T]
    {
        var w = Read(weights, 3, tokens, "Heads", "[n_head, T, T]");         // [1, n_head, T, T]
        var (data, layout, width, height) = Grid(w, 0, Labels(tokens), visible: true);
        foreach (var (k, v) in BaseLayout(Title(title, w), GridFontSize(w))) layout[k] = v?.DeepClone();
        return new Chart(title, data, layout, width, height);
    }

    /// <summary>Every layer's heads: a dropdown picks the layer, the heads of that layer show as a grid.</summary>
    public static Chart Layers(Tensor weights, string[] tokens, string title = "Attention weights per layer and head") // [n_layer, n_head, T, T]
    {
        var w = Read(weights, 4, tokens, "Layers", "[n_layer, n_head, T, T]"); // [n_layer, n_head, T, T]
        int nLayer = w.GetLength(0), nHead = w.GetLength(1);
        var labels = Labels(tokens);
        var data = new JsonArray();
        JsonObject layout = null!;
        int width = 0, height = 0;
        for (int l = 0; l < nLayer; l++)
        {
            var (traces, grid, wd, ht) = Grid(w, l, labels, visible: l == 0);
            foreach (var t in traces.ToArray()) { traces.Remove(t); data.Add(t); }
            if (l == 0) (layout, width, height) = (grid, wd, ht + 40);
        }
        foreach (var (k, v) in BaseLayout(Title(title, w, " — layer 0"), GridFontSize(w))) layout[k] = v?.DeepClone();
        var buttons = new JsonArray();
        for (int l = 0; l < nLayer; l++)
        {
            var visible = new JsonArray();
            for (int i = 0; i < nLayer * nHead; i++) visible.Add(i / nHead == l);
            buttons.Add(new JsonObject
            {
                ["label"] = $"layer {l}",
                ["method"] = "update",
                ["args"] = new JsonArray(new JsonObject { ["visible"] = visible }, new JsonObject { ["title.text"] = Title(title, w, $" — layer {l}") }),
            });
        }
        layout["updatemenus"] = new JsonArray(new JsonObject
        {
            ["type"] = "dropdown", ["active"] = 0, ["buttons"] = buttons,
            ["x"] = 0, ["y"] = 1.02, ["xref"] = "paper", ["yref"] = "paper", ["xanchor"] = "left", ["yanchor"] = "bottom",
        });
        ((JsonObject)layout["margin"]!)["t"] = 140;
        return new Chart(title, data, layout, width, height);
    }

    #region Side by side (notebook 05: the same attention with and without the causal mask)

    /// <summary>
    /// Attention matrices over the same tokens side by side, each titled by its name, e.g. ("causal (GPT)", w1),
    /// ("bidirectional (BERT)", w2). A causal panel shows its masked future in grey; an unmasked one is filled.
    /// </summary>
    public static Chart SideBySide(string[] tokens, string title, params (string Name, Tensor Weights)[] panels) // each [T, T]
    {
        if (panels is null || panels.Length == 0) throw new PicoGptException("AttentionPlot.SideBySide: give at least one (name, weights) panel");
        foreach (var (name, weights) in panels)
            if (weights is null || weights.dim() != 2)
                throw new PicoGptException($"AttentionPlot.SideBySide: panel '{name}' must be [T, T], got {(weights is null ? "null" : "[" + string.Join(", ", weights.shape) + "]")}");
        using var scope = torch.NewDisposeScope();
        if (panels.Any(p => !p.Weights.shape.SequenceEqual(panels[0].Weights.shape)))
            throw new PicoGptException("AttentionPlot.SideBySide: every panel must have the same shape [T, T]");
        var stacked = torch.stack(panels.Select(p => p.Weights.detach().cpu().to(ScalarType.Float64)).ToArray()); // [n_panel, T, T]
        var w = Read(stacked, 3, tokens, "SideBySide", "[T, T] per panel");
        var (data, layout, width, height) = Grid(w, 0, Labels(tokens), visible: true);
        var titles = (JsonArray)layout["annotations"]!;
        for (int i = 0; i < panels.Length; i++)
        {
            var name = Html.Escape(panels[i].Name);
            titles[i]!["text"] = name;
            data[i]!["name"] = name;                                            // the hover box shows it (the template's %{fullData.name})
        }
        foreach (var (k, v) in BaseLayout(Title(title, w), GridFontSize(w))) layout[k] = v?.DeepClone();
        return new Chart(title, data, layout, width, height);
    }

    #endregion

    /// <summary>Token labels for the axes: whitespace made visible, duplicates told apart by their position ("the [5]").</summary>
    public static string[] Labels(IReadOnlyList<string> tokens)
    {
        var labels = tokens.Select(Show.TokenLabel).ToArray();
        var counts = labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        return labels.Select((l, i) => counts[l] > 1 ? $"{l} [{i}]" : l).ToArray();
    }

    // ---- figure pieces ----

    /// <summary>
    /// One head's heatmap, kept small because a notebook saves every chart's data (notebook 06 draws 2 x n_layer x n_head
    /// of them): weights rounded to 3 decimals (what the hover shows; colours differ by far less than one shade), and
    /// a causal matrix's rows end at the diagonal: plotly pads the missing cells as gaps, drawn in the grey background.
    /// What every trace shares (colour axis, cell gaps, hover text) is in the layout's template (<see cref="BaseLayout"/>).
    /// </summary>
    static JsonObject Trace(double[,] m, string[] labels, string xaxis, string yaxis, string name)
    {
        int t = m.GetLength(0);
        bool causal = IsCausal(m);
        var z = new JsonArray();
        for (int i = 0; i < t; i++)
        {
            var row = new JsonArray();
            for (int j = 0; j < (causal ? i + 1 : t); j++) row.Add(Math.Round(m[i, j], 3));
            z.Add(row);
        }
        var trace = new JsonObject { ["type"] = "heatmap", ["z"] = z, ["x"] = Strings(labels), ["y"] = Strings(labels) };
        if (xaxis != "x") trace["xaxis"] = xaxis;
        if (yaxis != "y") trace["yaxis"] = yaxis;
        if (name != "") trace["name"] = name;
        return trace;
    }

    /// <summary>Subplots for the heads of one layer: returns traces, a layout with axes and head titles, and the size.</summary>
    static (JsonArray Data, JsonObject Layout, int Width, int Height) Grid(double[,,,] w, int layer, string[] labels, bool visible)
    {
        int nHead = w.GetLength(1), t = w.GetLength(2);
        int cols = (int)Math.Ceiling(Math.Sqrt(nHead)), rows = (nHead + cols - 1) / cols;
        int cell = Math.Min(Math.Clamp(16 * t + 40, 150, 320), (MaxWidth - 200) / cols); // pixels per subplot
        int width = cols * cell + 200, height = rows * cell + 200;
        const double gapX = 0.04, gapY = 0.07;
        double cw = (1 - gapX * (cols - 1)) / cols, ch = (1 - gapY * (rows - 1)) / rows;
        var data = new JsonArray();
        var layout = new JsonObject();
        var titles = new JsonArray();
        for (int h = 0; h < nHead; h++)
        {
            int r = h / cols, c = h % cols;
            string n = h == 0 ? "" : (h + 1).ToString();
            var trace = Trace(Slice(w, layer, h), labels, "x" + n, "y" + n, $"head {h}");
            if (!visible) trace["visible"] = false;
            data.Add(trace);
            double x0 = c * (cw + gapX), y1 = 1 - r * (ch + gapY);
            bool bottom = h + cols >= nHead, left = c == 0;                   // token labels on the outer axes only
            var xa = Axis(bottom ? "key" : "");
            if (!bottom) xa["showticklabels"] = false;
            xa["domain"] = new JsonArray(x0, x0 + cw);
            xa["anchor"] = "y" + n;
            var ya = Axis(left ? "query" : "");
            if (!left) ya["showticklabels"] = false;
            ya["domain"] = new JsonArray(y1 - ch, y1);
            ya["anchor"] = "x" + n;
            layout["xaxis" + n] = xa;
            layout["yaxis" + n] = ya;
            titles.Add(new JsonObject
            {
                ["text"] = $"head {h}", ["showarrow"] = false, ["xref"] = "paper", ["yref"] = "paper",
                ["x"] = x0 + cw / 2, ["y"] = y1, ["xanchor"] = "center", ["yanchor"] = "bottom", ["font"] = new JsonObject { ["size"] = 12 },
            });
        }
        layout["annotations"] = titles;
        return (data, layout, width, height);
    }

    static int GridFontSize(double[,,,] w) => w.GetLength(2) > 16 ? 8 : 10;

    /// <summary>
    /// The layout every attention chart shares. Its template holds what all heatmaps and all axes have in common, once
    /// per chart instead of once per head: plotly applies template.data.heatmap to every heatmap trace and
    /// template.layout.xaxis / yaxis to every x / y axis (xaxis2, xaxis3, ... included).
    /// </summary>
    static JsonObject BaseLayout(string title, int fontSize) => new()
    {
        ["template"] = new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["heatmap"] = new JsonArray(new JsonObject
                {
                    ["coloraxis"] = "coloraxis", ["xgap"] = 1, ["ygap"] = 1,
                    ["hovertemplate"] = "query %{y}<br>key %{x}<br>weight %{z:.3f}<extra>%{fullData.name}</extra>",
                }),
            },
            ["layout"] = new JsonObject { ["xaxis"] = AxisStyle(x: true, fontSize), ["yaxis"] = AxisStyle(x: false, fontSize) },
        },
        ["title"] = new JsonObject { ["text"] = title, ["font"] = new JsonObject { ["size"] = 15 } },
        ["coloraxis"] = new JsonObject
        {
            // 0 white, 1 dark blue (ColorBrewer Blues). Plotly's named "Blues" runs from blue to light grey (rgb 220), so
            // with it a zero weight looked like the grey of the masked future cells.
            ["colorscale"] = new JsonArray(Stop(0, "#ffffff"), Stop(0.25, "#c6dbef"), Stop(0.5, "#6baed6"), Stop(0.75, "#2171b5"), Stop(1, "#08306b")),
            ["cmin"] = 0, ["cmax"] = 1,
            ["colorbar"] = new JsonObject { ["title"] = new JsonObject { ["text"] = "weight" }, ["thickness"] = 12 },
        },
        ["plot_bgcolor"] = "#d8d8d8",
        ["paper_bgcolor"] = "#ffffff",
        ["margin"] = new JsonObject { ["l"] = 90, ["r"] = 40, ["t"] = 90, ["b"] = 90 },
    };

    static JsonArray Stop(double at, string color) => new(at, color);

    /// <summary>Token axes: categories, no grid lines, x labels slanted, y reversed so that the first token is at the top.</summary>
    static JsonObject AxisStyle(bool x, int fontSize)
    {
        var a = new JsonObject
        {
            ["type"] = "category", ["tickfont"] = new JsonObject { ["size"] = fontSize }, ["automargin"] = true,
            ["showgrid"] = false, ["zeroline"] = false, ["title"] = new JsonObject { ["font"] = new JsonObject { ["size"] = 11 } },
        };
        if (x) a["tickangle"] = -45;
        else a["autorange"] = "reversed";
        return a;
    }

    /// <summary>One axis: its title (the rest comes from the template's <see cref="AxisStyle"/>).</summary>
    static JsonObject Axis(string title) => title == "" ? new() : new() { ["title"] = new JsonObject { ["text"] = title } };

    static string Title(string title, double[,,,] w, string suffix = "")
    {
        bool causal = true;
        for (int l = 0; l < w.GetLength(0) && causal; l++)
            for (int h = 0; h < w.GetLength(1) && causal; h++) causal = IsCausal(Slice(w, l, h));
        var sub = "rows: query token (attending) · columns: key token (attended to)" + (causal ? " · grey: masked future positions" : "");
        return $"{Html.Escape(title)}{suffix}<br><sub>{sub}</sub>";
    }

    static bool IsCausal(double[,] m)
    {
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = i + 1; j < m.GetLength(1); j++)
                if (Math.Abs(m[i, j]) > 1e-9) return false;
        return true;
    }

    static double[,] Slice(double[,,,] w, int l, int h)
    {
        int t = w.GetLength(2);
        var m = new double[t, t];
        for (int i = 0; i < t; i++) for (int j = 0; j < t; j++) m[i, j] = w[l, h, i, j];
        return m;
    }

    static JsonArray Strings(string[] s) => new(s.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());

    /// <summary>Checks the shape against the tokens and copies the weights out as [n_layer, n_head, T, T] doubles.</summary>
    static double[,,,] Read(Tensor weights, int dims, string[] tokens, string method, string expected)
    {
        if (weights is null) throw new PicoGptException($"AttentionPlot.{method}: weights are null");
        if (tokens is null) throw new PicoGptException($"AttentionPlot.{method}: tokens are null");
        var shape = weights.shape;
        int t = tokens.Length;
        if (shape.Length != dims || shape[^1] != t || shape[^2] != t)
            throw new PicoGptException($"AttentionPlot.{method}: weights must be {expected} with T = {t} tokens, got [{string.Join(", ", shape)}]");
        if (weights.numel() > MaxValues)
            throw new PicoGptException($"AttentionPlot.{method}: {weights.numel():N0} weights is too many for one chart (limit {MaxValues:N0}): use fewer tokens, or plot one layer with Heads");
        using var scope = torch.NewDisposeScope();
        var w = weights.detach().cpu().to(ScalarType.Float64).reshape(-1, dims >= 3 ? shape[^3] : 1, t, t); // [n_layer, n_head, T, T]
        var flat = w.data<double>().ToArray();
        var result = new double[w.shape[0], w.shape[1], t, t];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }
}
