using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;
// tuples, so that the check engine sees the input tensors (and fails an answer that changes them in place)
using KvAttnIn = (TorchSharp.torch.Tensor X, PicoGpt.AttentionParams P, int H, TorchSharp.torch.Tensor? KPast, TorchSharp.torch.Tensor? VPast);
using KvGptIn = (PicoGpt.Gpt2Params P, int H, TorchSharp.torch.Tensor Ids, int Prefill);
using KvGenIn = (PicoGpt.Gpt2Params P, int H, TorchSharp.torch.Tensor Ids, int N, int Ctx);
using KvBytesIn = (int B, int L, int Ctx, int C, TorchSharp.torch.ScalarType Dtype);

namespace PicoGpt.Exercises;

// The checks of notebooks/13-kv-cache.ipynb: attention with a cache of keys and values, a GPT-2 forward pass that
// uses it, greedy generation on top, and the cache's memory. The cache of one layer is two tensors [B, T_past, C]
// (heads merged, as Ops keeps them); null is an empty cache.
public static partial class Checks
{
    [Flags]
    internal enum KvMistake
    {
        None = 0, MaskNotOffset = 1, MaskFirstRows = 2, NoPast = 4, NewFirst = 8, KeyIntoValues = 16, PositionsFromZero = 32, CacheNotKept = 64,
    }

