using System.Text.Json;
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
        var dtype = TorchRuntime.ParseDType(DType);
        return Gpt2Checkpoint.Load(dir ?? Dir, TorchRuntime.ParseDevice(Device), dtype);
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

/// <summary>picogpt next --model DIR --ids 15496,11,314 [--top 20] [--json]: the most likely next tokens.</summary>
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
        using var _ = torch.no_grad();
        using (var model = spec.Load())
        {
            if (ids.Length > model.Config.ContextLength)
                throw new PicoGptException($"--ids has {ids.Length} tokens, more than the context length {model.Config.ContextLength}");
            var input = torch.tensor(ids.Select(i => (long)i).ToArray(), device: model.Device);
            var logits = model.Forward(input, lastOnly: true)[0, 0].to(ScalarType.Float32).cpu();   // [V]
            var probs = logits.softmax(-1);
            var (values, indices) = logits.topk(Math.Min(top, (int)logits.shape[0]));
            var l = values.data<float>().ToArray();
            var idx = indices.data<long>().ToArray();
            var p = probs.index_select(0, indices).data<float>().ToArray();
            var rows = idx.Select((id, i) => new { id = (int)id, logit = (double)l[i], prob = (double)p[i] }).ToList();
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { top = rows }));
            else foreach (var r in rows) Console.WriteLine($"{r.id,8} {r.logit,12:F4} {r.prob,10:P2}");
        }
        return 0;
    }
}
