using PicoGpt.Plots;
using PicoGpt.Tokenizers;
using TorchSharp;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt attention [--model DIR] --prompt S [--layer L] [--out file.html]: the attention weights of every layer and head
/// on a prompt, as a standalone HTML page (plotly.js embedded, opens offline). Without --layer, a dropdown picks the
/// layer; with --layer, that layer's heads in a grid. Rows are query tokens, columns key tokens.
/// </summary>
public sealed class AttentionCommand : ICommand
{
    public const string DefaultOut = "attention.html";

    public string Name => "attention";
    public string Help => "attention heatmaps (every layer and head) on a prompt, as a standalone HTML page";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public int Run(Args args)
    {
        var spec = ModelOptions.Read(args);
        var prompt = args.Require("prompt");
        int? layer = args.Int("layer");
        var outPath = args.Get("out") ?? DefaultOut;
        args.EnsureAllUsed();
        if (outPath.Length == 0) throw new CliError("--out is empty");
        if (prompt.Length == 0) throw new PicoGptException("the prompt is empty: give at least one character");

        var dir = spec.Dir;
        var config = Weights.Gpt2Checkpoint.ReadConfig(dir);
        if (layer is int l && (l < 0 || l >= config.NLayer))
            throw new PicoGptException($"--layer {l} is out of range: the model has {config.NLayer} layers (0 to {config.NLayer - 1})");
        var tokenizer = Tokenizer.Load(dir);
        var ids = tokenizer.Encode(prompt);
        if (ids.Length == 0) throw new PicoGptException("the prompt encodes to no tokens");
        if (ids.Length > config.ContextLength)
            throw new PicoGptException($"the prompt has {ids.Length} tokens, more than the context length {config.ContextLength}");

        using var model = spec.Load(dir);
        if (tokenizer.VocabSize > model.Config.VocabSize)
            throw new PicoGptException($"{dir}: the tokenizer has {tokenizer.VocabSize} tokens but the model only {model.Config.VocabSize}");
        var tokens = ids.Select(tokenizer.TokenLabel).ToArray();
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        using var scope = torch.NewDisposeScope();
        var weights = model.AttentionWeights(torch.tensor(ids.Select(i => (long)i).ToArray(), device: model.Device)); // [n_layer, n_head, T, T]
        var chart = layer is int one
            ? AttentionPlot.Heads(weights[one], tokens, $"{name}: attention of layer {one}, every head")
            : AttentionPlot.Layers(weights, tokens, $"{name}: attention per layer and head");
        chart.SaveHtml(outPath);
        Console.WriteLine($"wrote {outPath}: {name}, {(layer is int x ? $"layer {x}" : $"{config.NLayer} layers")} × {config.NHead} heads, {ids.Length} tokens");
        return 0;
    }
}
