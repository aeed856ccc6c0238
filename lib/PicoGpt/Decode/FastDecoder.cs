using System.Diagnostics;
using PicoGpt.Model;
using PicoGpt.Sampling;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Decode;

/// <summary>Where one decoded token's time went, in milliseconds per token (see <see cref="FastDecoder.Profile"/>).</summary>
public sealed record DecodeProfile(double MatVecMs, double AttentionMs, double OtherMs, double TotalMs, int Tokens)
{
    public override string ToString() =>
        $"{TotalMs:F2} ms/token: mat-vec {MatVecMs:F2} ({MatVecMs / TotalMs:P0}), attention {AttentionMs:F2} ({AttentionMs / TotalMs:P0}), other {OtherMs:F2} ({OtherMs / TotalMs:P0}) over {Tokens} tokens";
}

/// <summary>
/// GPT-2 decoding one position at a time in C#: every weight packed once into native memory (float32, float16 or int8
/// with a scale per block of 32; under int8 the tied head may stay float16, see <see cref="Int8Quantization.HeadFormat"/>),
/// mat-vecs by <see cref="Kernels"/> split over output rows on a <see cref="WorkerPool"/>, the
/// keys/values of past positions in a <see cref="DecodeSession"/>. It computes what <see cref="Gpt.Forward"/> computes
/// for one new position (same ops, float32 accumulation), so its greedy ids equal the TorchSharp path's in float32.
/// Prompts are fed through the same single-position step (the head only runs for the last one). Steps of one decoder
/// run one at a time (a lock); sessions are independent.
/// </summary>
public sealed unsafe class FastDecoder : IDisposable
{
    sealed class Layer : IDisposable
    {
        public required NativeBuffer Ln1W, Ln2W;
        public NativeBuffer? Ln1B, Ln2B;
        public required PackedLinear Attn, AttnProj, Fc, MlpProj;
        public void Dispose()
        {
            foreach (var b in new[] { Ln1W, Ln1B, Ln2W, Ln2B }) b?.Dispose();
            foreach (var l in new[] { Attn, AttnProj, Fc, MlpProj }) l.Dispose();
        }
    }

    readonly Layer[] _layers;
    readonly PackedLinear _wte;                 // [V, C]: the token embedding and the tied head
    readonly NativeBuffer _wpe;                 // [ctx, C] float32
    readonly NativeBuffer _lnfW;
    readonly NativeBuffer? _lnfB;
    readonly WorkerPool _pool;
    readonly object _stepLock = new();
    readonly MatVecJob _matVec = new();
    readonly AttentionJob _attention = new();
    readonly NativeBuffer? _xHalf;              // [4C]: a float16 mat-vec's input times 2^112 (Kernels.ScaleForHalf)
    long _tMatVec, _tAttention, _tTotal, _profiledTokens;

    public GptConfig Config { get; }
    public DecodeDType DType { get; }

    /// <summary>The format of the tied head and token embedding: <see cref="DType"/>, except under int8 where
    /// <see cref="Int8Quantization.HeadFormat"/> may keep it in float16.</summary>
    public DecodeDType HeadDType => _wte.DType;
    public int Threads => _pool.Threads;

    /// <summary>Bytes of weights one decoded token reads: every linear layer and the head once (codes plus int8 scales).</summary>
    public long BytesPerToken { get; }

    /// <summary>Bytes this decoder holds in native memory (weights, scales, biases, norms, position table).</summary>
    public long ResidentBytes { get; }

    /// <summary>When true, <see cref="Step"/> times its parts; read them with <see cref="Profile"/>.</summary>
    public bool Profiling { get; set; }

