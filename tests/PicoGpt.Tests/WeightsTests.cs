using System.Text;
using PicoGpt.Model;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>Safetensors and model-folder failure paths: each gets a clear PicoGptException naming the file.</summary>
public class WeightsTests
{
    static byte[] File(string headerJson, int dataBytes, ulong? lyingLength = null)
    {
        var h = Encoding.UTF8.GetBytes(headerJson);
        var ms = new MemoryStream();
        ms.Write(BitConverter.GetBytes(lyingLength ?? (ulong)h.Length));
        ms.Write(h);
        ms.Write(new byte[dataBytes]);
        return ms.ToArray();
    }

    static string Error(byte[] bytes)
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "model.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<PicoGptException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        return e.Message;
    }

    const string Good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";

    [Fact] public void GoodFileOpens()
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "x.safetensors");
        SafeTensorsFile.Save(path, new[] { ("a", torch.arange(6, dtype: ScalarType.Float32).view(2, 3)), ("b", torch.ones(2, dtype: ScalarType.BFloat16)) });
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, f.Read("a").data<float>().ToArray());
        Assert.Equal(ScalarType.BFloat16, f.Read("b").dtype);
        Assert.Empty(Directory.GetFiles(tmp.Path, ".*tmp*")); // no temp file left behind
    }

    [Fact] public void TruncatedFile() => Assert.Contains("truncated: 5 bytes", Error(new byte[5]));
    [Fact] public void HeaderLengthPastEnd() => Assert.Contains("header length 1000 runs past the end", Error(File(Good, 24, 1000)));
    [Fact] public void DataTruncated() => Assert.Contains("lie outside the data section (20 bytes; file truncated?)", Error(File(Good, 20)));
    [Fact] public void NotUtf8() => Assert.Contains("not valid UTF-8", Error(File("{\"\xff\":1}".Replace('\xff', 'x'), 0).Select((b, i) => i == 10 ? (byte)0xff : b).ToArray()));
    [Fact] public void NotJson() => Assert.Contains("not valid JSON", Error(File("{\"a\": [", 0)));
    [Fact] public void UnknownDType() => Assert.Contains("unknown dtype \"F8\"", Error(File(Good.Replace("F32", "F8"), 24)));
    [Fact] public void ShapeDoesNotMatchBytes() => Assert.Contains("needs 24 bytes, but data_offsets give 20", Error(File(Good.Replace("[0,24]", "[0,20]"), 24)));
    [Fact] public void Overlap() => Assert.Contains("overlap", Error(File(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)));
    [Fact] public void NegativeShape() => Assert.Contains("invalid shape entry -2", Error(File(Good.Replace("[2,3]", "[-2,3]"), 24)));
    [Fact] public void HugeShapeOverflows() => Assert.Contains("too large", Error(File(Good.Replace("[2,3]", "[4611686018427387904,8]"), 24)));
    [Fact] public void RootNotObject() => Assert.Contains("must be a JSON object", Error(File("[1,2]", 0)));

    static void WriteModel(string dir, GptConfig c, Action<Dictionary<string, Tensor>>? edit = null)
    {
        using var m = new Gpt(c, CPU, seed: 1);
        Gpt2Checkpoint.Save(m, dir);
        if (edit == null) return;
        var path = Path.Combine(dir, "model.safetensors");
        Dictionary<string, Tensor> tensors;
        using (var f = SafeTensorsFile.Open(path)) tensors = f.Tensors.Keys.ToDictionary(k => k, k => f.Read(k));
        edit(tensors);
        SafeTensorsFile.Save(path, tensors.Select(kv => (kv.Key, kv.Value)));
    }

    [Fact]
    public void LoaderNamesEveryMissingUnexpectedAndMisshapenKey()
    {
        using var tmp = TestPaths.Temp();
        WriteModel(tmp.Path, GptConfig.Tiny, t =>
        {
            t.Remove("h.1.ln_1.weight");
            t["h.0.extra"] = torch.zeros(3);
            t["wpe.weight"] = torch.zeros(31, 32);
        });
        var e = Assert.Throws<PicoGptException>(() => Gpt2Checkpoint.Load(tmp.Path, CPU));
        Assert.Contains("missing 1 key (h.1.ln_1.weight)", e.Message);
        Assert.Contains("unexpected 1 key (h.0.extra)", e.Message);
        Assert.Contains("wpe.weight is [31, 32], expected [32, 32]", e.Message);
    }

    [Fact]
    public void LoaderRefusesNaNWeights()
    {
        using var tmp = TestPaths.Temp();
        WriteModel(tmp.Path, GptConfig.Tiny, t => t["h.0.mlp.c_fc.bias"][3] = float.NaN);
        var e = Assert.Throws<PicoGptException>(() => Gpt2Checkpoint.Load(tmp.Path, CPU));
        Assert.Contains("NaN or infinite values in 1 key (h.0.mlp.c_fc.bias)", e.Message);
    }

    [Theory]
    [InlineData("{\"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32}", "missing key \"vocab_size\"")]
    [InlineData("{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 5, \"n_positions\": 32}", "n_embd (32) must be divisible by n_head (5)")]
    [InlineData("{\"vocab_size\": \"96\", \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32}", "\"vocab_size\" must be an integer")]
    [InlineData("{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, \"n_embed\": 3}", "unknown config key \"n_embed\"")]
    [InlineData("{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, \"activation_function\": \"relu\"}", "activation_function \"relu\" is not supported")]
    [InlineData("{\"vocab_size\": 1e30, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32}", "\"vocab_size\" must be an integer")]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, \"attn_pdrop\": 1.5}", "attn_pdrop must be in [0, 1), got 1.5")]
    [InlineData("{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, \"qkv_bias\": \"no\"}", "\"qkv_bias\" must be true or false")]
    public void BadConfigsAreRefusedByName(string json, string expected)
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "config.json");
        System.IO.File.WriteAllText(path, json);
        var e = Assert.Throws<PicoGptException>(() => GptConfig.ReadJson(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void HubConfigOfGpt2IsAccepted()
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "config.json");
        // the hub's gpt2 config.json, abridged only in task_specific_params
        System.IO.File.WriteAllText(path, """
        {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256,
         "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
         "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
         "summary_activation": null, "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
         "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}}, "vocab_size": 50257}
        """);
        Assert.Equal(GptConfig.Gpt2, GptConfig.ReadJson(path));          // the preset is the hub's config, dropout 0.1 included
    }

    [Theory]
    [InlineData("\"resid_pdrop\": 0.1, \"embd_pdrop\": 0.1, \"attn_pdrop\": 0.1", 0.1)]   // every GPT-2 size
    [InlineData("\"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0", 0.0)]
    [InlineData("\"resid_pdrop\": 0.0, \"embd_pdrop\": 0.05, \"attn_pdrop\": 0.0", 0.05)] // different rates: the largest
    [InlineData("\"resid_pdrop\": 0.0", 0.1)]                                                    // missing ones are GPT2Config's default 0.1
    [InlineData("", 0.1)]
    public void ThreeDropoutRatesMapOntoOne(string rates, double expected)
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "config.json");
        System.IO.File.WriteAllText(path, "{\"vocab_size\": 96, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32" + (rates == "" ? "" : ", " + rates) + "}");
        Assert.Equal(expected, GptConfig.ReadJson(path).Dropout);
    }

    [Fact]
    public void PresetsAndConfigJsonAgreeOnDropoutAndBiases()
    {
        Assert.All(new[] { GptConfig.Gpt2, GptConfig.Gpt2Medium, GptConfig.Gpt2Large, GptConfig.Gpt2Xl }, c => Assert.Equal(0.1, c.Dropout));
        Assert.Equal(0.0, new GptConfig().Dropout);                        // a config you write yourself has none unless asked
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "config.json");
        foreach (var c in new[] { GptConfig.Gpt2, GptConfig.Tiny with { QkvBias = false }, GptConfig.Tiny with { Bias = false, Dropout = 0.2 } })
        {
            System.IO.File.WriteAllText(path, c.ToJson());
            Assert.Equal(c, GptConfig.ReadJson(path));
        }
        Assert.Contains("\"qkv_bias\": false", (GptConfig.Tiny with { QkvBias = false }).ToJson());
        Assert.DoesNotContain("qkv_bias", GptConfig.Tiny.ToJson());
    }

    [Fact]
    public void ModelWithoutQkvBiasSavesAndLoads()
    {
        using var tmp = TestPaths.Temp();
        var c = GptConfig.Tiny with { QkvBias = false };
        using var m = new Gpt(c, CPU, seed: 3);
        Assert.DoesNotContain("h.0.attn.c_attn.bias", m.state_dict().Keys);
        Assert.Contains("h.0.attn.c_proj.bias", m.state_dict().Keys);
        Gpt2Checkpoint.Save(m, tmp.Path);
        using var loaded = Gpt2Checkpoint.Load(tmp.Path, CPU);
        Assert.Equal(c, loaded.Config);
        var ids = torch.tensor(new long[] { 1, 2, 3, 4 });
        Assert.True(m.Forward(ids).allclose(loaded.Forward(ids)));
    }
}
