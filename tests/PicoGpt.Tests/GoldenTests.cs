using System.Text.Json;
using PicoGpt.Model;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>
/// The C# model against logits computed independently in float64 by tests/tools/make_golden.py (PyTorch, its own
/// forward pass). Tolerance: 1e-4 absolute on float32 logits; greedy ids identical.
/// </summary>
public class GoldenTests
{
    static readonly string Golden = Path.Combine(TestPaths.Fixtures, "golden");
    static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden, "expected.json"))).RootElement;

    public static TheoryData<string, string> Folders => new()
    {
        { "tiny-plain", "f32" }, { "tiny-prefixed", "f32" }, { "tiny-f16", "f16" },
    };

    [Theory, MemberData(nameof(Folders))]
    public void LogitsMatchTheReference(string folder, string block)
    {
        using var model = Gpt2Checkpoint.Load(Path.Combine(Golden, folder), CPU);
        Assert.Equal(GptConfig.Tiny with { Dropout = 0.1 }, model.Config); // resid_pdrop 0.1 in config.json
        int cases = 0;
        foreach (var c in Expected.GetProperty(block).GetProperty("cases").EnumerateArray())
        {
            var ids = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var logits = model.Forward(torch.tensor(ids))[0];                                     // [T, V]
            var last = Floats(c.GetProperty("last_logits"));
            var got = logits[-1].data<float>().ToArray();
            double err = last.Zip(got, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(err < 1e-4, $"{folder}/{c.GetProperty("name")}: max |logit - reference| = {err}");
            Assert.Equal(c.GetProperty("last_argmax").GetInt32(), logits[-1].argmax().item<long>());
            if (c.TryGetProperty("all_logits", out var all))
            {
                var rows = all.EnumerateArray().Select(Floats).ToArray();
                for (int t = 0; t < rows.Length; t++)
                {
                    var row = logits[t].data<float>().ToArray();
                    Assert.True(rows[t].Zip(row, (a, b) => Math.Abs(a - b)).Max() < 1e-4, $"{folder}: position {t}");
                }
            }
            cases++;
        }
        Assert.Equal(3, cases);
    }

    [Theory, MemberData(nameof(Folders))]
    public void GreedyContinuationMatchesTheReference(string folder, string block)
    {
        using var model = Gpt2Checkpoint.Load(Path.Combine(Golden, folder), CPU);
        var g = Expected.GetProperty(block).GetProperty("greedy");
        var prompt = g.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var want = g.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        // full recomputation, as the reference did
        var ids = prompt.ToList();
        for (int i = 0; i < want.Length; i++)
            ids.Add((int)model.Forward(torch.tensor(ids.Select(x => (long)x).ToArray()))[0, -1].argmax().item<long>());
        Assert.Equal(want, ids.Skip(prompt.Length).ToArray());
    }

    [Fact]
    public void SavedModelReloadsBitForBitAndInTheHubLayout()
    {
        using var model = Gpt2Checkpoint.Load(Path.Combine(Golden, "tiny-prefixed"), CPU);
        using var tmp = TestPaths.Temp();
        Gpt2Checkpoint.Save(model, tmp.Path);
        using (var f = SafeTensorsFile.Open(Path.Combine(tmp.Path, "model.safetensors")))
        {
            Assert.Equal(new long[] { 32, 96 }, f.Tensors["h.0.attn.c_attn.weight"].Shape); // Conv1D [in, out]
            Assert.Equal("F32", f.Tensors["wte.weight"].DType);
            Assert.DoesNotContain("lm_head.weight", f.Tensors.Keys);
            Assert.Equal("pt", f.Metadata["format"]);
        }
        // byte-identical tensors to the file the golden script wrote (same names, same orientation)
        using var original = SafeTensorsFile.Open(Path.Combine(Golden, "tiny-plain", "model.safetensors"));
        using var saved = SafeTensorsFile.Open(Path.Combine(tmp.Path, "model.safetensors"));
        foreach (var (name, info) in saved.Tensors)
            Assert.True(original.Read(name).equal(saved.Read(name)).all().item<bool>(), name);
        using var again = Gpt2Checkpoint.Load(tmp.Path, CPU);
        var ids = torch.tensor(new long[] { 1, 2, 3 });
        Assert.True(again.Forward(ids).equal(model.Forward(ids)).all().item<bool>());
    }

    static double[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
}
