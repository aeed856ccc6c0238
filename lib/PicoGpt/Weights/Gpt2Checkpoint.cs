using PicoGpt.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using PicoGpt.IO;

namespace PicoGpt.Weights;

/// <summary>
/// A model folder in Hugging Face's GPT-2 layout: config.json (GPT-2 keys) and model.safetensors (hub key names,
/// Conv1D weights [in, out], head tied to wte), plus the tokenizer's files. Reads the hub's files and writes files
/// the hub's tools read.
/// </summary>
public static class Gpt2Checkpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    /// <summary>Weights stored as Conv1D [in, out] in GPT-2 files, [out, in] in our nn.Linear modules.</summary>
    static bool IsConv1D(string key) =>
        key.EndsWith(".attn.c_attn.weight") || key.EndsWith(".attn.c_proj.weight") ||
        key.EndsWith(".mlp.c_fc.weight") || key.EndsWith(".mlp.c_proj.weight");

    /// <summary>Buffers some exports carry that are not parameters (causal mask, masked bias).</summary>
    static bool IsIgnoredBuffer(string key) => key.EndsWith(".attn.bias") || key.EndsWith(".attn.masked_bias");

    /// <summary>Reads config.json of a model folder.</summary>
    public static GptConfig ReadConfig(string dir)
    {
        if (!Directory.Exists(dir)) throw new PicoGptException($"{dir}: model folder not found");
        return GptConfig.ReadJson(Path.Combine(dir, ConfigFile));
    }

    /// <summary>
    /// Loads a model folder onto <paramref name="device"/> (default: cuda if available) in <paramref name="dtype"/>
    /// (default float32). Every missing, unexpected or wrongly shaped key is reported by name in one error;
    /// non-finite weights are refused.
    /// </summary>
    public static Gpt Load(string dir, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var config = ReadConfig(dir);
        var path = Path.Combine(dir, WeightsFile);
        if (!File.Exists(path)) throw new PicoGptException($"{path}: file not found (a model folder needs model.safetensors)");
        using var file = SafeTensorsFile.Open(path);
        var model = new Gpt(config, torch.CPU, dtype, initialize: false);
        try
        {
            LoadInto(model, file);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        var target = device ?? Native.TorchRuntime.DefaultDevice;
        if (target.type != DeviceType.CPU) model.to(target);
        return model;
    }

    static void LoadInto(Gpt model, SafeTensorsFile file)
    {
        var parameters = model.state_dict();
        var seen = new HashSet<string>();
        var unexpected = new List<string>();
        var badShape = new List<string>();
        var nonFinite = new List<string>();
        Tensor? lmHead = null;
        var linears = model.named_modules().Where(m => m.module is TorchSharp.Modules.Linear)
            .ToDictionary(m => m.name, m => (TorchSharp.Modules.Linear)m.module);
        using var _ = torch.no_grad();
        foreach (var (fileKey, info) in file.Tensors)
        {
            var key = fileKey.StartsWith("transformer.") ? fileKey["transformer.".Length..] : fileKey;
            if (IsIgnoredBuffer(key)) continue;
            if (key == "lm_head.weight") { lmHead = file.Read(fileKey); continue; }
            if (!parameters.TryGetValue(key, out var param)) { unexpected.Add(fileKey); continue; }
            if (!seen.Add(key)) { unexpected.Add(fileKey + " (duplicate)"); continue; }
            var shape = IsConv1D(key) && info.Shape.Length == 2 ? new[] { info.Shape[1], info.Shape[0] } : info.Shape;
            if (!shape.SequenceEqual(param.shape))
            {
                var want = IsConv1D(key) ? new[] { param.shape[1], param.shape[0] } : param.shape;
                badShape.Add($"{fileKey} is [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", want)}]");
                continue;
            }
            using var scope = torch.NewDisposeScope();
            bool direct = SafeTensorsFile.DTypes[info.DType].Type == param.dtype && param.device.type == DeviceType.CPU;
            if (direct && !IsConv1D(key))
                file.ReadInto(fileKey, param);                                      // straight from the file into the parameter
            else if (direct && linears.TryGetValue(key[..^".weight".Length], out var linear))
            {
                // Conv1D [in, out] bytes become the storage; nn.Linear gets its [out, in] as a transposed view (no copy;
                // the matmul reads it with a transpose flag)
                var storage = torch.empty(info.Shape, param.dtype).DetachFromDisposeScope();
                file.ReadInto(fileKey, storage);
                linear.weight = new Parameter(storage.t());
                param = linear.weight!;
            }
            else
            {
                var t = file.Read(fileKey);
                param.copy_(IsConv1D(key) ? t.t() : t);
            }
            // one pass in float64: the sum is finite exactly when every value is (float32 values cannot overflow it)
            if (!double.IsFinite(param.sum(type: ScalarType.Float64).item<double>())) nonFinite.Add(fileKey);
        }
        var missing = parameters.Keys.Where(k => !seen.Contains(k)).ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing {Names(missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected {Names(unexpected)}");
        if (badShape.Count > 0) problems.Add($"wrong shape: {string.Join("; ", badShape.Take(8))}{(badShape.Count > 8 ? $"; and {badShape.Count - 8} more" : "")}");
        if (nonFinite.Count > 0) problems.Add($"NaN or infinite values in {Names(nonFinite)}");
        if (lmHead is not null && problems.Count == 0 && !lmHead.to(model.DType).allclose(model.TokenEmbedding.cpu(), 1e-5, 1e-6))
            problems.Add("lm_head.weight differs from wte.weight, but this model ties the head to the token embedding");
        lmHead?.Dispose();
        if (problems.Count > 0)
            throw new PicoGptException($"{file.Path}: does not match config.json ({model.Config.NLayer} layers, n_embd {model.Config.NEmbd}, vocab {model.Config.VocabSize}): {string.Join("; ", problems)}");
    }

    static string Names(List<string> keys) =>
        $"{keys.Count} key{(keys.Count == 1 ? "" : "s")} ({string.Join(", ", keys.Take(8))}{(keys.Count > 8 ? ", ..." : "")})";

    /// <summary>
    /// Writes config.json and model.safetensors (hub key names without prefix, Conv1D orientation, no lm_head) into
    /// <paramref name="dir"/>, each via temp file + rename. <paramref name="dtype"/> defaults to the model's dtype.
    /// </summary>
    public static void Save(Gpt model, string dir, ScalarType? dtype = null)
    {
        Directory.CreateDirectory(dir);
        using (var scope = torch.NewDisposeScope())
        {
            var tensors = model.state_dict()
                .Select(kv => (kv.Key, (IsConv1D(kv.Key) ? kv.Value.t() : kv.Value).to(dtype ?? kv.Value.dtype)))
                .ToList();
            SafeTensorsFile.Save(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), model.Config.ToJson());
    }
}
