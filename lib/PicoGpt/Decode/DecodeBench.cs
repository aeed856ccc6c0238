using System.Diagnostics;
using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Decode;

/// <summary>One engine's decoding speed: bytes of weights read per token, tokens/s, and the fraction of the memory limit
/// (read bandwidth / bytes per token) that it reaches.</summary>
public sealed record DecodeSpeed(string Engine, long BytesPerToken, double TokensPerSecond, double LimitTokensPerSecond, DecodeProfile? Profile)
{
    public double Fraction => TokensPerSecond / LimitTokensPerSecond;
}

/// <summary>
/// Measurements behind `picogpt bench`'s decode section: the machine's memory read bandwidth (a vectorised,
/// multi-threaded sum over at least 512 MB, in C#), decoding speed of the TorchSharp path and of <see cref="FastDecoder"/>
/// in each dtype, where a token's time goes, and resident memory over a long generation.
/// </summary>
public static unsafe class DecodeBench
{
    sealed class SumJob(float* data, long n, int chunks) : IChunkJob
    {
        public readonly double[] Partial = new double[chunks];
        public void Run(int c)
        {
            long a = n * c / chunks, b = n * (c + 1) / chunks;
            Partial[c] = Kernels.Sum(data + a, b - a);
        }
    }

    /// <summary>
    /// Read bandwidth in GB/s (1e9 bytes/s): the best of <paramref name="reps"/> passes of a vectorised sum over
    /// <paramref name="bytes"/> bytes (at least 512 MB, far past every cache) on <paramref name="threads"/> threads.
    /// </summary>
    public static double ReadBandwidth(int threads, long bytes = 512L << 20, int reps = 5)
    {
        if (bytes < 512L << 20) throw new PicoGptException($"the bandwidth probe needs at least 512 MiB, got {bytes} bytes");
        using var buffer = new NativeBuffer(bytes);
        long n = bytes / 4;
        float* p = buffer.As<float>();
        for (long i = 0; i < n; i += 1024) p[i] = 1f;                                 // touch every page
        using var pool = new WorkerPool(threads);
        var job = new SumJob(p, n, threads * 16);
        double best = double.MaxValue, check = 0;
        for (int r = 0; r < reps + 1; r++)                                             // the first pass warms up
        {
            var sw = Stopwatch.StartNew();
            pool.Run(threads * 16, job);
            double s = sw.Elapsed.TotalSeconds;
            if (r > 0) best = Math.Min(best, s);
            check = job.Partial.Sum();
        }
        if (check <= 0) throw new InvalidOperationException("bandwidth probe: the sum was lost");
        return bytes / best / 1e9;
    }

