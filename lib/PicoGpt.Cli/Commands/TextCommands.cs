using System.Text.Json;
using PicoGpt.Decode;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using PicoGpt.Weights;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt tokenize [--model DIR | --tokenizer gpt2] (--text S | --file F) [--json] [--allow-special]: text to ids,
/// with a model's tokenizer or GPT-2's built-in one (no model folder needed).
/// </summary>
public sealed class TokenizeCommand : ICommand
{
    public string Name => "tokenize";
    public string Help => "text to token ids with a model's tokenizer (--tokenizer gpt2: GPT-2's, no model needed)";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "allow-special" };

    public int Run(Args args)
    {
        var model = args.Get("model");
        var tokenizerName = args.Get("tokenizer");
        var which = args.OneOf("text", "file");
        var value = args.Require(which);
        bool json = args.Flag("json"), special = args.Flag("allow-special");
        args.EnsureAllUsed();
        var tokenizer = Pick(model, tokenizerName);
        var text = which == "text" ? value : ReadText(value);
        var ids = tokenizer.Encode(text, special);
        Console.WriteLine(json ? JsonSerializer.Serialize(new { ids }) : string.Join(",", ids));
        return 0;
    }

    /// <summary>--tokenizer gpt2 (GPT-2's, built in), else the tokenizer of --model (or the default model).</summary>
    internal static ITokenizer Pick(string? model, string? tokenizer)
    {
        if (tokenizer == null) return Tokenizer.Load(ModelStore.Resolve(model));
        if (model != null) throw new CliError("--model and --tokenizer cannot be used together");
        return tokenizer == "gpt2" ? Gpt2Tokenizer.Default
            : throw new CliError($"--tokenizer must be gpt2 (GPT-2's tokenizer; other tokenizers come with a --model), got '{tokenizer}'");
    }

    internal static string ReadText(string path)
    {
        try { return File.ReadAllText(path, new System.Text.UTF8Encoding(false, true)); }
        catch (FileNotFoundException) { throw new PicoGptException($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new PicoGptException($"{path}: file not found"); }
        catch (System.Text.DecoderFallbackException) { throw new PicoGptException($"{path}: not valid UTF-8 text"); }
    }
}

/// <summary>picogpt decode [--model DIR | --tokenizer gpt2] --ids 1,2,3 [--json]: ids to text.</summary>
public sealed class DecodeCommand : ICommand
{
    public string Name => "decode";
    public string Help => "token ids to text with a model's tokenizer (--tokenizer gpt2: GPT-2's, no model needed)";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public int Run(Args args)
    {
        var model = args.Get("model");
        var tokenizerName = args.Get("tokenizer");
        var ids = args.IntList("ids") ?? throw new CliError("missing required option --ids (comma-separated token ids)");
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var text = TokenizeCommand.Pick(model, tokenizerName).Decode(ids);
        if (json) Console.WriteLine(JsonSerializer.Serialize(new { text }));
        else Console.WriteLine(text);
        return 0;
    }
}

/// <summary>
/// picogpt generate [--model DIR] (--prompt S | --ids 1,2,3) --max-new-tokens N [--temperature T] [--top-k K] [--top-p P]
/// [--seed S] [--stop S] [--no-cache] [--dtype f32|f16|int8|bf16] [--device D] [--json]: streams text to stdout; --json prints
/// {"ids": [...], "text": "..."}. On the cpu it decodes with the C# decoder (PicoGpt.Decode), in f16 by default where that
/// is fast (<see cref="DecodeDefaults.Generation"/>); --dtype f32 asks for float32.
/// </summary>
public sealed class GenerateCommand : ICommand
{
    public string Name => "generate";
    public string Help => "generate text from a prompt (streams; --temperature 0 is greedy)";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "no-cache" };

    public int Run(Args args)
    {
        var spec = ModelOptions.Read(args);
        var which = args.OneOf("prompt", "ids");
        string? prompt = which == "prompt" ? args.Require("prompt") : null;
        int[]? promptIds = which == "ids" ? args.IntList("ids") : null;
        var options = new GenerateOptions
        {
            MaxNewTokens = args.Int("max-new-tokens", min: 0) ?? 100,
            Temperature = args.Double("temperature") ?? 0.8,                 // nanoGPT's sampling default
            TopK = args.Int("top-k"),
            TopP = args.Double("top-p"),
            Seed = args.Long("seed"),
            StopStrings = args.Get("stop") is string stop ? new[] { stop } : Array.Empty<string>(),
            UseCache = !args.Flag("no-cache"),
        };
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        if (options.Temperature < 0) throw new CliError($"--temperature must be >= 0, got {options.Temperature}");
        if (options.TopK is int k && k < 1) throw new CliError($"--top-k must be at least 1, got {k}");
        if (options.TopP is double p && !(p > 0 && p <= 1)) throw new CliError($"--top-p must be in (0, 1], got {p}");

        var dir = spec.Dir;
        var tokenizer = Tokenizer.Load(dir);
        var decoderDType = spec.Decoder(generation: true, noCache: !options.UseCache);
        using var fast = decoderDType is DecodeDType d ? FastDecoder.Load(dir, d) : null;   // C# decoding (cpu)
        using var model = fast == null ? spec.Load(dir) : null;                             // TorchSharp
        var config = fast?.Config ?? model!.Config;
        if (tokenizer.VocabSize > config.VocabSize)
            throw new PicoGptException($"{dir}: the tokenizer has {tokenizer.VocabSize} tokens but the model only {config.VocabSize}");
        var ids = promptIds ?? tokenizer.Encode(prompt!);
        options = options.WithEndOfText(tokenizer);

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var newIds = new List<int>();
            Action<string> warn = w => Console.Error.WriteLine("warning: " + w);
            var stream = Generation.StreamText(fast != null ? fast.Generate(ids, options, warn) : Generation.Generate(model!, ids, options, warn),
                tokenizer, options.StopStrings, newIds);
            var text = new System.Text.StringBuilder();
            var stdout = Console.Out;
            if (!json && prompt != null) { stdout.Write(prompt); stdout.Flush(); }
            foreach (var piece in stream)
            {
                text.Append(piece);
                if (!json) { stdout.Write(piece); stdout.Flush(); }
                if (cancel.IsCancellationRequested) break;
            }
            if (json) stdout.WriteLine(JsonSerializer.Serialize(new { ids = newIds, text = text.ToString() }));
            else stdout.WriteLine();
        }
        finally { Console.CancelKeyPress -= onCancel; }
        return 0;
    }
}
