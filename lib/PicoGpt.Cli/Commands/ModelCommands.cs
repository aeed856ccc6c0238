using System.Text.Json;
using PicoGpt.Decode;
using PicoGpt.Model;
using PicoGpt.Native;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Cli.Commands;

/// <summary>Options shared by the commands that load a model: --model, --device, --dtype. Read first, loaded after the
/// command has checked all its arguments.</summary>
sealed record ModelOptions(string? Model, string? Device, string? DType)
{
    public static ModelOptions Read(Args args) => new(args.Get("model"), args.Get("device"), args.Get("dtype"));

    public string Dir => ModelStore.Resolve(Model);

    /// <summary>Loads the model from <paramref name="dir"/> when the caller has already resolved it, else from <see cref="Dir"/>.</summary>
    public Gpt Load(string? dir = null)
    {
        if (DecodeDTypes.TryParse(DType) == DecodeDType.Int8)
            throw new CliError("--dtype int8 is available for generate, next, eval and bench only");
        var dtype = TorchRuntime.ParseDType(DType);
        return Gpt2Checkpoint.Load(dir ?? Dir, TorchRuntime.ParseDevice(Device), dtype);
    }
}

static class ModelOptionsDecode
{
    /// <summary>
    /// Whether a command runs on the C# decoder (PicoGpt.Decode.FastDecoder), and in which dtype: --dtype int8 always
    /// (cpu only; an error elsewhere); for generation on the cpu with the cache, --dtype f32/f16 too, and without --dtype
    /// <see cref="DecodeDefaults.Generation"/>. Null: the TorchSharp model (other devices, bf16/f64, --no-cache).
    /// </summary>
    public static DecodeDType? Decoder(this ModelOptions o, bool generation, bool noCache = false)
    {
        var named = DecodeDTypes.TryParse(o.DType);
        bool cpu = o.Device is "cpu" || (o.Device is null or "" or "auto" && TorchRuntime.DefaultDevice.type == DeviceType.CPU);
        if (named == DecodeDType.Int8)
        {
            if (!cpu) throw new CliError($"--dtype int8 runs on the cpu only (C# kernels), not on device '{o.Device ?? "auto"}': add --device cpu or choose another --dtype");
            if (noCache) throw new CliError("--dtype int8 decodes with its own cache: --no-cache cannot be used with it");
            return DecodeDType.Int8;
        }
        if (!generation || !cpu || noCache) return null;
        if (string.IsNullOrEmpty(o.DType)) return DecodeDefaults.Generation;
        return named;                                   // f32/f16; bf16/f64 stay on TorchSharp
    }
}

/// <summary>picogpt info --model DIR [--json]: the config and parameter count.</summary>
public sealed class InfoCommand : ICommand
{
    public string Name => "info";
    public string Help => "show a model's config and parameter count";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public int Run(Args args)
    {
        var model = args.Get("model");
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var dir = ModelStore.Resolve(model);
        var c = Gpt2Checkpoint.ReadConfig(dir);
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, Gpt2Checkpoint.WeightsFile))) { } // validates the weights' header
        var info = new Dictionary<string, object>
        {
            ["path"] = Path.GetFullPath(dir),
            ["vocab_size"] = c.VocabSize, ["n_positions"] = c.ContextLength, ["n_embd"] = c.NEmbd,
            ["n_layer"] = c.NLayer, ["n_head"] = c.NHead, ["layer_norm_epsilon"] = c.LayerNormEps,
            ["dropout"] = c.Dropout, ["bias"] = c.Bias, ["tokenizer"] = c.Tokenizer,
            ["parameters"] = c.ParameterCount,
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(info));
        else foreach (var (k, v) in info) Console.WriteLine($"{k,-20} {v}");
        return 0;
    }
}

/// <summary>picogpt next --model DIR --ids 15496,11,314 [--top 20] [--dtype f32|f16|int8] [--json]: the most likely next tokens
/// (--dtype int8: the C# int8 decoder, cpu only).</summary>
public sealed class NextCommand : ICommand
{
    public string Name => "next";
    public string Help => "next-token logits and probabilities for the last position of --ids";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public int Run(Args args)
    {
        var ids = args.IntList("ids") ?? throw new CliError("missing required option --ids (comma-separated token ids)");
        int top = args.Int("top", min: 1) ?? 20;
        bool json = args.Flag("json");
        var spec = ModelOptions.Read(args);
        args.EnsureAllUsed();
        if (spec.Decoder(generation: false) is DecodeDType d)                      // --dtype int8: the C# decoder
        {
            using var fast = FastDecoder.Load(spec.Dir, d);
            if (ids.Length > fast.Config.ContextLength)
                throw new PicoGptException($"--ids has {ids.Length} tokens, more than the context length {fast.Config.ContextLength}");
            foreach (var id in ids)
                if (id < 0 || id >= fast.Config.VocabSize) throw new PicoGptException($"token id {id} is outside the vocabulary [0, {fast.Config.VocabSize})");
            using var scope = torch.NewDisposeScope();
            Print(torch.tensor(fast.LastLogits(ids)), top, json);
            return 0;
        }
        using var _ = torch.no_grad();
        using (var model = spec.Load())
        {
            if (ids.Length > model.Config.ContextLength)
                throw new PicoGptException($"--ids has {ids.Length} tokens, more than the context length {model.Config.ContextLength}");
            var input = torch.tensor(ids.Select(i => (long)i).ToArray(), device: model.Device);
            Print(model.Forward(input, lastOnly: true)[0, 0].to(ScalarType.Float32).cpu(), top, json);   // [V]
        }
        return 0;
    }

    static void Print(Tensor logits, int top, bool json) // [V] float32 cpu
    {
        {
            var probs = logits.softmax(-1);
            var (values, indices) = logits.topk(Math.Min(top, (int)logits.shape[0]));
            var l = values.data<float>().ToArray();
            var idx = indices.data<long>().ToArray();
            var p = probs.index_select(0, indices).data<float>().ToArray();
            var rows = idx.Select((id, i) => new { id = (int)id, logit = (double)l[i], prob = (double)p[i] }).ToList();
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { top = rows }));
            else foreach (var r in rows) Console.WriteLine($"{r.id,8} {r.logit,12:F4} {r.prob,10:P2}");
        }
    }
}