    FastDecoder(GptConfig config, DecodeDType dtype, Layer[] layers, PackedLinear wte, NativeBuffer wpe, NativeBuffer lnfW, NativeBuffer? lnfB, int threads)
    {
        (Config, DType, _layers, _wte, _wpe, _lnfW, _lnfB) = (config, dtype, layers, wte, wpe, lnfW, lnfB);
        _pool = new WorkerPool(threads);
        if (dtype == DecodeDType.F16 || wte.DType == DecodeDType.F16) _xHalf = new NativeBuffer(4L * config.NEmbd * 4);
        BytesPerToken = _wte.WeightBytes + layers.Sum(l => l.Attn.WeightBytes + l.AttnProj.WeightBytes + l.Fc.WeightBytes + l.MlpProj.WeightBytes);
        ResidentBytes = _wte.ResidentBytes + _wpe.Bytes + _lnfW.Bytes + (_lnfB?.Bytes ?? 0) + layers.Sum(l =>
            l.Attn.ResidentBytes + l.AttnProj.ResidentBytes + l.Fc.ResidentBytes + l.MlpProj.ResidentBytes
            + l.Ln1W.Bytes + l.Ln2W.Bytes + (l.Ln1B?.Bytes ?? 0) + (l.Ln2B?.Bytes ?? 0));
    }