    /// <summary>
    /// Attention over the cached keys and values plus the new ones: x [B, T, C] (the new positions), kPast, vPast
    /// [B, P, C] or null -> (y [B, T, C], K, V [B, P + T, C]). Query i is position P + i and sees keys 0 .. P + i.
    /// </summary>
    internal static (Tensor Y, Tensor K, Tensor V) KvAttention(Tensor x, AttentionParams p, int nHead, Tensor? kPast, Tensor? vPast, KvMistake m = KvMistake.None)
    {
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);                     // 3 x [B, T, C]
        Tensor Append(Tensor? past, Tensor now) => past is null ? now                          // [B, P + T, C]
            : m.HasFlag(KvMistake.NewFirst) ? torch.cat([now, past], dim: -2) : torch.cat([past, now], dim: -2);
        var k = Append(kPast, qkv[1]);
        var v = Append(vPast, m.HasFlag(KvMistake.KeyIntoValues) ? qkv[1] : qkv[2]);
        long t = x.shape[^2], past = kPast?.shape[^2] ?? 0;
        var (ka, va) = m.HasFlag(KvMistake.NoPast) ? (qkv[1], qkv[2]) : (k, v);               // what the queries attend to
        long n = ka.shape[^2];
        var visible = m.HasFlag(KvMistake.MaskNotOffset) ? torch.ones(t, n, dtype: x.dtype, device: x.device).tril(0)
            : m.HasFlag(KvMistake.MaskFirstRows) ? torch.ones(n, n, dtype: x.dtype, device: x.device).tril(0).narrow(0, 0, t)
            : torch.ones(t, n, dtype: x.dtype, device: x.device).tril(n - t);                // [T, P + T]: query i sees keys <= P + i
        var mask = (1 - visible) * -1e10;
        var q = qkv[0].chunk(nHead, dim: -1); var kh = ka.chunk(nHead, dim: -1); var vh = va.chunk(nHead, dim: -1);
        var y = torch.cat(Enumerable.Range(0, nHead).Select(h => Ops.Attention(q[h], kh[h], vh[h], mask)).ToArray(), dim: -1);   // [B, T, C]
        return (Ops.Linear(y, p.CProj.W, p.CProj.B), k, v);
    }

    /// <summary>GPT-2 on the new ids [B, T] with the caches of every layer (updated): logits [B, T, V]. Positions start at the cache's length.</summary>
    internal static Tensor KvGpt(Tensor ids, Gpt2Params p, int nHead, Tensor?[] ks, Tensor?[] vs, KvMistake m = KvMistake.None)
    {
        long past = ks[0]?.shape[^2] ?? 0, t = ids.shape[^1];
        var positions = torch.arange(m.HasFlag(KvMistake.PositionsFromZero) ? 0 : past, (m.HasFlag(KvMistake.PositionsFromZero) ? 0 : past) + t, device: ids.device);
        var x = p.Wte[ids] + p.Wpe[positions];                                                   // [B, T, C]
        for (int l = 0; l < p.Blocks.Count; l++)
        {
            var b = p.Blocks[l];
            var (a, k, v) = KvAttention(Ops.LayerNorm(x, b.Ln1.G, b.Ln1.B), b.Attn, nHead, ks[l], vs[l], m);
            if (!m.HasFlag(KvMistake.CacheNotKept) || ks[l] is null) { ks[l] = k; vs[l] = v; }
            x = x + a;
            x = x + Ops.FeedForward(Ops.LayerNorm(x, b.Ln2.G, b.Ln2.B), b.Mlp);
        }
        return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);                        // [B, T, V]
    }

    const string MaskHint = "query i of the new positions is position P + i (P cached positions before it): it sees keys 0 .. P + i, "
        + "so the mask is [T, P + T] with 0 where key j <= P + i: (1 - torch.ones(T, P + T).tril(P)) * -1e10; one new token (T = 1) sees every key, no mask at all";

    const string AppendHint = "append along the positions axis, dim: 1 (or -2) of [B, T, C]: K = torch.cat(new[] { kPast, k }, dim: 1), old positions first";

    // ---------------------------------------------------------------- cached attention

    /// <summary>
    /// cached_attention(x, p, nHead, kPast, vPast): the new positions x [B, T, C] attend to the cached keys and values
    /// [B, P, C] (null: none yet) and their own; returns (y [B, T, C], K and V [B, P + T, C], the caches with the new
    /// positions appended). Compared part by part (y, K, V) with <see cref="KvAttention"/>; with an empty cache y is
    /// causal multi-head attention (Ops.MultiHeadAttention).
    /// </summary>
    public static CheckResult CachedAttention(Func<Tensor, AttentionParams, int, Tensor?, Tensor?, (Tensor Y, Tensor K, Tensor V)> attention)
    {
        const string Name = "cached_attention";
        static KvAttnIn In(int seed, ScalarType dt, long b, long t, long past, long c, int h)
        {
            var p = Attn(seed, c, dt);
            if (past == 0) return (R(seed + 1, dt, b, t, c), p, h, null, null);
            return (R(seed + 1, dt, b, t, c), p, h, R(seed + 2, dt, b, past, c), R(seed + 3, dt, b, past, c));
        }
        Case<KvAttnIn> C(string part, string name, double tol, Func<KvAttnIn> inputs) => new() { Name = $"{part}, {name}", Tol = tol, Inputs = inputs };
        Case<KvAttnIn>[] Cases(string part) =>
        [
            C(part, "one new token, 5 cached, batch 2, C 8, 2 heads (float64)", F64, () => In(401, Float64, 2, 1, 5, 8, 2)),
            C(part, "3 new tokens, 4 cached, batch 2, C 8, 2 heads (float64)", F64, () => In(411, Float64, 2, 3, 4, 8, 2)),
            C(part, "an empty cache (null) and a prompt of 5, batch 2 (float64): y is causal attention", F64, () => In(421, Float64, 2, 5, 0, 8, 2)),
            C(part, "one new token, 9 cached, batch 3, C 12, 3 heads (float32)", F32, () => In(431, Float32, 3, 1, 9, 12, 3)),
        ];
        static Trap<KvAttnIn> Tr(string hint, KvMistake m, Func<(Tensor Y, Tensor K, Tensor V), Tensor> pick) =>
            new(hint, i => pick(KvAttention(i.X, i.P, i.H, i.KPast, i.VPast, m)));
        CheckResult Part(string part, Func<(Tensor Y, Tensor K, Tensor V), Tensor> pick, Trap<KvAttnIn>[] traps) => new CheckEngine<KvAttnIn>
        {
            Name = Name,
            Reference = i => pick(KvAttention(i.X, i.P, i.H, i.KPast, i.VPast)),
            ReferenceName = "the cached attention",
            Learner = i => pick(attention(i.X, i.P, i.H, i.KPast, i.VPast)),
            InputsUnchanged = true,
            Cases = Cases(part),
            Traps = traps,
            ExceptionHint = e => e is NullReferenceException || e.Message.Contains("null")
                ? "the first call has no cache yet: kPast and vPast are null, so K = kPast is null ? k : torch.cat(new[] { kPast, k }, dim: 1) (and P = 0)"
                : e.Message.Contains("must match") || e.Message.Contains("Sizes of tensors") ? "the scores q·kᵀ are [B, T, P + T] (T new queries against P + T keys), so the mask is [T, P + T]: " + MaskHint
                    + ". If your mask is that, check the append: " + AppendHint
                : ShapeError(e) ? "the scores q·kᵀ are [B, T, P + T] (T new queries against P + T keys): " + MaskHint : null,
            Diagnose = (i, e, g) =>
                i.KPast is { } kp && g.dim() == 3 && g.shape[0] == e.shape[0] && g.shape[2] == 2 * e.shape[2] ? AppendHint + ": dim: -1 puts the new keys next to the features"
                : i.KPast is { } && g.dim() == 3 && g.shape[0] == 2 * e.shape[0] ? AppendHint + ": dim: 0 adds them as new rows of the batch"
                : null,
        }.Run();
        return Parts(Name, "y, K and V match: the new positions see the cache and themselves, and the cache grows by T positions",
            () => Part("y", r => r.Y,
            [
                Tr("attend to the cached keys and values too: K = cat(kPast, k), V = cat(vPast, v), and the queries attend to all of them (yours only see the new positions)", KvMistake.NoPast, r => r.Y),
                Tr("the new query is the LAST position, not the first: " + MaskHint, KvMistake.MaskFirstRows, r => r.Y),
                Tr("the causal mask must be offset by the P cached positions: " + MaskHint, KvMistake.MaskNotOffset, r => r.Y),
                Tr("the values are the third chunk of c_attn's output (q, k, v): V = cat(vPast, v); you appended the keys to the values", KvMistake.KeyIntoValues, r => r.Y),
                Tr("the cached positions come first: cat(kPast, k), in the order of the sequence (the mask then lines up with the positions)", KvMistake.NewFirst, r => r.Y),
            ]),
            () => Part("K", r => r.K,
            [
                Tr("return the keys with the new ones appended AFTER the cached ones: K = torch.cat(new[] { kPast, k }, dim: 1)", KvMistake.NewFirst, r => r.K),
                new("the keys are the second chunk of c_attn's output (q, k, v): K = cat(kPast, k)",
                    i => i.KPast is null ? Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B).chunk(3, dim: -1)[0] : torch.cat([i.KPast, Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B).chunk(3, dim: -1)[0]], dim: -2)),
                new("return the whole cache, cached keys and new ones: K = cat(kPast, k) [B, P + T, C], not only the new keys", i => Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B).chunk(3, dim: -1)[1]),
            ]),
            () => Part("V", r => r.V,
            [
                Tr("append the new VALUES to the value cache: V = torch.cat(new[] { vPast, v }, dim: 1); you appended the keys", KvMistake.KeyIntoValues, r => r.V),
                Tr("return the values with the new ones appended AFTER the cached ones: V = torch.cat(new[] { vPast, v }, dim: 1)", KvMistake.NewFirst, r => r.V),
                new("return the whole cache, cached values and new ones: V = cat(vPast, v) [B, P + T, C], not only the new values", i => Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B).chunk(3, dim: -1)[2]),
            ]));
    }

    // ---------------------------------------------------------------- GPT-2 with the cache

    /// <summary>Runs a cached forward over a sequence: the prompt at once, then one id per step; the last position's logits of each call, [steps, B, V].</summary>
    static Tensor KvRun(Func<Tensor, Tensor?[], Tensor?[], Tensor> gpt, Tensor ids, int prefill, int layers)
    {
        var ks = new Tensor?[layers]; var vs = new Tensor?[layers];
        var outs = new List<Tensor> { gpt(ids[.., ..prefill], ks, vs)[.., -1] };             // [B, V]
        for (int t = prefill; t < ids.shape[1]; t++)
            outs.Add(gpt(ids[.., t..(t + 1)], ks, vs)[.., -1]);
        return torch.stack(outs, 0);                                                        // [steps, B, V]
    }

    /// <summary>What the no-cache model gives for the same calls: Ops.Gpt2 on the prefix so far, its last position.</summary>
    static Tensor NoCacheRun(KvGptIn i)
    {
        var outs = new List<Tensor>();
        for (int t = i.Prefill; t <= i.Ids.shape[1]; t++)
            outs.Add(Ops.Gpt2(i.Ids[.., ..t], i.P, i.H)[.., -1]);
        return torch.stack(outs, 0);
    }

    static Tensor RandomIds(int seed, int b, int t, int vocab)
    {
        var rng = new Random(seed);
        return torch.tensor(Enumerable.Range(0, b * t).Select(_ => (long)rng.Next(vocab)).ToArray(), [b, t], dtype: ScalarType.Int64);
    }

    /// <summary>
    /// gpt_cached(ids, p, nHead, ks, vs): GPT-2 on the new ids [B, T] only, with the caches of every layer (ks[l], vs[l]
    /// [B, P, C], null at first), which it extends; logits [B, T, V]. The check feeds a prompt, then 32 or more tokens one
    /// at a time, and compares the last position's logits of every call with Ops.Gpt2 run on the whole prefix (no cache).
    /// </summary>
    public static CheckResult GptCached(Func<Tensor, Gpt2Params, int, Tensor?[], Tensor?[], Tensor> gpt)
    {
        Case<KvGptIn> C(string name, double tol, Func<KvGptIn> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Trap<KvGptIn> Tr(string hint, KvMistake m) => new(hint, i => KvRun((ids, ks, vs) => KvGpt(ids, i.P, i.H, ks, vs, m), i.Ids, i.Prefill, i.P.Blocks.Count));
        return new CheckEngine<KvGptIn>
        {
            Name = "gpt_cached",
            Reference = NoCacheRun,
            ReferenceName = "Ops.Gpt2 without a cache",
            Learner = i => KvRun((ids, ks, vs) => gpt(ids, i.P, i.H, ks, vs), i.Ids, i.Prefill, i.P.Blocks.Count),
            Cases =
            [
                C("tiny GPT-2 (vocab 8, context 48, C 8, 2 layers, 2 heads), batch 2: a prompt of 6, then 34 steps of one token (float64)", F64,
                    () => (Tiny(451, Float64, ctx: 48), 2, RandomIds(452, 2, 40, 8), 6)),
                C("the same model in float32, batch 3: a prompt of 4, then 32 steps (logits within 1e-5)", F32,
                    () => (Tiny(453, Float32, ctx: 48), 2, RandomIds(454, 3, 36, 8), 4)),
                C("a prompt of one token, then 12 steps, batch 1 (float64)", F64, () => (Tiny(455, Float64, ctx: 16), 2, RandomIds(456, 1, 13, 8), 1)),
            ],
            Traps =
            [
                Tr("offset the positions: the new tokens are at positions P, P + 1, ... (P = the cache's length, ks[0]?.shape[1] ?? 0), so add wpe[P ..], not wpe[0 ..]", KvMistake.PositionsFromZero),
                Tr("store each layer's grown cache back: ks[l] = K, vs[l] = V (the arrays are the caller's cache; a local variable is lost)", KvMistake.CacheNotKept),
                Tr("the causal mask must be offset by the P cached positions: " + MaskHint, KvMistake.MaskNotOffset),
                Tr("attend to the cached keys and values too (your CachedAttention only looks at the new positions)", KvMistake.NoPast),
                Tr("the new query is the LAST position, not the first: " + MaskHint, KvMistake.MaskFirstRows),
                Tr("append the new VALUES to the value cache, not the keys", KvMistake.KeyIntoValues),
                Tr("the cached positions come first: cat(kPast, k)", KvMistake.NewFirst),
            ],
            ExceptionHint = e => e.Message.Contains("out of bounds") || e.Message.Contains("out of range")
                ? "an index ran past a table: token ids index wte [n_vocab, C], positions P .. P + T - 1 index wpe [n_ctx, C] (torch.arange(P, P + T))" : null,
            Diagnose = (i, e, g) => g.shape.SequenceEqual(e.shape) && CheckEngine.Matches(g[0], e[0], 1e-5) && !CheckEngine.Matches(g, e, 1e-5)
                ? "the prompt's logits are right, the steps after it are not: each step must put its token at position P (wpe[P]), see every cached key and value, and store the grown caches in ks[l], vs[l]"
                : null,
        }.Run();
    }

    // ---------------------------------------------------------------- greedy generation with the cache

    /// <summary>
    /// Greedy decoding with a cache: the prompt (its last nCtx ids) at once, then one new id per step; when the cache is
    /// full, start a new cache from the last <paramref name="keep"/> ids (the library keeps nCtx / 2).
    /// </summary>
    internal static Tensor KvGreedy(Tensor ids, Func<Tensor, Tensor?[], Tensor?[], Tensor> gpt, int layers, int nNew, int nCtx, int keep,
        bool noCrop = false, bool wholeSequence = false)
    {
        var ks = new Tensor?[layers]; var vs = new Tensor?[layers];
        long cached = 0;
        var pending = ids.shape[1] > nCtx ? ids[.., ^nCtx..] : ids;
        for (int step = 0; step < nNew; step++)
        {
            if (!noCrop && cached + pending.shape[1] > nCtx)
            {
                ks = new Tensor?[layers]; vs = new Tensor?[layers]; cached = 0;
                pending = ids[.., ^Math.Min(keep, (int)ids.shape[1])..];
            }
            var logits = gpt(pending, ks, vs);                                      // [B, T, V]
            cached += pending.shape[1];
            var next = logits[.., -1].argmax(-1, keepdim: true);                    // [B, 1]
            ids = torch.cat([ids, next], dim: 1);
            pending = wholeSequence ? ids : next;
        }
        return ids;
    }

    /// <summary>The model the check hands the learner's generation: the cached GPT-2, refusing what a real cache refuses, and counting positions.</summary>
    sealed class CountingKvModel(Gpt2Params p, int nHead, int nCtx)
    {
        public long Positions;
        public Tensor Forward(Tensor ids, Tensor?[] ks, Tensor?[] vs)
        {
            if (ids.dim() != 2) throw new PicoGptException($"the model takes ids [B, T], got shape [{string.Join(", ", ids.shape)}]");
            long past = ks[0]?.shape[^2] ?? 0, t = ids.shape[1];
            if (past > 0 && t > 1)
                throw new PicoGptException($"the model was given {t} ids on top of {past} cached positions: after the prompt, each step gives it only the new token");
            if (past + t > nCtx)
                throw new PicoGptException($"the cache is full: {past} cached positions + {t} new ones are more than the context length {nCtx}");
            Positions += t;
            return KvGpt(ids, p, nHead, ks, vs);
        }
    }

    /// <summary>
    /// generate_cached(ids, gpt, nLayer, nNew, nCtx): greedy decoding, [B, n_seq] -> [B, n_seq + nNew], where gpt(ids, ks,
    /// vs) is GPT-2 with a cache (<see cref="GptCached"/>'s contract): the prompt once, then only the new token each step;
    /// when the cache is full (nCtx positions), start a new cache from the last nCtx / 2 ids (any other refill is accepted
    /// too). Within the context the ids equal greedy decoding without a cache. Then the cache must do the work: the model
    /// may see each position once (plus the refills).
    /// </summary>
    public static CheckResult GenerateCached(Func<Tensor, Func<Tensor, Tensor?[], Tensor?[], Tensor>, int, int, int, Tensor> generate)
    {
        const string Name = "generate_cached";
        Case<KvGenIn> C(string name, Func<KvGenIn> inputs) => new() { Name = name, Tol = 0, Inputs = inputs };
        Tensor Learner(KvGenIn i) => generate(i.Ids, new CountingKvModel(i.P, i.H, i.Ctx).Forward, i.P.Blocks.Count, i.N, i.Ctx);
        static Tensor Ref(KvGenIn i, int keep, bool noCrop = false, bool whole = false) =>
            KvGreedy(i.Ids, (ids, ks, vs) => KvGpt(ids, i.P, i.H, ks, vs), i.P.Blocks.Count, i.N, i.Ctx, keep, noCrop, whole);
        return Parts(Name, "the ids match greedy decoding (without a cache while the sequence fits the context), and the model saw each position once",
            () => new CheckEngine<KvGenIn>
            {
                Name = Name,
                Reference = i => Ref(i, i.Ctx / 2),
                ReferenceName = "greedy decoding with a cache",
                Learner = Learner,
                Cases =
                [
                    C("tiny GPT-2 (context 48), batch 2: prompt of 5, 32 new tokens: the same ids as greedy decoding without a cache", () => (Tiny(461, Float64, ctx: 48), 2, RandomIds(462, 2, 5, 8), 32, 48)),
                    C("context 16: prompt of 6, 20 new tokens (the cache fills up: start again from the last 8 ids)", () => (Tiny(463, Float64, ctx: 16), 2, RandomIds(464, 1, 6, 8), 20, 16)),
                    C("a prompt of 20 ids, longer than the context 16: keep its last 16; 5 new tokens, batch 2", () => (Tiny(465, Float64, ctx: 16), 2, RandomIds(466, 2, 20, 8), 5, 16)),
                    C("0 new tokens: the prompt comes back unchanged", () => (Tiny(467, Float64, ctx: 16), 2, RandomIds(468, 1, 4, 8), 0, 16)),
                ],
                Traps =
                [
                    new("take the last position's logits, logits[.., -1], and their argmax over the vocabulary (argmax(-1, keepdim: true))",
                        i => KvGreedy(i.Ids, (ids, ks, vs) => KvGpt(ids, i.P, i.H, ks, vs)[.., ..1], i.P.Blocks.Count, i.N, i.Ctx, i.Ctx / 2)),
                    new("return the prompt followed by the new tokens ([B, n_seq + nNew])", i => Ref(i, i.Ctx / 2) is var r ? r[.., (int)i.Ids.shape[1]..] : r),
                ],
                Accept = (i, e, g) =>
                {
                    if (!g.shape.SequenceEqual(e.shape)) return null;
                    for (int keep = 1; keep <= i.Ctx; keep++)
                        if (keep != i.Ctx / 2 && CheckEngine.Matches(g, Ref(i, keep), 0))
                            return $"you refill the cache from the last {keep} ids when it is full (the library keeps nCtx / 2 = {i.Ctx / 2}): another correct answer";
                    return null;
                },
                ExceptionHint = e =>
                    e.Message.Contains("on top of") ? "give the model only the new token each step ([B, 1], the argmax you just appended): the cache already holds every earlier position, "
                        + "and feeding the sequence again would store it twice"
                    : e.Message.Contains("the cache is full") ? "crop: before a step, if the cached positions + the new ones exceed nCtx, start a new cache (new Tensor[nLayer] for ks and vs) "
                        + "from the last nCtx / 2 ids; and crop a prompt longer than nCtx to its last nCtx ids"
                    : e.Message.Contains("the model takes ids") ? "pass the model ids shaped [B, T] (keep the batch axis: next is [B, 1])"
                    : null,
            }.Run(),
            Property(Name, "prompt of 5, 20 new tokens, context 48: how many positions the model ran", "the model ran 5 + 19 = 24 positions: the prompt once, then one per step", () =>
            {
                var model = new CountingKvModel(Tiny(471, Float64, ctx: 48), 2, 48);
                generate(RandomIds(472, 1, 5, 8), model.Forward, 2, 20, 48);
                return model.Positions > 24
                    ? ($"the model ran {model.Positions} positions; with the cache it needs 24 (the prompt's 5, then 1 per step for the 19 tokens after the first)",
                       "keep ONE cache for the whole generation (create ks and vs once, before the loop) and give the model only the new token each step: "
                       + "a new cache every step recomputes the whole prefix, which is what the cache exists to avoid")
                    : null;
            }));
    }

    // ---------------------------------------------------------------- the cache's memory

    /// <summary>The bytes of a full cache, measured: 2 tensors (K, V) [B, n_ctx, C] per layer, each element_size × numel.</summary>
    static long MeasuredCacheBytes(KvBytesIn i)
    {
        using var scope = torch.NewDisposeScope();
        long bytes = 0;
        for (int l = 0; l < 2 * i.L; l++)
        {
            var t = torch.empty(new long[] { i.B, i.Ctx, i.C }, dtype: i.Dtype);
            bytes += t.ElementSize * t.NumberOfElements;
        }
        return bytes;
    }

    /// <summary>
    /// cache_bytes(batch, nLayer, nCtx, nEmbd, dtype): the bytes of a full cache, 2 · batch · n_layer · n_ctx · n_embd ·
    /// bytes per number, against the bytes of real cache tensors (element_size × numel, summed).
    /// </summary>
    public static CheckResult CacheBytes(Func<int, int, int, int, ScalarType, long> bytes)
    {
        Case<KvBytesIn> C(string name, Func<KvBytesIn> inputs) => new() { Name = name, Tol = 0, Inputs = inputs };
        static Tensor L(long v) => torch.tensor(v);
        static long Per(ScalarType t) => torch.empty(0, dtype: t).ElementSize;
        static long N(KvBytesIn i) => (long)i.B * i.L * i.Ctx * i.C;
        return new CheckEngine<KvBytesIn>
        {
            Name = "cache_bytes",
            Reference = i => L(MeasuredCacheBytes(i)),
            ReferenceName = "the bytes of the cache's tensors",
            Learner = i => L(bytes(i.B, i.L, i.Ctx, i.C, i.Dtype)),
            Cases =
            [
                C("a batch of 3 sequences, 5 layers, n_ctx 16, n_embd 8, float32", () => (3, 5, 16, 8, Float32)),
                C("the shipped model: 1 sequence, 4 layers, n_ctx 128, n_embd 192, float32 → 786,432 bytes", () => (1, 4, 128, 192, Float32)),
                C("GPT-2 124M: 1 sequence, 12 layers, n_ctx 1024, n_embd 768, float32", () => (1, 12, 1024, 768, Float32)),
                C("GPT-2 medium in float16: 1 sequence, 24 layers, n_ctx 1024, n_embd 1024", () => (1, 24, 1024, 1024, Float16)),
                C("a batch of 8 sequences, 2 layers, n_ctx 16, n_embd 8, float64", () => (8, 2, 16, 8, Float64)),
            ],
            Traps =
            [
                new("count the keys AND the values: 2 tensors per layer, so 2 · n_layer · n_ctx · n_embd numbers", i => L(N(i) * Per(i.Dtype))),
                new("every layer has its own keys and values: multiply by n_layer", i => L(N(i) / i.L * 2 * Per(i.Dtype))),
                new("count the keys and values of every layer: 2 · n_layer (you left out both)", i => L(N(i) / i.L * Per(i.Dtype))),
                new("the bytes per number depend on the dtype: float32 is 4, float16 2, float64 8 (torch.empty(0, dtype: dtype).ElementSize gives it)", i => L(2 * N(i) * 4)),
                new("the bytes per number depend on the dtype: float32 is 4, float16 2, float64 8 (torch.empty(0, dtype: dtype).ElementSize gives it)", i => L(2 * N(i) * 8)),
                new("multiply the count of numbers by the bytes per number (float32: 4): 2 · n_layer · n_ctx · n_embd is a count of numbers, not of bytes", i => L(2 * N(i))),
                new("bytes, not bits: a float32 number is 4 bytes (32 bits)", i => L(2 * N(i) * Per(i.Dtype) * 8)),
                new("each sequence of the batch has its own cache: multiply by the batch size", i => L(2 * N(i) / i.B * Per(i.Dtype))),
            ],
        }.Run();
    }
}
