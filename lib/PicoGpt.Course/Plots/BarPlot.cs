using System.Text.Json.Nodes;

namespace PicoGpt.Plots;

/// <summary>One named group of bars: one value per category.</summary>
public sealed record Bars(string Name, IReadOnlyList<double> Values);

/// <summary>Bar charts over categories, e.g. a probability distribution over tokens next to the frequencies of draws.</summary>
public static class BarPlot
{
    /// <summary>
    /// Bars side by side for each category (plotly's grouped bars). The categories are labels (token ids or token
    /// texts), so the x axis shows each of them and nothing between.
    /// </summary>
    public static Chart Create(string title, IReadOnlyList<string> categories, string xTitle, string yTitle, params Bars[] bars)
    {
        if (bars.Length == 0) throw new PicoGptException("BarPlot.Create: give at least one group of bars");
        if (categories.Count == 0) throw new PicoGptException("BarPlot.Create: give at least one category");
        var data = new JsonArray();
        foreach (var b in bars)
        {
            if (b.Values.Count != categories.Count)
                throw new PicoGptException($"BarPlot bars '{b.Name}': {b.Values.Count} values but {categories.Count} categories");
            data.Add(new JsonObject
            {
                ["type"] = "bar", ["name"] = b.Name,
                ["x"] = new JsonArray(categories.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
                ["y"] = LinePlot.Numbers(b.Values),
            });
        }
        var layout = LinePlot.Layout(title, xTitle, yTitle);
        layout["barmode"] = "group";                                                   // the groups side by side
        layout["xaxis"]!["type"] = "category";                                         // every label shown, nothing between
        return new Chart(title, data, layout, 720, 420);
    }

    /// <summary>Bars for categories 0, 1, ..., n - 1 (token ids).</summary>
    public static Chart Create(string title, string xTitle, string yTitle, params Bars[] bars) =>
        Create(title, Enumerable.Range(0, bars.FirstOrDefault()?.Values.Count ?? 0).Select(i => i.ToString()).ToArray(), xTitle, yTitle, bars);
}
