using System.Text.Json;
using System.Text.RegularExpressions;
using PicoGpt.Model;
using PicoGpt.Tokenizers;
using PicoGpt.Weights;

namespace PicoGpt.Tests;

/// <summary>picogpt attention: heatmaps of every layer and head on a prompt, as a standalone offline HTML page.</summary>
[Collection("console")]
public class AttentionCommandTests
{
    const string Text = "to be or not to be, that is the question";

    /// <summary>A tiny random char-level model (2 layers, 4 heads, context 32) with its tokenizer, in a temp folder.</summary>
    static TempDir TinyCharModel()
    {
        var tmp = TestPaths.Temp();
        var tokenizer = CharTokenizer.FromText(Text);
        var config = GptConfig.Tiny with { VocabSize = tokenizer.VocabSize, Tokenizer = "char" };
        using (var model = new Gpt(config, TorchSharp.torch.CPU, seed: 7))
            Gpt2Checkpoint.Save(model, tmp.Path);
        tokenizer.Save(tmp.Path);
        return tmp;
    }

    static (int Code, string Out, string Err) Cli(params string[] args) => CliTests.Cli(args);

    /// <summary>The plotly figure of a page written by Chart.SaveHtml.</summary>
    static JsonElement Figure(string html) =>
        JsonDocument.Parse(Regex.Match(html, @"var fig = (\{.*\});\n").Groups[1].Value).RootElement;

    [Fact]
    public void Writes_every_layer_with_a_layer_selector_as_an_offline_page()
    {
        using var model = TinyCharModel();
        var outPath = Path.Combine(model.Path, "out", "att.html");
        var (code, stdout, err) = Cli("attention", "--model", model.Path, "--prompt", "to be", "--out", outPath);
        Assert.True(code == 0, err);
        Assert.Equal($"wrote {outPath}: {Path.GetFileName(model.Path)}, 2 layers × 4 heads, 5 tokens\n", stdout);

        var html = File.ReadAllText(outPath);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Single(Regex.Matches(html, "<script data-plotlyjs="));                  // plotly.js embedded once: opens offline
        Assert.DoesNotContain("<script src=", html);                                    // nothing fetched from a CDN
        var fig = Figure(html);
        var data = fig.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(2 * 4, data.Count);                                                // one heatmap per layer and head
        Assert.Equal(["t", "o", "·", "b", "e"], data[0].GetProperty("x").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["t", "o", "·", "b", "e"], data[0].GetProperty("y").EnumerateArray().Select(e => e.GetString()));
        // plotly's default is visible: only the hidden layers say so
        Assert.Equal([true, true, true, true, false, false, false, false],
            data.Select(d => !d.TryGetProperty("visible", out var v) || v.GetBoolean()));
        var buttons = fig.GetProperty("layout").GetProperty("updatemenus")[0].GetProperty("buttons").EnumerateArray()
            .Select(b => b.GetProperty("label").GetString());
        Assert.Equal(["layer 0", "layer 1"], buttons);
        // causal: the first query row sees only itself (weight 1); each row ends at the diagonal (the masked future is a gap)
        var z = data[0].GetProperty("z").EnumerateArray().ToList();
        Assert.Equal(1.0, Assert.Single(z[0].EnumerateArray()).GetDouble(), 4);
        Assert.Equal([1, 2, 3, 4, 5], z.Select(row => row.GetArrayLength()));
        Assert.Equal(["att.html"], Directory.GetFiles(Path.GetDirectoryName(outPath)!).Select(Path.GetFileName)); // no temp file left
    }

    [Fact]
    public void Layer_option_draws_that_layers_heads_in_a_grid()
    {
        using var model = TinyCharModel();
        var outPath = Path.Combine(model.Path, "layer1.html");
        var (code, stdout, err) = Cli("attention", "--model", model.Path, "--prompt", "not to be", "--layer", "1", "--out", outPath);
        Assert.True(code == 0, err);
        Assert.Contains("layer 1 × 4 heads, 9 tokens", stdout);
        var fig = Figure(File.ReadAllText(outPath));
        Assert.Equal(4, fig.GetProperty("data").GetArrayLength());
        Assert.False(fig.GetProperty("layout").TryGetProperty("updatemenus", out _));
        Assert.Contains("layer 1", fig.GetProperty("layout").GetProperty("title").GetProperty("text").GetString());
        var labels = fig.GetProperty("data")[0].GetProperty("x").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(["n", "o [1]", "t [2]", "· [3]", "t [4]", "o [5]", "· [6]", "b", "e"], labels); // repeats told apart by position
        Assert.Equal(["head 0", "head 1", "head 2", "head 3"],
            fig.GetProperty("layout").GetProperty("annotations").EnumerateArray().Select(a => a.GetProperty("text").GetString()));
    }

    [Theory]
    [InlineData(new[] { "--prompt", "to be", "--layer", "2" }, 1, "--layer 2 is out of range: the model has 2 layers (0 to 1)")]
    [InlineData(new[] { "--prompt", "to be", "--layer", "-1" }, 1, "--layer -1 is out of range")]
    [InlineData(new[] { "--prompt", "to be", "--layer", "one" }, 2, "--layer must be an integer, got 'one'")]
    [InlineData(new[] { "--prompt", "" }, 1, "the prompt is empty")]
    [InlineData(new[] { "--prompt", "to be or not to be, that is the question" }, 1, "the prompt has 40 tokens, more than the context length 32")]
    [InlineData(new[] { "--prompt", "xyz" }, 1, "")]                                  // a character the vocabulary lacks
    [InlineData(new[] { "--layer", "0" }, 2, "missing required option --prompt")]
    [InlineData(new[] { "--prompt", "to be", "--heads", "2" }, 2, "unknown option --heads")]
    public void Bad_input_is_one_line_and_a_non_zero_exit(string[] extra, int expectedCode, string message)
    {
        using var model = TinyCharModel();
        var outPath = Path.Combine(model.Path, "att.html");
        var (code, stdout, err) = Cli(["attention", "--model", model.Path, "--out", outPath, .. extra]);
        Assert.Equal(expectedCode, code);
        Assert.StartsWith("picogpt attention: ", err);
        Assert.Contains(message, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
        Assert.False(File.Exists(outPath));
    }

    [Fact]
    public void Missing_model_folder_is_an_error()
    {
        var (code, _, err) = Cli("attention", "--model", "/nonexistent/model", "--prompt", "hi");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/model: model folder not found", err);
    }
}
