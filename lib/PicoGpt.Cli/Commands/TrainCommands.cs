using System.Globalization;
using System.Text.Json;
using PicoGpt.Model;
using PicoGpt.Native;
using PicoGpt.Tokenizers;
using PicoGpt.Training;
using PicoGpt.Weights;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt train [--data FILE] --out DIR [--tokenizer char|gpt2 [--bpe-dir DIR]] [--preset NAME] [--n-layer L --n-head H --n-embd C
/// --block-size T --dropout P] [--max-steps N --batch-size B --lr LR --min-lr LR --warmup N --decay-steps N
/// --weight-decay W --grad-clip G --grad-accum N --eval-interval N --eval-iters N --seed S] [--resume] [--device D].
/// --data defaults to the committed tinyshakespeare (data/tinyshakespeare.txt); --tokenizer gpt2 is GPT-2's built-in
/// tokenizer unless --bpe-dir names a folder with vocab.json + merges.txt.
/// </summary>
public sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Help => "train a GPT on a text file (default: tinyshakespeare; char or GPT-2 BPE tokens); Ctrl+C saves a checkpoint";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "resume", "quiet" };

    public int Run(Args args)
    {
        var dataPath = args.Get("data");
        var outDir = args.Require("out");
        var tokKind = args.Get("tokenizer") ?? "char";
        var bpeDir = args.Get("bpe-dir");
        var preset = args.Get("preset");
        var baseConfig = preset != null ? GptConfig.FromPreset(preset) : GptConfig.ShakespeareChar;
        var config = baseConfig with
        {
            NLayer = args.Int("n-layer", 1) ?? baseConfig.NLayer,
            NHead = args.Int("n-head", 1) ?? baseConfig.NHead,
            NEmbd = args.Int("n-embd", 1) ?? baseConfig.NEmbd,
            ContextLength = args.Int("block-size", 2) ?? baseConfig.ContextLength,
            Dropout = args.Double("dropout") ?? baseConfig.Dropout,
            Tokenizer = tokKind,
        };
        var d = new TrainOptions();
        var options = new TrainOptions
        {
            MaxSteps = args.Int("max-steps", 1) ?? d.MaxSteps,
            BatchSize = args.Int("batch-size", 1) ?? d.BatchSize,
            LearningRate = args.Double("lr") ?? d.LearningRate,
            MinLr = args.Double("min-lr") ?? d.MinLr,
            WarmupSteps = args.Int("warmup", 0) ?? d.WarmupSteps,
            DecaySteps = args.Int("decay-steps", 1),
            WeightDecay = args.Double("weight-decay") ?? d.WeightDecay,
            GradClip = args.Double("grad-clip") ?? d.GradClip,
            GradAccum = args.Int("grad-accum", 1) ?? d.GradAccum,
            EvalInterval = args.Int("eval-interval", 1) ?? d.EvalInterval,
            EvalIters = args.Int("eval-iters", 1) ?? d.EvalIters,
            Seed = args.Long("seed") ?? d.Seed,
        };
        bool resume = args.Flag("resume"), quiet = args.Flag("quiet");
        var deviceName = args.Get("device");
        args.EnsureAllUsed();
        if (tokKind is not ("char" or "gpt2")) throw new CliError($"--tokenizer must be char or gpt2, got '{tokKind}'");
        if (bpeDir != null && tokKind != "gpt2") throw new CliError("--bpe-dir needs --tokenizer gpt2");
        options.Validate();

        var text = TokenizeCommand.ReadText(dataPath ?? Paths.TinyShakespeare);
        ITokenizer tokenizer = tokKind == "char" ? CharTokenizer.FromText(text)
            : bpeDir != null ? Gpt2Tokenizer.FromFolder(bpeDir)
            : Gpt2Tokenizer.Default;
        config = (config with { VocabSize = tokKind == "char" ? tokenizer.VocabSize : Math.Max(config.VocabSize, tokenizer.VocabSize) }).Validate("--preset/--n-*");

        Directory.CreateDirectory(outDir);
        var idsPath = Path.Combine(outDir, "data.bin");
        int[] ids;
        if (resume && File.Exists(idsPath)) ids = TokenDataset.ReadIds(idsPath).Ids;
        else
        {
            ids = tokenizer.Encode(text);
            TokenDataset.WriteIds(idsPath, ids, tokenizer.VocabSize);
        }
        var data = new TokenDataset(ids, tokenizer.VocabSize);
        Console.Error.WriteLine($"data: {ids.Length:N0} tokens ({data.Train.Length:N0} train, {data.Val.Length:N0} val), vocab {tokenizer.VocabSize}");

        using var model = new Gpt(config, TorchRuntime.ParseDevice(deviceName), seed: options.Seed);
        Console.Error.WriteLine($"model: {config.NLayer} layers, {config.NHead} heads, {config.NEmbd} wide, context {config.ContextLength}, {model.ParameterCount:N0} parameters on {model.Device}");
        using var trainer = new Trainer(model, data, options, outDir, tokenizer.Save);
        if (resume)
        {
            if (trainer.TryResume(w => Console.Error.WriteLine("warning: " + w))) Console.Error.WriteLine($"resumed at step {trainer.Step}");
            else Console.Error.WriteLine("no checkpoint found: starting from step 0");
        }

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var bar = new ProgressLine(quiet);
            var result = trainer.Run(p =>
            {
                if (p.Eval is EvalResult e)
                    bar.Line(string.Create(CultureInfo.InvariantCulture, $"step {e.Step,6}: train loss {e.TrainLoss:F4}, val loss {e.ValLoss:F4} (perplexity {Math.Exp(e.ValLoss):F2})"));
                bar.Update(string.Create(CultureInfo.InvariantCulture,
                    $"step {p.Step}/{p.MaxSteps} | loss {p.Loss:F4} | lr {p.Lr:0.00e0} | {p.TokensPerSecond:N0} tok/s | ETA {p.Eta:hh\\:mm\\:ss}"));
            }, cancel.Token);
            bar.Done();
            if (result.Cancelled)
            {
                Console.Error.WriteLine($"interrupted at step {result.Steps}: checkpoint saved in {Path.Combine(outDir, Trainer.CheckpointDir)}; continue with --resume");
                return 130;
            }
            var json = JsonSerializer.Serialize(new { steps = result.Steps, best_val_loss = result.BestValLoss, final_val_loss = result.Evals[^1].ValLoss, final_val_perplexity = Math.Exp(result.Evals[^1].ValLoss), seconds = result.Seconds });
            Console.WriteLine(json);
        }
        finally { Console.CancelKeyPress -= onCancel; }
        return 0;
    }
}