    /// <summary>
    /// Tokens/s of <paramref name="decoder"/> over decode positions [<paramref name="prompt"/>, prompt + tokens): a
    /// prompt of that many ids is fed first, then greedy tokens are timed one at a time; best of <paramref name="runs"/>.
    /// </summary>
    public static DecodeSpeed Measure(FastDecoder decoder, double readGBps, int prompt = 16, int tokens = 256, int runs = 3, bool profile = true)
    {
        if (prompt < 1 || prompt + tokens > decoder.Config.ContextLength)
            throw new PicoGptException($"bench: positions {prompt}..{prompt + tokens} do not fit the context {decoder.Config.ContextLength}");
        double best = double.MaxValue;
        DecodeProfile? split = null;
        for (int r = 0; r < runs; r++)
        {
            using var s = decoder.NewSession();
            for (int i = 0; i < prompt; i++) decoder.Step(s, (i * 7919 + 13) % decoder.Config.VocabSize, logits: false);
            int next = 42;
            decoder.Profiling = profile && r == runs - 1;
            decoder.Profile(reset: true);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < tokens; i++) next = FastDecoder.ArgMax(decoder.Step(s, next));
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
            if (decoder.Profiling) split = decoder.Profile();
            decoder.Profiling = false;
        }
        double tps = tokens / best;
        return new DecodeSpeed($"C# {decoder.DType.Name()}", decoder.BytesPerToken, tps, readGBps * 1e9 / decoder.BytesPerToken, split);
    }

    /// <summary>The same measurement for the TorchSharp path (<see cref="Gpt.Forward"/> with a <see cref="KvCache"/>, as
    /// <see cref="Sampling.Generation.Generate"/> runs it), with its split from <see cref="ProfileTorch"/>.</summary>
    public static DecodeSpeed MeasureTorch(Gpt model, double readGBps, int prompt = 16, int tokens = 256, int runs = 3)
    {
        using var _ = torch.no_grad();
        var cfg = model.Config;
        double best = double.MaxValue;
        for (int r = 0; r < runs; r++)
        {
            using var cache = new KvCache(cfg, 1, cfg.ContextLength, model.DType, model.Device);
            using (var scope = torch.NewDisposeScope())
                model.Forward(torch.tensor(Enumerable.Range(0, prompt).Select(i => (long)((i * 7919 + 13) % cfg.VocabSize)).ToArray()).view(1, -1), cache, lastOnly: true, checkIds: false);
            long next = 42;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < tokens; i++)
            {
                using var scope = torch.NewDisposeScope();
                next = model.Forward(torch.tensor(new[] { next }).view(1, 1), cache, lastOnly: true, checkIds: false).argmax(-1).item<long>();
            }
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        long bytes = model.ParameterCount * (model.DType == ScalarType.Float32 ? 4 : 2) - cfg.ContextLength * (long)cfg.NEmbd * (model.DType == ScalarType.Float32 ? 4 : 2);
        return new DecodeSpeed($"TorchSharp {model.DType}", bytes, tokens / best, readGBps * 1e9 / bytes, ProfileTorch(model, prompt + tokens / 2));
    }

    /// <summary>
    /// Where a TorchSharp decode step's time goes at position <paramref name="position"/>: the whole step, its linear
    /// layers alone (the same 4 x n_layer + 1 F.linear calls on one position), its attention alone (n_layer
    /// scaled_dot_product_attention calls over the cache's length); "other" is the rest (layer norms, GELU, adds,
    /// reshapes, the per-op overhead of ~100 small ops).
    /// </summary>
    public static DecodeProfile ProfileTorch(Gpt model, int position, int reps = 20)
    {
        using var _ = torch.no_grad();
        using var scope0 = torch.NewDisposeScope();
        var cfg = model.Config;
        int C = cfg.NEmbd;
        var sd = model.state_dict();
        using var cache = new KvCache(cfg, 1, cfg.ContextLength, model.DType, model.Device);
        model.Forward(torch.zeros(1, position, dtype: ScalarType.Int64), cache, lastOnly: true, checkIds: false);
        var one = torch.tensor(new[] { 42L }).view(1, 1);
        double Time(Action a)
        {
            a();
            var best = double.MaxValue;
            for (int r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++) a();
                best = Math.Min(best, sw.Elapsed.TotalSeconds / reps);
            }
            return best * 1000;
        }
        double total = Time(() =>
        {
            using var s = torch.NewDisposeScope();
            model.Forward(one, cache, lastOnly: true, checkIds: false).argmax(-1).item<long>();
            cache.Truncate(position);
        });
        var x1 = torch.randn(1, 1, C, dtype: model.DType);
        var x4 = torch.randn(1, 1, 4 * C, dtype: model.DType);
        var linears = new List<(Tensor W, Tensor? B, Tensor X)>();
        for (int l = 0; l < cfg.NLayer; l++)
        {
            foreach (var (k, x) in new[] { ("attn.c_attn", x1), ("attn.c_proj", x1), ("mlp.c_fc", x1), ("mlp.c_proj", x4) })
                linears.Add((sd[$"h.{l}.{k}.weight"], sd.TryGetValue($"h.{l}.{k}.bias", out var b) ? b : null, x));
        }
        linears.Add((sd["wte.weight"], null, x1));
        double lin = Time(() =>
        {
            using var s = torch.NewDisposeScope();
            foreach (var (w, b, x) in linears) F.linear(x, w, b);
        });
        var q = torch.randn(1, cfg.NHead, 1, cfg.HeadSize, dtype: model.DType);
        var kv = torch.randn(1, cfg.NHead, position + 1, cfg.HeadSize, dtype: model.DType);
        double att = Time(() =>
        {
            using var s = torch.NewDisposeScope();
            for (int l = 0; l < cfg.NLayer; l++) F.scaled_dot_product_attention(q, kv, kv, null, 0, is_casual: false);
        });
        return new DecodeProfile(lin, att, Math.Max(0, total - lin - att), total, 1);
    }

    /// <summary>Resident set size (bytes) sampled every 10 tokens while <paramref name="decoder"/> generates
    /// <paramref name="tokens"/> greedy tokens (past the context: the session restarts from half a window).</summary>
    public static List<long> ResidentOverTokens(FastDecoder decoder, int tokens)
    {
        var samples = new List<long>();
        int n = 0;
        foreach (var _ in decoder.Generate(new[] { 1 }, new Sampling.GenerateOptions { MaxNewTokens = tokens, Temperature = 0 }))
            if (++n % 10 == 0) samples.Add(Rss());
        return samples;
    }

    /// <summary>This process's resident set size in bytes.</summary>
    public static long Rss() { using var p = Process.GetCurrentProcess(); p.Refresh(); return p.WorkingSet64; }
}

/// <summary>What <see cref="DecodeBenchRun.Run"/> measures.</summary>
public sealed record DecodeBenchOptions
{
    public bool Quick { get; init; }
    /// <summary>Threads for our decoder and for libtorch (default: the machine's logical processors).</summary>
    public int? Threads { get; init; }
    /// <summary>The dtypes to decode in (default: all three).</summary>
    public IReadOnlyList<DecodeDType> DTypes { get; init; } = new[] { DecodeDType.F32, DecodeDType.F16, DecodeDType.Int8 };
    /// <summary>Also time the TorchSharp path (today's decoding) for comparison.</summary>
    public bool Torch { get; init; } = true;
    public Action<string>? Log { get; init; }
}

