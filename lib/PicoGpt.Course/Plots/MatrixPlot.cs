using System.Globalization;
using System.Text.Json.Nodes;
using PicoGpt.Notebook;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Plots;

/// <summary>
/// Heatmaps of plain matrices, such as position tables (rows: positions, columns: embedding dimensions), drawn side by
/// side. Colours are blue below 0, white at 0 and red above 0. Each panel has its own scale (its colour bar), symmetric
/// around 0 and reaching the 99th percentile of its magnitudes, so a table of small numbers is as readable as one of ±1
/// and a few outliers do not wash out the rest (values beyond the scale get its end colours). Values are rounded to two
/// decimals, which is all the colours show, to keep the chart small.
/// </summary>
public static class MatrixPlot
{
    /// <summary>Charts hold at most this many values (about 3 MB of output); larger requests raise a PicoGptException.</summary>
    public const int MaxValues = 400_000;

    /// <summary>
    /// One heatmap per panel, in a row, with the first row of each matrix at the top. Each panel is a 2-D tensor
    /// [rows, columns]; they may differ in shape.
    /// </summary>
    public static Chart Heatmaps(string title, string xTitle, string yTitle, params (string Name, Tensor Values)[] panels)
    {
        if (panels is null || panels.Length == 0) throw new PicoGptException("MatrixPlot.Heatmaps: give at least one panel");
        var matrices = panels.Select(p => Read(p.Values, p.Name)).ToArray();
        long total = matrices.Sum(m => (long)m.Length);
        if (total > MaxValues)
            throw new PicoGptException($"MatrixPlot.Heatmaps: {total:N0} values is too many for one chart (limit {MaxValues:N0}): plot fewer rows or columns");

        int n = panels.Length;
        const double gap = 0.12;                                               // room for each panel's colour bar
        double w = (1 - gap * (n - 1)) / n;
        var data = new JsonArray();
        var layout = new JsonObject
        {
            ["title"] = new JsonObject { ["text"] = Html.Escape(title), ["font"] = new JsonObject { ["size"] = 15 } },
            ["margin"] = new JsonObject { ["l"] = 70, ["r"] = 40, ["t"] = 90, ["b"] = 60 },
        };
        var titles = new JsonArray();
        for (int k = 0; k < n; k++)
        {
            var m = matrices[k];
            string s = k == 0 ? "" : (k + 1).ToString(CultureInfo.InvariantCulture);
            double limit = Scale(m);
            double x0 = k * (w + gap);
            layout["coloraxis" + s] = new JsonObject
            {
                ["colorscale"] = new JsonArray(Stop(0, "#2166ac"), Stop(0.25, "#92c5de"), Stop(0.5, "#f7f7f7"), Stop(0.75, "#f4a582"), Stop(1, "#b2182b")),
                ["cmin"] = -limit, ["cmax"] = limit,
                ["colorbar"] = new JsonObject { ["thickness"] = 10, ["x"] = x0 + w + 0.005, ["xanchor"] = "left", ["len"] = 0.9 },
            };
            var z = new JsonArray();
            for (int r = 0; r < m.GetLength(0); r++)
            {
                var row = new JsonArray();
                for (int c = 0; c < m.GetLength(1); c++) row.Add(double.IsFinite(m[r, c]) ? JsonValue.Create(Math.Round(m[r, c], 2)) : null);
                z.Add(row);
            }
            data.Add(new JsonObject
            {
                ["type"] = "heatmap", ["z"] = z, ["xaxis"] = "x" + s, ["yaxis"] = "y" + s, ["coloraxis"] = "coloraxis" + s,
                ["name"] = panels[k].Name,
                ["hovertemplate"] = $"{Html.Escape(yTitle)} %{{y}}<br>{Html.Escape(xTitle)} %{{x}}<br>value %{{z:.2f}}<extra>{Html.Escape(panels[k].Name)}</extra>",
            });
            layout["xaxis" + s] = new JsonObject
            {
                ["domain"] = new JsonArray(x0, x0 + w), ["anchor"] = "y" + s, ["showgrid"] = false, ["zeroline"] = false,
                ["title"] = new JsonObject { ["text"] = xTitle, ["font"] = new JsonObject { ["size"] = 11 } },
            };
            layout["yaxis" + s] = new JsonObject
            {
                ["anchor"] = "x" + s, ["autorange"] = "reversed", ["showgrid"] = false, ["zeroline"] = false,
                ["title"] = new JsonObject { ["text"] = k == 0 ? yTitle : "", ["font"] = new JsonObject { ["size"] = 11 } },
            };
            titles.Add(new JsonObject
            {
                ["text"] = Html.Escape(panels[k].Name), ["showarrow"] = false, ["xref"] = "paper", ["yref"] = "paper",
                ["x"] = x0 + w / 2, ["y"] = 1, ["xanchor"] = "center", ["yanchor"] = "bottom", ["font"] = new JsonObject { ["size"] = 12 },
            });
        }
        layout["annotations"] = titles;
        return new Chart(title, data, layout, Math.Min(1000, 140 + 400 * n), 460);
    }

    static JsonArray Stop(double at, string color) => new(at, color);

    /// <summary>The 99th percentile of |value| over the finite values (1 when there are none or all are 0).</summary>
    internal static double Scale(double[,] m)
    {
        var magnitudes = m.Cast<double>().Where(double.IsFinite).Select(Math.Abs).Order().ToArray();
        if (magnitudes.Length == 0) return 1;
        double p99 = magnitudes[(int)Math.Floor(0.99 * (magnitudes.Length - 1))];
        return p99 > 0 ? p99 : magnitudes[^1] > 0 ? magnitudes[^1] : 1;
    }

    static double[,] Read(Tensor t, string name)
    {
        if (t is null) throw new PicoGptException($"MatrixPlot: panel '{name}' is null");
        if (t.dim() != 2) throw new PicoGptException($"MatrixPlot: panel '{name}' must be a 2-D tensor [rows, columns], got [{string.Join(", ", t.shape)}]");
        using var scope = torch.NewDisposeScope();
        var d = t.detach().cpu().to(ScalarType.Float64).contiguous();
        var flat = d.data<double>().ToArray();
        var m = new double[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(double));
        return m;
    }
}