    /// <summary>Packs the weights of <paramref name="model"/> (any device or dtype; read once, converted to float32 on the
    /// cpu, then packed into <paramref name="dtype"/>). The model can be disposed afterwards.</summary>
    /// <param name="model">the TorchSharp model whose weights are copied</param>
    /// <param name="dtype">the number format of the packed weights</param>
    /// <param name="threads">threads for the mat-vecs, the caller included (default: <see cref="WorkerPool.DefaultThreads"/>)</param>
    public static FastDecoder FromModel(Gpt model, DecodeDType dtype, int? threads = null)
    {
        var c = model.Config;
        int C = c.NEmbd;
        var sd = model.state_dict();
        float[] Get(string k)
        {
            using var t = sd[k].detach().to(ScalarType.Float32).cpu().contiguous();
            return t.data<float>().ToArray();
        }
        float[]? Maybe(string k) => sd.ContainsKey(k) ? Get(k) : null;
        NativeBuffer Buf(float[] v) { var b = new NativeBuffer(v.Length * 4L); v.CopyTo(b.Span<float>()); return b; }
        NativeBuffer? MaybeBuf(string k) => Maybe(k) is float[] v ? Buf(v) : null;
        PackedLinear Lin(string k, int o, int i) => new(Get(k + ".weight"), Maybe(k + ".bias") ?? default, o, i, dtype);

        var layers = new Layer[c.NLayer];
        var made = new List<IDisposable>();
        try
        {
            for (int l = 0; l < c.NLayer; l++)
            {
                var p = $"h.{l}.";
                layers[l] = new Layer
                {
                    Ln1W = Buf(Get(p + "ln_1.weight")), Ln1B = MaybeBuf(p + "ln_1.bias"),
                    Ln2W = Buf(Get(p + "ln_2.weight")), Ln2B = MaybeBuf(p + "ln_2.bias"),
                    Attn = Lin(p + "attn.c_attn", 3 * C, C),
                    AttnProj = Lin(p + "attn.c_proj", C, C),
                    Fc = Lin(p + "mlp.c_fc", 4 * C, C),
                    MlpProj = Lin(p + "mlp.c_proj", C, 4 * C),
                };
                made.Add(layers[l]);
            }
            var wte = new PackedLinear(Get("wte.weight"), default, c.VocabSize, C, dtype == DecodeDType.Int8 ? Int8Quantization.HeadFormat(model) : dtype);
            made.Add(wte);
            var wpe = Buf(Get("wpe.weight"));
            made.Add(wpe);
            var lnfW = Buf(Get("ln_f.weight"));
            made.Add(lnfW);
            return new FastDecoder(c, dtype, layers, wte, wpe, lnfW, MaybeBuf("ln_f.bias"), threads ?? WorkerPool.DefaultThreads);
        }
        catch
        {
            foreach (var d in made) d.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model folder (config.json + model.safetensors) and packs it; the float32 TorchSharp copy is freed
    /// before this returns, so only the packed weights stay resident.</summary>
    public static FastDecoder Load(string dir, DecodeDType dtype, int? threads = null)
    {
        using var model = Gpt2Checkpoint.Load(dir, torch.CPU, ScalarType.Float32);
        return FromModel(model, dtype, threads);
    }

    /// <summary>A fresh session (its own keys/values, capacity: the context length).</summary>
    public DecodeSession NewSession() => new(Config);

    /// <summary>
    /// Runs one position: appends <paramref name="token"/>'s keys/values to <paramref name="session"/> and, when
    /// <paramref name="logits"/> is true, returns the next-token logits [n_vocab] (a view of the session's buffer, valid
    /// until its next step); with false, the head is skipped (prompt positions) and the span is empty.
    /// </summary>
    public ReadOnlySpan<float> Step(DecodeSession session, int token, bool logits = true)
    {
        if ((uint)token >= (uint)Config.VocabSize)
            throw new PicoGptException($"token id {token} is outside the vocabulary [0, {Config.VocabSize})");
        if (session.Config != Config) throw new PicoGptException("the session was made for another model");
        if (session.Length >= Config.ContextLength)
            throw new PicoGptException($"the session is full: {session.Length} positions, the context length is {Config.ContextLength}");
        lock (_stepLock) return StepLocked(session, token, logits);
    }

    ReadOnlySpan<float> StepLocked(DecodeSession s, int token, bool wantLogits)
    {
        int C = Config.NEmbd, pos = s.Length;
        float eps = (float)Config.LayerNormEps;
        long t0 = Profiling ? Stopwatch.GetTimestamp() : 0;
        float* x = s.X, xn = s.Xn, qkv = s.Qkv, att = s.Att, h = s.H;
        _wte.ReadRow(token, new Span<float>(x, C));
        Kernels.Axpy(1f, _wpe.As<float>() + (long)pos * C, x, C);                        // x = wte[token] + wpe[pos]  [C]
        for (int l = 0; l < _layers.Length; l++)
        {
            var L = _layers[l];
            Kernels.LayerNorm(x, L.Ln1W.As<float>(), L.Ln1B != null ? L.Ln1B.As<float>() : null, xn, C, eps);
            MatVec(L.Attn, xn, qkv, false, false);                                        // [3C] = q | k | v
            float* kc = s.K(l) + (long)pos * C, vc = s.V(l) + (long)pos * C;
            Buffer.MemoryCopy(qkv + C, kc, C * 4L, C * 4L);
            Buffer.MemoryCopy(qkv + 2 * C, vc, C * 4L, C * 4L);
            Attention(s, l, qkv, pos + 1, att);                                           // [C]
            MatVec(L.AttnProj, att, x, true, false);                                      // x += c_proj(att)
            Kernels.LayerNorm(x, L.Ln2W.As<float>(), L.Ln2B != null ? L.Ln2B.As<float>() : null, xn, C, eps);
            MatVec(L.Fc, xn, h, false, true);                                             // [4C], GELU fused
            MatVec(L.MlpProj, h, x, true, false);                                         // x += c_proj(h)
        }
        s.Length = pos + 1;
        ReadOnlySpan<float> result = default;
        if (wantLogits)
        {
            Kernels.LayerNorm(x, _lnfW.As<float>(), _lnfB != null ? _lnfB.As<float>() : null, xn, C, eps);
            MatVec(_wte, xn, s.Logits, false, false);                                     // [V]
            result = new ReadOnlySpan<float>(s.Logits, Config.VocabSize);
        }
        if (Profiling) { _tTotal += Stopwatch.GetTimestamp() - t0; _profiledTokens++; }
        return result;
    }

    void MatVec(PackedLinear w, float* x, float* y, bool accumulate, bool gelu)
    {
        long t0 = Profiling ? Stopwatch.GetTimestamp() : 0;
        var job = _matVec;
        float* xs = w.DType == DecodeDType.F16 && _xHalf != null && Kernels.UseAvx2 && Kernels.ScaleForHalf(x, _xHalf.As<float>(), w.In) ? _xHalf.As<float>() : null;
        job.Set(w, x, xs, y, accumulate, gelu, w.Chunks(_pool.Threads));
        _pool.Run(job.Count, job);
        if (Profiling) _tMatVec += Stopwatch.GetTimestamp() - t0;
    }

    void Attention(DecodeSession s, int layer, float* qkv, int length, float* y)
    {
        long t0 = Profiling ? Stopwatch.GetTimestamp() : 0;
        var job = _attention;
        job.Set(Config, s, layer, qkv, length, y);
        // heads in parallel once there is enough work; a short history is cheaper on one thread
        if ((long)length * Config.NEmbd >= 16384) _pool.Run(Config.NHead, job);
        else for (int hd = 0; hd < Config.NHead; hd++) job.Run(hd);
        if (Profiling) _tAttention += Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>The split of <see cref="Step"/>'s time since the last reset (needs <see cref="Profiling"/>).</summary>
    public DecodeProfile Profile(bool reset = true)
    {
        double f = 1000.0 / Stopwatch.Frequency / Math.Max(1, _profiledTokens);
        var p = new DecodeProfile(_tMatVec * f, _tAttention * f, (_tTotal - _tMatVec - _tAttention) * f, _tTotal * f, (int)_profiledTokens);
        if (reset) _tMatVec = _tAttention = _tTotal = _profiledTokens = 0;
        return p;
    }

    /// <summary>
    /// Yields new token ids one at a time, as <see cref="Generation.Generate"/> does (same options, same cropping of long
    /// prompts, same restart from the last half of the window when the context is full, same sampler and seed), with the
    /// forward pass of this decoder. Temperature 0 is greedy (argmax, the first of equal maxima).
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerateOptions options, Action<string>? warn = null)
    {
        var o = options.Validate(Config.VocabSize);
        int ctx = Config.ContextLength;
        if (prompt.Count == 0) throw new PicoGptException("the prompt is empty: give at least one token");
        foreach (var id in prompt)
            if (id < 0 || id >= Config.VocabSize)
                throw new PicoGptException($"prompt token id {id} is outside the vocabulary [0, {Config.VocabSize})");
        return Run();

        IEnumerable<int> Run()
        {
            var ids = prompt.ToList();
            if (ids.Count > ctx)
            {
                warn?.Invoke($"the prompt has {ids.Count} tokens, more than the context length {ctx}: keeping the last {ctx}");
                ids = ids.Skip(ids.Count - ctx).ToList();
            }
            if (o.MaxNewTokens == 0) yield break;
            using var session = NewSession();
            using var generator = o.Seed is long seed && o.Temperature > 0 ? new Generator((ulong)seed, torch.CPU) : null;
            int pending = ids.Count;
            for (int step = 0; step < o.MaxNewTokens; step++)
            {
                if (session.Length + pending > ctx) { session.Reset(); pending = ctx / 2; }
                ReadOnlySpan<float> logits = default;
                for (int i = ids.Count - pending; i < ids.Count; i++)
                    logits = Step(session, ids[i], logits: i == ids.Count - 1);
                int next = o.Temperature == 0 ? ArgMax(logits) : Sample(logits, o, generator);
                if (next == o.StopId) yield break;
                ids.Add(next);
                pending = 1;
                yield return next;
            }
        }
    }

    /// <summary>Logits [n_vocab] after feeding <paramref name="ids"/> from an empty session (the `next` command's question).</summary>
    public float[] LastLogits(IReadOnlyList<int> ids)
    {
        if (ids.Count == 0) throw new PicoGptException("ids are empty: need at least one token");
        if (ids.Count > Config.ContextLength)
            throw new PicoGptException($"{ids.Count} tokens are more than the context length {Config.ContextLength}");
        using var s = NewSession();
        ReadOnlySpan<float> l = default;
        for (int i = 0; i < ids.Count; i++) l = Step(s, ids[i], i == ids.Count - 1);
        return l.ToArray();
    }

    /// <summary>Index of the largest value (the first of equal maxima, as torch's argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    static int Sample(ReadOnlySpan<float> logits, GenerateOptions o, Generator? generator)
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(logits.ToArray()).unsqueeze(0);                             // [1, V]
        return (int)Sampler.Next(t, o.Temperature, o.TopK, o.TopP, generator).item<long>();
    }

    public void Dispose()
    {
        _pool.Dispose();
        foreach (var l in _layers) l.Dispose();
        _wte.Dispose();
        _wpe.Dispose();
        _lnfW.Dispose();
        _lnfB?.Dispose();
        _xHalf?.Dispose();
    }

    sealed class MatVecJob : IChunkJob
    {
        PackedLinear _w = null!;
        float* _x, _xs, _y;
        bool _acc, _gelu;
        public int Count;

        public void Set(PackedLinear w, float* x, float* xHalfScaled, float* y, bool accumulate, bool gelu, int chunks)
        {
            _w = w; _x = x; _xs = xHalfScaled; _y = y; _acc = accumulate; _gelu = gelu; Count = chunks;
        }

        public void Run(int chunk)
        {
            int r0 = (int)((long)_w.Out * chunk / Count), r1 = (int)((long)_w.Out * (chunk + 1) / Count);
            _w.Rows(r0, r1, _x, _y, _acc, _xs);
            if (_gelu) Kernels.GeluTanh(_y + r0, r1 - r0);
        }
    }

    /// <summary>One head per chunk: softmax(q·k / sqrt(hs)) over the positions so far, times v.</summary>
    sealed class AttentionJob : IChunkJob
    {
        DecodeSession _s = null!;
        int _layer, _length, _hs, _c;
        float* _qkv, _y;

        public void Set(GptConfig c, DecodeSession s, int layer, float* qkv, int length, float* y)
        {
            _s = s; _layer = layer; _qkv = qkv; _length = length; _y = y; _hs = c.HeadSize; _c = c.NEmbd;
        }

        public void Run(int head)
        {
            int hs = _hs, C = _c, n = _length;
            float* q = _qkv + head * hs, k = _s.K(_layer) + head * hs, v = _s.V(_layer) + head * hs;
            float* scores = _s.Scores + (long)head * _s.Config.ContextLength;
            float scale = 1f / MathF.Sqrt(hs), max = float.NegativeInfinity;
            for (int p = 0; p < n; p++)
            {
                float sc = Kernels.DotF32(q, k + (long)p * C, hs) * scale;
                scores[p] = sc;
                if (sc > max) max = sc;
            }
            float sum = 0;
            for (int p = 0; p < n; p++) { float e = MathF.Exp(scores[p] - max); scores[p] = e; sum += e; }
            float* y = _y + head * hs;
            new Span<float>(y, hs).Clear();
            float inv = 1f / sum;
            for (int p = 0; p < n; p++) Kernels.Axpy(scores[p] * inv, v + (long)p * C, y, hs);
        }
    }
}

/// <summary>
/// The state of one sequence being decoded by a <see cref="FastDecoder"/>: keys and values of every layer for the
/// positions so far ([ctx, C] float32 each, allocated once) and the step's scratch vectors. Not thread-safe.
/// </summary>
public sealed unsafe class DecodeSession : IDisposable
{
    readonly NativeBuffer _kv, _scratch;
    readonly long _layerStride;

