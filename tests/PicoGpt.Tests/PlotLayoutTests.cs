using System.Text.Json.Nodes;
using PicoGpt.Plots;

namespace PicoGpt.Tests;

/// <summary>Line and bar charts: the title clear of plotly's toolbar, and tick labels as exponents, not SI prefixes.</summary>
public class PlotLayoutTests
{
    static JsonNode Layout(Chart c) => JsonNode.Parse(c.ToJson())!["layout"]!;

    [Fact]
    public void The_loss_chart_title_sits_left_of_the_toolbar_with_room_above_the_plot()
    {
        var layout = Layout(LinePlot.Loss([0, 1, 2], [4.2, 3.1, 2.5], [4.3, 3.3, 2.7]));
        Assert.Equal("left", (string)layout["title"]!["xanchor"]!);
        Assert.Equal(0, (double)layout["title"]!["x"]!);
        Assert.True((double)layout["margin"]!["t"]! >= 80);              // the toolbar (top right) and the title both fit above the plot
    }

    [Fact]
    public void Small_values_are_labelled_as_exponents_not_micro()
    {
        var layout = Layout(LinePlot.Create("errors", "x", "abs error", new Series("err", [0, 1], [4e-4, 2e-4])));
        Assert.Equal("e", (string)layout["yaxis"]!["exponentformat"]!);   // 4e-4, not plotly's default "400μ"
        Assert.Equal("e", (string)layout["xaxis"]!["exponentformat"]!);
    }
}
