using System.Text.RegularExpressions;
using PicoGpt.Notebook;
using PicoGpt.Plots;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>Charts are plotly figures we write ourselves; plotly.js comes from the library, once per page.</summary>
[Collection("plotly page")] // PlotlyJs's page state is process-wide
public class PlotTests
{
    static readonly string[] Tokens = ["The", " cat", " sat", " on", " the", " mat", " the"];

    static Tensor Causal(int heads, int t) // [heads, t, t] causal attention weights
    {
        var scores = torch.randn(heads, t, t, generator: new torch.Generator(7));
        return (scores + Ops.CausalMask(t)).softmax(-1);
    }

    /// <summary>The vendored bundle (lib/PicoGpt.Course/Plots/plotly/README.md): plotly.js-cartesian-dist-min 2.30.1.</summary>
    const string BundleVersion = "2.30.1";
    const string BundleSha256 = "181be210a207c15775c86938c6f3833973956f243de254794ffb8fbb42d654c5"; // plotly-cartesian.min.js
    const int BundleBytes = 1_293_243;

    [Fact]
    public void Plotly_js_is_the_vendored_cartesian_bundle()
    {
        Assert.Equal(BundleVersion, PlotlyJs.Version);
        Assert.StartsWith("/**\n* plotly.js (cartesian - minified) v2.30.1\n", PlotlyJs.Source);
        var bytes = System.Text.Encoding.UTF8.GetBytes(PlotlyJs.Source);              // decoding the resource lost nothing
        Assert.Equal(BundleBytes, bytes.Length);
        Assert.Equal(BundleSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
        Assert.DoesNotContain("</script", PlotlyJs.Source, StringComparison.OrdinalIgnoreCase);
        // every executed notebook with a chart carries it once: it must stay well under the 3.6 MB of the full plotly.js
        Assert.InRange(PlotlyJs.Source.Length, 1_000_000, 1_400_000);
    }

    [Fact]
    public void The_readme_of_the_vendored_bundle_states_its_checksum_and_version()
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "lib", "PicoGpt.Course", "Plots", "plotly");
        var readme = File.ReadAllText(Path.Combine(dir, "README.md"));
        Assert.Contains(BundleSha256, readme);
        Assert.Contains($"plotly.js-cartesian-dist-min-{BundleVersion}.tgz", readme);
        Assert.Contains($"{BundleBytes:N0} bytes", readme);
        Assert.Contains("MIT License", File.ReadAllText(Path.Combine(dir, "LICENSE")));
        Assert.True(File.Exists(Path.Combine(dir, $"plotly-cartesian-{BundleVersion}.min.js.gz")));
    }

    [Fact]
    public void The_bundle_registers_every_trace_type_and_component_our_charts_use()
    {
        // Each plotly.js module registers itself as {moduleType:"trace",name:"heatmap",...} in the minified bundle.
        // LinePlot draws scatter, BarPlot bar; AttentionPlot draws heatmap with a shared coloraxis (colorbar), head titles as
        // annotations and the layer dropdown as updatemenus.
        foreach (var trace in new[] { "scatter", "heatmap", "bar" })
            Assert.Contains($"moduleType:\"trace\",name:\"{trace}\"", PlotlyJs.Source);
        foreach (var component in new[] { "annotations", "colorbar", "colorscale", "legend", "fx" })
            Assert.Contains($"moduleType:\"component\",name:\"{component}\"", PlotlyJs.Source);
        Assert.Contains("name:\"updatemenus\"", PlotlyJs.Source);
        Assert.DoesNotContain("moduleType:\"trace\",name:\"scatter3d\"", PlotlyJs.Source); // a partial bundle, not the full one
    }

    [Fact]
    public void The_figures_use_only_trace_types_in_the_bundle()
    {
        var figures = new[]
        {
            AttentionPlot.Heatmap(Causal(1, 3)[0], ["a", "b", "c"]).ToJson(),
            AttentionPlot.Layers(torch.stack([Causal(2, 3), Causal(2, 3)]), ["a", "b", "c"]).ToJson(),
            LinePlot.Loss([0, 1], [2, 1], [2.5, 1.5]).ToJson(),
            BarPlot.Create("p", "token id", "probability", new Bars("p", [0.25, 0.75])).ToJson(),
        };
        var types = figures.SelectMany(f => Regex.Matches(f, "\"type\":\"([a-z0-9]+)\"").Select(m => m.Groups[1].Value))
                           .Except(["category", "dropdown"]).Distinct().Order().ToArray();
        Assert.Equal(["bar", "heatmap", "scatter"], types);
        foreach (var t in types) Assert.Contains($"moduleType:\"trace\",name:\"{t}\"", PlotlyJs.Source);
    }

    [Fact]
    public void Heatmap_has_token_labels_title_causal_blanks_and_newPlot()
    {
        var chart = AttentionPlot.Heatmap(Causal(1, 7)[0], Tokens, "Layer 0, head 3");
        var html = chart.ToDiv(includePlotlyJs: false);
        Assert.Contains("Plotly.newPlot", html);
        Assert.Matches("<div id=\"picogpt-plot-[0-9a-f]+\"", html);
        foreach (var label in new[] { "\"The\"", "\"·cat\"", "\"·the [4]\"", "\"·the [6]\"" }) Assert.Contains(label, html);
        Assert.Contains("Layer 0, head 3", html);
        Assert.Contains("rows: query token", html);
        Assert.Contains("grey: masked future positions", html);
        Assert.Contains("\"z\":[[1],[", html);                                   // first row: only itself is visible
        Assert.Contains("\"autorange\":\"reversed\"", html);
        Assert.DoesNotContain("data-plotlyjs", html);
        Assert.True(html.Length < 20_000, $"{html.Length} characters");
    }

    [Fact]
    public void A_zero_weight_is_white_and_so_differs_from_the_grey_masked_cells()
    {
        // plotly's named "Blues" scale ends in light grey (rgb 220), which looked like the masked background (#d8d8d8)
        var fig = System.Text.Json.JsonDocument.Parse(AttentionPlot.Heatmap(Causal(1, 3)[0], ["a", "b", "c"]).ToJson()).RootElement;
        var layout = fig.GetProperty("layout");
        var scale = layout.GetProperty("coloraxis").GetProperty("colorscale").EnumerateArray().ToList();
        Assert.Equal((0.0, "#ffffff"), (scale[0][0].GetDouble(), scale[0][1].GetString()));
        Assert.Equal(1.0, scale[^1][0].GetDouble());
        Assert.False(layout.GetProperty("coloraxis").TryGetProperty("reversescale", out _));
        Assert.NotEqual("#ffffff", layout.GetProperty("plot_bgcolor").GetString());
    }

    [Fact]
    public void First_chart_of_a_page_carries_plotly_js_later_ones_reuse_it()
    {
        PlotlyJs.ResetPage();
        var first = Html.Formats(AttentionPlot.Heatmap(Causal(1, 3)[0], ["a", "b", "c"]))["text/html"];
        var second = Html.Render(AttentionPlot.Heatmap(Causal(1, 3)[0], ["a", "b", "c"]));
        Assert.Contains($"<script data-plotlyjs=\"{BundleVersion}\">(function () {{\n  if (window.Plotly || window.picogptPlotly) return;", first);
        Assert.Single(Regex.Matches(first, "data-plotlyjs"));
        Assert.Contains("new DecompressionStream('gzip')", first);
        // the bundle inline, exactly once, gzipped and base64: it inflates to the library itself
        var gz = Assert.Single(Regex.Matches(first, "var gz = \"([A-Za-z0-9+/=]+)\";")).Groups[1].Value;
        using (var inflate = new System.IO.Compression.GZipStream(new MemoryStream(Convert.FromBase64String(gz)), System.IO.Compression.CompressionMode.Decompress))
        using (var reader = new StreamReader(inflate))
            Assert.Equal(PlotlyJs.Source, reader.ReadToEnd());
        Assert.InRange(first.Length, gz.Length, gz.Length + 10_000);
        Assert.True(first.Length < PlotlyJs.Source.Length / 2, $"{first.Length} characters inline for a {PlotlyJs.Source.Length}-character library");
        Assert.Contains("window.picogptPlotly.then(draw", first);                  // the chart waits for the inflated library
        Assert.DoesNotContain("data-plotlyjs", second);
        Assert.Contains("Plotly.newPlot", second);
        Assert.True(second.Length < 10_000);
        Assert.DoesNotContain("data-plotlyjs", PlotlyJs.RemoveInlineCopies(first));
        Assert.Contains("elided", PlotlyJs.Elide(first));
        Assert.True(PlotlyJs.Elide(first).Length < 10_000);
    }

    [Fact]
    public void Standalone_page_embeds_plotly_once()
    {
        var page = LinePlot.Loss([0, 100, 200], [4.2, 2.5, 2.1], [4.3, 2.7, 2.4]).ToStandaloneHtml();
        Assert.Single(Regex.Matches(page, "data-plotlyjs"));
        Assert.Single(Regex.Matches(page, "plotly\\.js \\(cartesian - minified\\)"));
        Assert.StartsWith("<!DOCTYPE html>", page);
        Assert.Contains("\"name\":\"train\"", page);
        Assert.Contains("\"name\":\"val\"", page);
    }

    [Fact]
    public void Heads_makes_a_grid_with_one_subplot_per_head()
    {
        var chart = AttentionPlot.Heads(Causal(6, 5), Tokens[..5], "Layer 2");
        var json = chart.ToJson();
        Assert.Equal(6, Regex.Matches(json, "\"type\":\"heatmap\"").Count);
        Assert.Contains("\"xaxis6\"", json);
        Assert.Contains("\"yaxis6\"", json);
        Assert.Contains("\"text\":\"head 5\"", json);
        Assert.Contains("\"·sat\"", json);
        Assert.Contains("Layer 2", json);
    }

    [Fact]
    public void Layers_has_a_layer_selector()
    {
        var weights = torch.stack([Causal(2, 4), Causal(2, 4), Causal(2, 4)]);   // [3 layers, 2 heads, 4, 4]
        var json = AttentionPlot.Layers(weights, Tokens[..4], "All layers").ToJson();
        Assert.Contains("\"updatemenus\"", json);
        Assert.Contains("\"label\":\"layer 2\"", json);
        Assert.Equal(6, Regex.Matches(json, "\"type\":\"heatmap\"").Count);
        Assert.Equal(4, Regex.Matches(json, "\"visible\":false").Count);          // layers 1 and 2 hidden, layer 0's two heads shown
        Assert.DoesNotContain("\"visible\":true", json);
    }

    [Fact]
    public void Bad_shapes_raise_one_line_errors()
    {
        var e = Assert.Throws<PicoGptException>(() => AttentionPlot.Heatmap(torch.ones(3, 3), ["a", "b"]));
        Assert.Equal("AttentionPlot.Heatmap: weights must be [T, T] with T = 2 tokens, got [3, 3]", e.Message);
        Assert.Throws<PicoGptException>(() => AttentionPlot.Heads(torch.ones(3, 3), ["a", "b", "c"]));
        Assert.Throws<PicoGptException>(() => AttentionPlot.Layers(torch.ones(12, 12, 80, 80), Enumerable.Repeat("x", 80).ToArray()));
        Assert.Throws<PicoGptException>(() => LinePlot.Create("loss", "step", "loss", new Series("a", [1, 2], [1])));
        e = Assert.Throws<PicoGptException>(() => BarPlot.Create("p", ["a", "b"], "token", "p", new Bars("freq", [1, 2, 3])));
        Assert.Equal("BarPlot bars 'freq': 3 values but 2 categories", e.Message);
        Assert.Throws<PicoGptException>(() => BarPlot.Create("p", "token", "p"));
    }

    [Fact]
    public void Bars_are_grouped_per_category_with_the_values_as_given()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(BarPlot.Create("draws", "token id", "share",
            new Bars("probability", [0.5, 0.25, 0.25]), new Bars("frequency", [0.49, 0.26, double.NaN])).ToJson())!;
        Assert.Equal("group", (string)json["layout"]!["barmode"]!);
        Assert.Equal("category", (string)json["layout"]!["xaxis"]!["type"]!);
        var data = json["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.Equal(["0", "1", "2"], data[0]!["x"]!.AsArray().Select(x => (string)x!).ToArray());
        Assert.Equal([0.5, 0.25, 0.25], data[0]!["y"]!.AsArray().Select(y => (double)y!).ToArray());
        Assert.Equal("frequency", (string)data[1]!["name"]!);
        Assert.Null(data[1]!["y"]![2]);                                                 // NaN is a gap, not invalid JSON
    }

    [Fact]
    public void Non_causal_weights_are_drawn_in_full()
    {
        var json = AttentionPlot.Heatmap(torch.full(3, 3, 1.0 / 3), ["a", "b", "c"]).ToJson();
        Assert.DoesNotContain("null", json);
        Assert.DoesNotContain("masked future", json);
        Assert.Contains("\"z\":[[0.333,0.333,0.333],[0.333,0.333,0.333],[0.333,0.333,0.333]]", json);
    }

    [Fact]
    public void Causal_rows_end_at_the_diagonal_and_weights_keep_the_three_decimals_the_hover_shows()
    {
        var w = Causal(1, 6)[0];                                                      // [6, 6]
        var fig = System.Text.Json.JsonDocument.Parse(AttentionPlot.Heatmap(w, ["a", "b", "c", "d", "e", "f"]).ToJson()).RootElement;
        var z = fig.GetProperty("data")[0].GetProperty("z").EnumerateArray().ToList();
        Assert.Equal(6, z.Count);
        for (int i = 0; i < 6; i++)
        {
            var row = z[i].EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(i + 1, row.Length);                                           // the masked future is left out (a gap)
            for (int j = 0; j <= i; j++)
                Assert.Equal(Math.Round(w[i, j].item<float>(), 3), row[j], 1e-12);
        }
        var template = fig.GetProperty("layout").GetProperty("template");
        var heatmap = template.GetProperty("data").GetProperty("heatmap")[0];
        Assert.Equal("query %{y}<br>key %{x}<br>weight %{z:.3f}<extra>%{fullData.name}</extra>", heatmap.GetProperty("hovertemplate").GetString());
        Assert.Equal("coloraxis", heatmap.GetProperty("coloraxis").GetString());
        Assert.Equal("reversed", template.GetProperty("layout").GetProperty("yaxis").GetProperty("autorange").GetString());
        Assert.Equal("category", template.GetProperty("layout").GetProperty("xaxis").GetProperty("type").GetString());
    }

    [Fact]
    public void A_gpt2_sized_layer_chart_stays_small()
    {
        // GPT-2 124M on a 14-token prompt (notebook 06): 144 heads of 14 x 14. Every chart's data is saved in the notebook,
        // next to plotly.js (1.3 MB), so each head's trace carries only its weights and labels: 3 decimals, causal rows
        // cut at the diagonal, shared settings in the layout's template. These weights give 157,480 characters; with
        // 4 decimals, nulls for the masked cells and per-trace settings they gave 264,788.
        var w = torch.stack(Enumerable.Range(0, 12).Select(_ => Causal(12, 14)).ToArray());      // [12, 12, 14, 14]
        string[] tokens = ["When", " Mary", " and", " John", " went", " to", " the", " store", ",", " John", " gave", " a", " drink", " to"];
        var json = AttentionPlot.Layers(w, tokens).ToJson();
        Assert.Equal(144, Regex.Matches(json, "\"type\":\"heatmap\"").Count);
        Assert.DoesNotContain("null", json);
        Assert.InRange(json.Length, 100_000, 180_000);
        Assert.Single(Regex.Matches(json, "hovertemplate"));
    }
}