    public GptConfig Config { get; }

    /// <summary>Positions stored.</summary>
    public int Length { get; internal set; }

    internal float* X, Xn, Qkv, Att, H, Logits, Scores;

    internal DecodeSession(GptConfig c)
    {
        Config = c;
        int C = c.NEmbd;
        _layerStride = (long)c.ContextLength * C;
        _kv = new NativeBuffer(2L * c.NLayer * _layerStride * 4);
        long floats = C + C + 3L * C + C + 4L * C + c.VocabSize + (long)c.NHead * c.ContextLength;
        _scratch = new NativeBuffer((floats + 64) * 4);
        float* p = _scratch.As<float>();
        X = p; p += C;
        Xn = p; p += C;
        Qkv = p; p += 3 * C;
        Att = p; p += C;
        H = p; p += 4 * C;
        Logits = p; p += c.VocabSize;
        Scores = p;
    }

    internal float* K(int layer) => _kv.As<float>() + 2 * layer * _layerStride;
    internal float* V(int layer) => _kv.As<float>() + (2 * layer + 1) * _layerStride;

    /// <summary>Bytes held (keys, values and scratch).</summary>
    public long Bytes => _kv.Bytes + _scratch.Bytes;

    /// <summary>Forget every position (keeps the memory).</summary>
    public void Reset() => Length = 0;

    public void Dispose()
    {
        _kv.Dispose();
        _scratch.Dispose();
    }
}
