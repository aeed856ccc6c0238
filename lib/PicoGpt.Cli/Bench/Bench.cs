using System.Diagnostics;
using PicoGpt.Model;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using PicoGpt.Training;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Benchmarks;

/// <summary>One measured figure: a name, a value with its unit, and optionally a target it is compared with.</summary>
public sealed record BenchFigure(string Section, string Name, double Value, string Unit, string? Target = null, bool? Met = null);

/// <summary>What <see cref="Bench.Run"/> needs: sizes (quick or full) and the files it reads.</summary>
public sealed record BenchOptions
{
    public bool Quick { get; init; }
    /// <summary>The text the tokenizer is timed on (GPT-2's tokenizer, <see cref="Gpt2Tokenizer.Default"/>); no tokenizer figures when null.</summary>
    public string? ShakespearePath { get; init; }
    /// <summary>Runs the npm tiktoken comparison; given the text path, returns MB/s or null when unavailable.</summary>
    public Func<string, double?>? TiktokenMBps { get; init; }
    public Action<string>? Log { get; init; }
}

/// <summary>
/// `picogpt bench`: the machine's limits as TorchSharp sees them (matmul GFLOP/s, copy bandwidth), then the model's
/// forward pass, KV-cache decoding, tokenizer, training, weight loading and memory, each as a ratio to those limits.
/// Everything runs in one process so the ratios compare like with like.
/// </summary>
public static class Bench
{
    static double Time(Action a, int reps, int warmup = 1)
    {
        for (int i = 0; i < warmup; i++) a();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) a();
        return sw.Elapsed.TotalSeconds / reps;
    }

    static long Rss() { using var p = Process.GetCurrentProcess(); p.Refresh(); return p.WorkingSet64; }

    public static List<BenchFigure> Run(BenchOptions o)
    {
        Native.TorchRuntime.Initialize();
        var figures = new List<BenchFigure>();
        void Add(BenchFigure f) { figures.Add(f); o.Log?.Invoke($"{f.Section} / {f.Name}: {f.Value:G4} {f.Unit}{(f.Target != null ? $" (target {f.Target}: {(f.Met == true ? "met" : "MISSED")})" : "")}"); }
        using var _ = torch.no_grad();
        var cfg = GptConfig.Gpt2;
        long c = cfg.NEmbd;

        // 1. limits: GPT-2-shaped float32 GEMMs and copy bandwidth
        int tGemm = o.Quick ? 256 : 512;
        double bestGflops = 0;
        using (var scope = torch.NewDisposeScope())                                   // ~1 s of work first: threads up, clocks up
        {
            var a = torch.randn(tGemm, 4 * c);
            var b = torch.randn(4 * c, c);
            var warm = Stopwatch.StartNew();
            while (warm.Elapsed.TotalSeconds < 1) { using var r = a.matmul(b); }
        }
        foreach (var (k, n) in new[] { (c, 3 * c), (c, 4 * c), (4 * c, c), (c, c) })
        {
            using var scope = torch.NewDisposeScope();
            var a = torch.randn(tGemm, k);
            var b = torch.randn(k, n);
            double s = Enumerable.Range(0, 3).Min(_ => Time(() => { using var r = a.matmul(b); }, o.Quick ? 5 : 10, 1)); // best of 3 rounds
            double gflops = 2.0 * tGemm * k * n / s / 1e9;
            bestGflops = Math.Max(bestGflops, gflops);
            Add(new("limits", $"matmul [{tGemm},{k}]x[{k},{n}]", gflops, "GFLOP/s"));
        }
        Add(new("limits", "matmul peak (best of the above)", bestGflops, "GFLOP/s"));
        double bandwidth;
        {
            using var scope = torch.NewDisposeScope();
            long n = (o.Quick ? 64L : 256L) << 20;                                  // bytes, well past the caches
            var src = torch.randn(n / 4);
            var dst = torch.empty_like(src);
            double s = Enumerable.Range(0, 3).Min(_ => Time(() => dst.copy_(src), o.Quick ? 3 : 5, 1));
            bandwidth = 2.0 * n / s / 1e9;                                          // read + write
            Add(new("limits", $"copy bandwidth ({n >> 20} MiB tensor, read+write)", bandwidth, "GB/s"));
        }

        // 2. forward pass of the gpt2 preset, batch 1, float32
        using var model = new Gpt(cfg, CPU, seed: 1);
        long blockParams = cfg.NLayer * (12 * c * c);                                 // qkv 3C², proj C², mlp 8C² per layer
        foreach (var t in o.Quick ? new[] { 128, 512 } : new[] { 128, 512, 1024 })
        {
            using var scope = torch.NewDisposeScope();
            var ids = torch.randint(0, cfg.VocabSize, new long[] { 1, t });
            double s = Time(() => { using var inner = torch.NewDisposeScope(); model.Forward(ids, checkIds: false); }, o.Quick ? 2 : 5, 1);
            double flops = 2.0 * t * blockParams + cfg.NLayer * 4.0 * t * t * c + 2.0 * t * c * cfg.VocabSize;
            double gflops = flops / s / 1e9;
            Add(new("forward gpt2", $"T={t}: time", s * 1000, "ms"));
            Add(new("forward gpt2", $"T={t}: achieved", gflops, "GFLOP/s"));
            Add(new("forward gpt2", $"T={t}: ratio to matmul peak", gflops / bestGflops, "x", t >= 512 ? ">= 0.6" : null, t >= 512 ? gflops / bestGflops >= 0.6 : null));
        }

        // 3. decoding with and without the KV cache
        {
            var positions = o.Quick ? new[] { 100, 500 } : new[] { 100, 500, 1000 };
            var perToken = new Dictionary<int, double>();
            int steps = o.Quick ? 5 : 10;
            foreach (var p in positions)
            {
                using var cache = new KvCache(cfg, 1, cfg.ContextLength, ScalarType.Float32, CPU);
                using (var scope = torch.NewDisposeScope())
                    model.Forward(torch.randint(0, cfg.VocabSize, new long[] { 1, p }), cache, lastOnly: true, checkIds: false);
                var next = torch.tensor(new long[] { 42 }).view(1, 1);
                model.Forward(next, cache, lastOnly: true, checkIds: false).Dispose(); // warm-up step
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++)
                {
                    using var scope = torch.NewDisposeScope();
                    model.Forward(next, cache, lastOnly: true, checkIds: false).argmax(-1).item<long>();
                }
                perToken[p] = sw.Elapsed.TotalSeconds / steps;
                Add(new("decode gpt2", $"KV cache, position {p}", perToken[p] * 1000, "ms/token"));
            }
            double flatness = perToken[positions[^1]] / perToken[100];
            Add(new("decode gpt2", $"cost at {positions[^1]} / cost at 100", flatness, "x", "<= 1.5", flatness <= 1.5));
            double noCache;
            using (var scope = torch.NewDisposeScope())
            {
                var ids = torch.randint(0, cfg.VocabSize, new long[] { 1, 500 });
                noCache = Time(() => { using var s2 = torch.NewDisposeScope(); model.Forward(ids, lastOnly: true, checkIds: false).argmax(-1).item<long>(); }, o.Quick ? 2 : 4, 1);
            }
            Add(new("decode gpt2", "no cache, position 500", noCache * 1000, "ms/token"));
            Add(new("decode gpt2", "no cache / cache at 500", noCache / perToken[500], "x", ">= 5", noCache / perToken[500] >= 5));
            double weightBytes = model.ParameterCount * 4.0;
            double fraction = weightBytes / perToken[500] / 1e9 / bandwidth;
            Add(new("decode gpt2", "weights read per token / time, vs copy bandwidth", fraction, "x", ">= 0.5", fraction >= 0.5));
        }

        // 4. tokenizer
        if (o.ShakespearePath != null)
        {
            var text = File.ReadAllText(o.ShakespearePath);
            var tok = Gpt2Tokenizer.Default;
            double mb = System.Text.Encoding.UTF8.GetByteCount(text) / 1e6;
            int[] single = Array.Empty<int>();
            double s1 = Time(() => single = tok.Encode(text), o.Quick ? 1 : 3, 1);
            Add(new("tokenizer", "GPT-2 BPE, 1 thread", mb / s1, "MB/s"));
            int[] parallel = Array.Empty<int>();
            double sp = Time(() => parallel = ParallelEncode(tok, text), o.Quick ? 1 : 3, 1);
            Add(new("tokenizer", $"GPT-2 BPE, parallel chunks ({Environment.ProcessorCount} cores)", mb / sp, "MB/s"));
            if (!single.SequenceEqual(parallel)) throw new PicoGptException("bench: parallel tokenization differs from single-threaded");
            if (o.TiktokenMBps?.Invoke(o.ShakespearePath) is double tk)
            {
                Add(new("tokenizer", "npm tiktoken (WASM), 1 thread", tk, "MB/s"));
                Add(new("tokenizer", "ours / tiktoken, 1 thread", mb / s1 / tk, "x", ">= 1.5", mb / s1 / tk >= 1.5));
            }
        }

        // 5. training the shipped model's config
        {
            var tc = GptConfig.ShakespeareChar;
            using var tm = new Gpt(tc, CPU, seed: 1);
            var ids = SyntheticIds(tc.VocabSize);
            var dir = Path.Combine(Path.GetTempPath(), "picogpt-bench-" + Guid.NewGuid().ToString("N")[..8]);
            int steps = o.Quick ? 10 : 40;
            try
            {
                using var trainer = new Trainer(tm, new TokenDataset(ids, tc.VocabSize),
                    new TrainOptions { BatchSize = 16, MaxSteps = steps, EvalInterval = 1_000_000, EvalIters = 1, WarmupSteps = 1 }, dir);
                using (torch.enable_grad())
                {
                    var sw = Stopwatch.StartNew();
                    var first = 0.0;
                    trainer.Run(p => { if (p.Step == 2) first = sw.Elapsed.TotalSeconds; });
                    double sps = (steps - 2) / (sw.Elapsed.TotalSeconds - first);
                    double tps = sps * 16 * tc.ContextLength;
                    Add(new("training shakespeare-char", "steps/s (batch 16 x 128)", sps, "steps/s"));
                    Add(new("training shakespeare-char", "tokens/s", tps, "tokens/s"));
                    Add(new("training shakespeare-char", "model FLOPs utilisation (6 N tokens/s / matmul peak)", 6.0 * tm.ParameterCount * tps / 1e9 / bestGflops, "x"));
                }
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        }

        // 6. loading a gpt2-size model.safetensors vs reading its bytes
        {
            var dir = Path.Combine(Path.GetTempPath(), "picogpt-bench-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                Gpt2Checkpoint.Save(model, dir);
                var file = Path.Combine(dir, Gpt2Checkpoint.WeightsFile);
                var buffer = new byte[1 << 22];
                double stream = Time(() => { using var fs = File.OpenRead(file); while (fs.Read(buffer) > 0) { } }, 2, 1);
                double read = Time(() => GC.KeepAlive(File.ReadAllBytes(file)), 2, 1);   // the bytes into new memory, as loading must
                double load = Time(() => Gpt2Checkpoint.Load(dir, CPU).Dispose(), 2, 1);
                Add(new("loading", $"stream {new FileInfo(file).Length / 1e6:F0} MB file through a 4 MB buffer (page cache)", stream * 1000, "ms"));
                Add(new("loading", "read the file's bytes into a new array (File.ReadAllBytes)", read * 1000, "ms"));
                Add(new("loading", "Gpt2Checkpoint.Load", load * 1000, "ms"));
                Add(new("loading", "load time / read time", load / read, "x", "<= 2", load / read <= 2));
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        }

        // 7. memory over long generation and training
        {
            int tokens = o.Quick ? 300 : 2000;
            var samples = new List<long>();
            int n = 0;
            foreach (var _id in Generation.Generate(model, new[] { 464 }, new GenerateOptions { MaxNewTokens = tokens, Temperature = 1.0, Seed = 1 }))
                if (++n % 10 == 0) samples.Add(Rss());
            ReportGrowth(Add, $"generate {tokens} tokens (gpt2)", samples);

            var tc = GptConfig.ShakespeareChar;
            using var tm = new Gpt(tc, CPU, seed: 1);
            var ids = SyntheticIds(tc.VocabSize);
            var dir = Path.Combine(Path.GetTempPath(), "picogpt-bench-" + Guid.NewGuid().ToString("N")[..8]);
            int steps = o.Quick ? 100 : 1000;
            var tsamples = new List<long>();
            try
            {
                using var trainer = new Trainer(tm, new TokenDataset(ids, tc.VocabSize),
                    new TrainOptions { BatchSize = 4, MaxSteps = steps, EvalInterval = 1_000_000, EvalIters = 1, WarmupSteps = 1 }, dir);
                using (torch.enable_grad())
                    trainer.Run(p => { if (p.Step % 10 == 0) tsamples.Add(Rss()); });
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
            ReportGrowth(Add, $"train {steps} steps (shakespeare-char, batch 4)", tsamples);
        }
        return figures;
    }

    /// <summary>200,000 deterministic token ids spread over the vocabulary (training speed does not depend on the text).</summary>
    static int[] SyntheticIds(int vocabSize) => Enumerable.Range(0, 200_000).Select(i => (i * 7919) % vocabSize).ToArray();

    static void ReportGrowth(Action<BenchFigure> add, string what, List<long> samples)
    {
        if (samples.Count < 4) return;
        long peak = samples.Max();
        double quarter = samples.Take(samples.Count / 4).Max();
        double end = samples.Skip(samples.Count * 3 / 4).Max();
        double growth = (end - quarter) / quarter;
        add(new("memory", $"{what}: peak RSS", peak / 1e6, "MB"));
        add(new("memory", $"{what}: growth first quarter -> end", growth * 100, "%", "< 5", growth < 0.05));
    }

    /// <summary>
    /// Encodes long texts in parallel chunks cut between a visible ASCII character and a newline: no pre-token of
    /// GPT-2's regex holds a non-space character followed by whitespace, so the pre-tokenizer always splits there and the
    /// ids are exactly those of one call. (Cutting after a newline is wrong: "\n\n" at the end of a chunk would become
    /// one token, 628, instead of two 198s.)
    /// </summary>
    public static int[] ParallelEncode(ITokenizer tok, string text, int minChunk = 64 * 1024)
    {
        var cuts = new List<int> { 0 };
        int target = Math.Max(minChunk, text.Length / (Environment.ProcessorCount * 4));
        for (int i = target; i < text.Length; i += target)
        {
            int j = i;
            while (j < text.Length && !(text[j] == '\n' && text[j - 1] > ' ' && text[j - 1] < 127)) j++;
            if (j < text.Length && j > cuts[^1]) cuts.Add(j);
        }
        cuts.Add(text.Length);
        var parts = new int[cuts.Count - 1][];
        Parallel.For(0, parts.Length, k => parts[k] = tok.Encode(text[cuts[k]..cuts[k + 1]]));
        return parts.SelectMany(p => p).ToArray();
    }
}
