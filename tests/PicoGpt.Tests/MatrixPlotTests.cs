using System.Text.Json.Nodes;
using PicoGpt.Plots;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>MatrixPlot: side-by-side heatmaps with one colour scale, symmetric around 0.</summary>
public class MatrixPlotTests
{
    [Fact]
    public void Two_panels_share_a_symmetric_colour_axis_with_rows_from_the_top()
    {
        var a = torch.tensor(new double[] { 0, 1, -2, 0.5 }, [2, 2]);
        var b = torch.tensor(new double[] { 3, 0, 0 }, [1, 3]);
        var chart = MatrixPlot.Heatmaps("positions", "dimension", "position", ("sinusoidal", a), ("learned wpe", b));
        var fig = JsonNode.Parse(chart.ToJson())!;
        var data = fig["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.Equal("[[0,1],[-2,0.5]]", data[0]!["z"]!.ToJsonString());
        Assert.Equal("x2", (string)data[1]!["xaxis"]!);
        Assert.Equal(-3, (double)fig["layout"]!["coloraxis"]!["cmin"]!);
        Assert.Equal(3, (double)fig["layout"]!["coloraxis"]!["cmax"]!);
        Assert.Equal("reversed", (string)fig["layout"]!["yaxis2"]!["autorange"]!);
        Assert.Contains("learned wpe", fig["layout"]!["annotations"]!.ToJsonString());
        Assert.Equal("Chart: positions (2 traces)", chart.ToPlainText());
    }

    [Fact]
    public void Bad_input_is_a_clear_error()
    {
        Assert.Contains("2-D", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y", ("v", torch.zeros(3)))).Message);
        Assert.Contains("at least one", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y")).Message);
        Assert.Contains("too many", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y", ("v", torch.zeros(1000, 1000)))).Message);
    }
}