/// <summary>One figure of the decode bench (the CLI turns these into its table rows).</summary>
public sealed record DecodeFigure(string Section, string Name, double Value, string Unit, string? Target = null, bool? Met = null);

/// <summary>`picogpt bench`'s decode section: bandwidth, then tokens/s and the fraction of the memory limit for each dtype, in one process.</summary>
public static class DecodeBenchRun
{
    /// <summary>The fraction of the memory limit each dtype should reach (issue #19's targets).</summary>
    public static double TargetFraction(DecodeDType d) => d switch { DecodeDType.F32 => 0.8, DecodeDType.F16 => 0.7, _ => 0.5 };

    public static List<DecodeFigure> Run(DecodeBenchOptions o)
    {
        Native.TorchRuntime.Initialize();
        int threads = o.Threads ?? WorkerPool.DefaultThreads;
        torch.set_num_threads(threads);
        var figures = new List<DecodeFigure>();
        void Add(DecodeFigure f) { figures.Add(f); o.Log?.Invoke($"{f.Section} / {f.Name}: {f.Value:G4} {f.Unit}{(f.Target != null ? $" (target {f.Target}: {(f.Met == true ? "met" : "MISSED")})" : "")}"); }
        const string S = "decode gpt2 (positions 16-272, greedy)";
        int prompt = 16, tokens = o.Quick ? 64 : 256, runs = o.Quick ? 2 : 3;

        double bw = DecodeBench.ReadBandwidth(threads, reps: o.Quick ? 3 : 5);
        Add(new("limits", $"memory read bandwidth (vectorised sum over 512 MiB, {threads} threads, C#)", bw, "GB/s"));

        using var _ = torch.no_grad();
        var cfg = GptConfig.Gpt2 with { Dropout = 0 };
        using var model = new Gpt(cfg, CPU, seed: 1);
        void Report(DecodeSpeed s, DecodeDType? d)
        {
            Add(new(S, $"{s.Engine}: bytes of weights per token", s.BytesPerToken / 1e6, "MB"));
            Add(new(S, $"{s.Engine}: memory limit (bandwidth / bytes per token)", s.LimitTokensPerSecond, "tokens/s"));
            Add(new(S, $"{s.Engine}: tokens/s", s.TokensPerSecond, "tokens/s"));
            bool? met = d is DecodeDType dt ? s.Fraction >= TargetFraction(dt) : null;
            Add(new(S, $"{s.Engine}: fraction of the memory limit", s.Fraction, "x", d is DecodeDType t ? $">= {TargetFraction(t)}" : null, met));
            if (s.Profile is DecodeProfile p)
                Add(new(S, $"{s.Engine}: split of a token's {p.TotalMs:F2} ms: mat-vec {p.MatVecMs:F2} / attention {p.AttentionMs:F2} / other {p.OtherMs:F2}", p.MatVecMs / p.TotalMs, "x mat-vec"));
        }
        if (o.Torch) Report(DecodeBench.MeasureTorch(model, bw, prompt, tokens, runs), null);

        int[]? f32Ids = null;
        foreach (var d in o.DTypes)
        {
            using var fast = FastDecoder.FromModel(model, d, threads);
            Report(DecodeBench.Measure(fast, bw, prompt, tokens, runs), d);
            var ids = fast.Generate(new[] { 464, 2068 }, new Sampling.GenerateOptions { MaxNewTokens = 64, Temperature = 0 }).ToArray();
            if (d == DecodeDType.F32) f32Ids = ids;
            else if (f32Ids != null)
            {
                int part = Enumerable.Range(0, 64).FirstOrDefault(i => ids[i] != f32Ids[i], -1);
                Add(new(S, $"C# {d.Name()}: greedy ids equal to f32's over 64 tokens (-1) or first differing token", part, "index"));
            }
            if (d == DecodeDType.Int8)
            {
                double ratio = (double)fast.ResidentBytes / (model.ParameterCount * 4.0);
                Add(new("memory", "int8 decoder resident bytes / float32 parameters' bytes", ratio, "x", "<= 0.3", ratio <= 0.3));
                var samples = DecodeBench.ResidentOverTokens(fast, o.Quick ? 300 : 2000);
                if (samples.Count >= 4)
                {
                    double quarter = samples.Take(samples.Count / 4).Max(), end = samples.Skip(samples.Count * 3 / 4).Max();
                    Add(new("memory", $"int8 decoding {(o.Quick ? 300 : 2000)} tokens: RSS growth first quarter -> end", (end - quarter) / quarter * 100, "%", "< 5", (end - quarter) / quarter < 0.05));
                }
            }
        }
        return figures;
    }
}
