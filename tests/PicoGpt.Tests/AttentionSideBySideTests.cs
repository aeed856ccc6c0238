using System.Text.Json;
using PicoGpt.Plots;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>AttentionPlot.SideBySide (notebook 05): the same scores with and without the causal mask, titled panels.</summary>
[Collection("plotly page")]
public class AttentionSideBySideTests
{
    [Fact]
    public void Panels_are_titled_and_only_the_causal_one_has_grey_blanks()
    {
        var scores = torch.randn(4, 4, generator: new torch.Generator(3));
        var causal = (scores + Ops.CausalMask(4)).softmax(-1);
        var full = scores.softmax(-1);
        var chart = AttentionPlot.SideBySide(["a", "b", "c", "d"], "with and without the mask", ("causal (GPT)", causal), ("bidirectional (BERT)", full));
        var fig = JsonDocument.Parse(chart.ToJson()).RootElement;
        var data = fig.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(2, data.Count);
        Assert.Equal(1, data[0].GetProperty("z")[0].GetArrayLength());                // the causal panel's first row stops at the diagonal (grey beyond)
        Assert.Equal(4, data[1].GetProperty("z")[0].GetArrayLength());                // the bidirectional panel's row covers every key
        var titles = fig.GetProperty("layout").GetProperty("annotations").EnumerateArray().Select(a => a.GetProperty("text").GetString()).ToList();
        Assert.Equal(["causal (GPT)", "bidirectional (BERT)"], titles);
        Assert.Equal("bidirectional (BERT)", data[1].GetProperty("name").GetString());
        Assert.Contains("with and without the mask", chart.ToJson());
    }

    [Fact]
    public void Panels_of_different_shapes_or_tokens_are_clear_errors()
    {
        var e = Assert.Throws<PicoGptException>(() => AttentionPlot.SideBySide(["a", "b"], "t", ("x", torch.ones(2, 2)), ("y", torch.ones(3, 3))));
        Assert.Contains("same shape", e.Message);
        e = Assert.Throws<PicoGptException>(() => AttentionPlot.SideBySide(["a", "b", "c"], "t", ("x", torch.ones(2, 2))));
        Assert.Contains("T = 3 tokens", e.Message);
        e = Assert.Throws<PicoGptException>(() => AttentionPlot.SideBySide(["a"], "t"));
        Assert.Contains("at least one", e.Message);
    }
}