/// <summary>A one-line live progress display on stderr (redrawn with \r on a terminal, a line every few seconds otherwise).</summary>
sealed class ProgressLine(bool quiet)
{
    readonly bool _tty = !Console.IsErrorRedirected;
    DateTime _last = DateTime.MinValue;
    string _current = "";

    public void Update(string s)
    {
        if (quiet) return;
        _current = s;
        if (_tty) Console.Error.Write("\r" + s.PadRight(Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 120) : 100));
        else if (DateTime.UtcNow - _last > TimeSpan.FromSeconds(10)) { Console.Error.WriteLine(s); _last = DateTime.UtcNow; }
    }

    public void Line(string s)
    {
        if (quiet) return;
        if (_tty) Console.Error.Write("\r" + new string(' ', Math.Min(_current.Length, 120)) + "\r");
        Console.Error.WriteLine(s);
    }

    public void Done() { if (!quiet && _tty) Console.Error.WriteLine(); }
}

/// <summary>
/// picogpt eval [--model DIR] [--data FILE] [--max-train-blocks N] [--dtype int8] [--json]: loss on the 90/10 train/val split of a text
/// file (default: the committed tinyshakespeare, data/tinyshakespeare.txt). --dtype int8 also reports top-1 agreement with float32.
/// </summary>
public sealed class EvalCommand : ICommand
{
    public string Name => "eval";
    public string Help => "train and val loss of a model on a text file's 90/10 split (default: tinyshakespeare)";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public int Run(Args args)
    {
        var spec = ModelOptions.Read(args);
        var dataPath = args.Get("data");
        int? maxTrainBlocks = args.Int("max-train-blocks", 1) ?? 1000;
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var text = TokenizeCommand.ReadText(dataPath ?? Paths.TinyShakespeare);
        var dir = spec.Dir;
        var tokenizer = Tokenizer.Load(dir);
        if (spec.Decoder(generation: false) == PicoGpt.Decode.DecodeDType.Int8)
            return EvalInt8(dir, tokenizer, text, maxTrainBlocks, json);
        using var model = spec.Load(dir);
        var data = new TokenDataset(tokenizer.Encode(text), tokenizer.VocabSize);
        double val = Evaluation.Loss(model, data.Val);
        double train = Evaluation.Loss(model, data.Train, maxBlocks: maxTrainBlocks);
        if (json) Console.WriteLine(JsonSerializer.Serialize(new { val_loss = val, train_loss = train, val_perplexity = Math.Exp(val) }));
        else Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"val loss {val:F4} (perplexity {Math.Exp(val):F3})\ntrain loss {train:F4}"));
        return 0;
    }

    /// <summary>--dtype int8: the int8 weights' loss, and top-1 agreement with float32 on the same positions.</summary>
    static int EvalInt8(string dir, ITokenizer tokenizer, string text, int? maxTrainBlocks, bool json)
    {
        using var f32 = Gpt2Checkpoint.Load(dir, TorchSharp.torch.CPU);
        using var int8 = PicoGpt.Decode.QuantizedEvaluation.LoadInt8RoundTrip(dir);
        var data = new TokenDataset(tokenizer.Encode(text), tokenizer.VocabSize);
        var val = PicoGpt.Decode.QuantizedEvaluation.Compare(int8, f32, data.Val);
        var train = PicoGpt.Decode.QuantizedEvaluation.Compare(int8, f32, data.Train, maxBlocks: maxTrainBlocks);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                dtype = "int8", val_loss = val.Loss, val_perplexity = Math.Exp(val.Loss), train_loss = train.Loss, top1_agreement = val.Top1Agreement,
                f32_val_loss = val.ReferenceLoss, val_positions = val.Positions,
            }));
        else
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"val loss {val.Loss:F4}, perplexity {Math.Exp(val.Loss):F3} (f32 {val.ReferenceLoss:F4})\ntrain loss {train.Loss:F4}\ntop-1 agreement with f32 {val.Top1Agreement:P2} over {val.Positions} val positions"));
        return 0;
    }
}
