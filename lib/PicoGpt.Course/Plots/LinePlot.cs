using System.Globalization;
using System.Text.Json.Nodes;
using PicoGpt.Notebook;

namespace PicoGpt.Plots;

/// <summary>One named line: x and y values of the same length (NaN leaves a gap).</summary>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>Line charts, e.g. training and validation loss against the step.</summary>
public static class LinePlot
{
    /// <summary>Several named series on shared axes.</summary>
    public static Chart Create(string title, string xTitle, string yTitle, params Series[] series)
    {
        if (series.Length == 0) throw new PicoGptException("LinePlot.Create: give at least one series");
        var data = new JsonArray();
        foreach (var s in series)
        {
            if (s.X.Count != s.Y.Count)
                throw new PicoGptException($"LinePlot series '{s.Name}': {s.X.Count} x values but {s.Y.Count} y values");
            data.Add(new JsonObject
            {
                ["type"] = "scatter", ["mode"] = s.X.Count > 60 ? "lines" : "lines+markers", ["name"] = s.Name,
                ["x"] = Numbers(s.X), ["y"] = Numbers(s.Y),
            });
        }
        return new Chart(title, data, Layout(title, xTitle, yTitle), 720, 420);
    }

    /// <summary>The layout of a chart with two titled axes and the legend below it (line and bar charts).</summary>
    internal static JsonObject Layout(string title, string xTitle, string yTitle) => new()
    {
        ["title"] = new JsonObject { ["text"] = Html.Escape(title) },
        ["xaxis"] = new JsonObject { ["title"] = new JsonObject { ["text"] = xTitle } },
        ["yaxis"] = new JsonObject { ["title"] = new JsonObject { ["text"] = yTitle } },
        ["legend"] = new JsonObject { ["orientation"] = "h", ["y"] = -0.2 },
        ["margin"] = new JsonObject { ["l"] = 70, ["r"] = 30, ["t"] = 60, ["b"] = 90 },
    };

    /// <summary>Training loss (and validation loss, when given) against the step.</summary>
    public static Chart Loss(IReadOnlyList<double> steps, IReadOnlyList<double> train, IReadOnlyList<double>? val = null, string title = "Loss")
    {
        var series = new List<Series> { new("train", steps, train) };
        if (val != null) series.Add(new("val", steps, val));
        return Create(title, "step", "loss (cross-entropy, nats)", series.ToArray());
    }

    /// <summary>Numbers kept to 6 significant digits, NaN and infinities as null (gaps).</summary>
    internal static JsonArray Numbers(IReadOnlyList<double> values) =>
        new(values.Select(v => double.IsFinite(v)
            ? (JsonNode?)JsonValue.Create(double.Parse(v.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture))
            : null).ToArray());
}
