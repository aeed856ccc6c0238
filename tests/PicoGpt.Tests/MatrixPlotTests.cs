using System.Text.Json.Nodes;
using PicoGpt.Plots;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>MatrixPlot: side-by-side heatmaps with one colour scale, symmetric around 0.</summary>
public class MatrixPlotTests
{
    [Fact]
    public void Each_panel_has_its_own_symmetric_colour_axis_with_rows_from_the_top()
    {
        var a = torch.tensor(new double[] { 0, 1, -2, 0.5 }, [2, 2]);
        var b = torch.tensor(new double[] { 3, 0, 0 }, [1, 3]);
        var chart = MatrixPlot.Heatmaps("positions", "dimension", "position", ("sinusoidal", a), ("learned wpe", b));
        var fig = JsonNode.Parse(chart.ToJson())!;
        var data = fig["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.Equal("[[0,1],[-2,0.5]]", data[0]!["z"]!.ToJsonString());
        Assert.Equal("x2", (string)data[1]!["xaxis"]!);
        Assert.Equal(-1, (double)fig["layout"]!["coloraxis"]!["cmin"]!);                  // 99th percentile of |0|, |1|, |-2|, |0.5|
        Assert.Equal(1, (double)fig["layout"]!["coloraxis"]!["cmax"]!);
        Assert.Equal("coloraxis2", (string)data[1]!["coloraxis"]!);
        Assert.Equal(3, (double)fig["layout"]!["coloraxis2"]!["cmax"]!);                 // percentile 0: the largest instead
        Assert.Equal("reversed", (string)fig["layout"]!["yaxis2"]!["autorange"]!);
        Assert.Contains("learned wpe", fig["layout"]!["annotations"]!.ToJsonString());
        Assert.Equal("Chart: positions (2 traces)", chart.ToPlainText());
    }

    [Fact]
    public void The_scale_is_the_99th_percentile_so_one_outlier_does_not_wash_out_the_rest()
    {
        var values = torch.cat([torch.linspace(-0.1, 0.1, 999, dtype: ScalarType.Float64), torch.tensor(new[] { 5.0 })]).reshape(40, 25);
        var fig = JsonNode.Parse(MatrixPlot.Heatmaps("t", "x", "y", ("v", values)).ToJson())!;
        Assert.Equal(0.1, (double)fig["layout"]!["coloraxis"]!["cmax"]!, 1e-3);
        Assert.Equal(1, (double)JsonNode.Parse(MatrixPlot.Heatmaps("t", "x", "y", ("zeros", torch.zeros(3, 3))).ToJson())!["layout"]!["coloraxis"]!["cmax"]!);
    }

    [Fact]
    public void Bad_input_is_a_clear_error()
    {
        Assert.Contains("2-D", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y", ("v", torch.zeros(3)))).Message);
        Assert.Contains("at least one", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y")).Message);
        Assert.Contains("too many", Assert.Throws<PicoGptException>(() => MatrixPlot.Heatmaps("t", "x", "y", ("v", torch.zeros(1000, 1000)))).Message);
    }
}
