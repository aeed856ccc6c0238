using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 13: they accept right answers and reject typical wrong ones with the right hint.</summary>
public class KvCacheCheckTests
{
    // ---- a learner's cached attention, written the way the notebook asks, with one switch per mistake

    sealed record Slip(bool NoOffset = false, bool FirstRow = false, bool NewOnly = false, bool NewFirst = false, bool KIntoV = false,
        int AppendDim = 1, bool OnlyNewK = false);

    static (Tensor, Tensor, Tensor) Attend(Tensor x, AttentionParams p, int nHead, Tensor? kPast, Tensor? vPast, Slip s)
    {
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).split(x.shape[^1], dim: -1);         // q, k, v: [B, T, C]
        var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        long past = kPast?.shape[1] ?? 0, t = x.shape[1];
        Tensor Cat(Tensor? old, Tensor now) => old is null ? now : s.NewFirst ? torch.cat([now, old], dim: s.AppendDim) : torch.cat([old, now], dim: s.AppendDim);
        var K = Cat(kPast, k);
        var V = Cat(vPast, s.KIntoV ? k : v);
        var (ka, va) = s.NewOnly ? (k, v) : (K, V);
        long n = ka.shape[1];
        var mask = s.FirstRow ? Ops.CausalMask(n, x.dtype)[..(int)t]
            : s.NoOffset ? (1 - torch.ones(t, n, dtype: x.dtype).tril()) * -1e10
            : (1 - torch.ones(t, n, dtype: x.dtype).tril(n - t)) * -1e10;
        var hs = x.shape[^1] / nHead;
        var heads = new List<Tensor>();
        for (int h = 0; h < nHead; h++)
            heads.Add(Ops.Attention(q[.., .., (int)(h * hs)..(int)((h + 1) * hs)], ka[.., .., (int)(h * hs)..(int)((h + 1) * hs)], va[.., .., (int)(h * hs)..(int)((h + 1) * hs)], mask));
        var y = Ops.Linear(torch.cat(heads, dim: -1), p.CProj.W, p.CProj.B);
        return (y, s.OnlyNewK ? k : K, V);
    }

    [Fact]
    public void CachedAttention_right_answer_passes() => Passes(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new())));

    [Fact]
    public void CachedAttention_mask_not_offset_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(NoOffset: true))), "query i of the new positions is position P + i");

    [Fact]
    public void CachedAttention_causal_mask_on_the_single_query_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(FirstRow: true))), "the new query is the LAST position");

    [Fact]
    public void CachedAttention_ignoring_the_cache_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(NewOnly: true))), "attend to the cached keys and values too");

    [Fact]
    public void CachedAttention_new_keys_first_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(NewFirst: true))), "cached positions come first");

    [Fact]
    public void CachedAttention_keys_into_the_value_cache_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(KIntoV: true))), "you appended the keys");

    [Fact]
    public void CachedAttention_appended_along_the_features_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(AppendDim: 2))), "append along the positions axis");

    [Fact]
    public void CachedAttention_appended_along_the_batch_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(AppendDim: 0))), "append along the positions axis");

    [Fact]
    public void CachedAttention_returning_only_the_new_keys_fails() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => Attend(x, p, h, k, v, new(OnlyNewK: true))), "return the whole cache");

    [Fact]
    public void CachedAttention_with_a_T_by_T_mask_gets_a_hint() =>
        // Ops.CausalMask(T) fits one new token ([1, 1], all visible) but not 3 new tokens against 7 keys
        FailsWith(Checks.CachedAttention((x, p, h, k, v) =>
        {
            var (_, K, V) = Attend(x, p, h, k, v, new());
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, kh, vh) = (qkv[0].chunk(h, dim: -1), K.chunk(h, dim: -1), V.chunk(h, dim: -1));
            var mask = Ops.CausalMask(x.shape[1], x.dtype);
            var y = torch.cat(Enumerable.Range(0, h).Select(i => Ops.Attention(q[i], kh[i], vh[i], mask)).ToArray(), dim: -1);
            return (Ops.Linear(y, p.CProj.W, p.CProj.B), K, V);
        }), "so the mask is [T, P + T]");

    [Fact]
    public void GenerateCached_cropping_to_the_full_context_is_accepted() =>
        Passes(Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c, keep: c)));

    [Fact]
    public void CachedAttention_that_forgets_the_empty_cache_gets_a_hint() =>
        FailsWith(Checks.CachedAttention((x, p, h, k, v) => { _ = k!.shape; return Attend(x, p, h, k, v, new()); }), "kPast and vPast are null");

    [Fact]
    public void CachedAttention_stub_is_not_implemented() =>
        NotImplemented(Checks.CachedAttention((x, p, h, k, v) => throw new NotImplementedException()));

    // ---- a learner's GPT-2 with the cache

    static Tensor Gpt(Tensor ids, Gpt2Params p, int nHead, Tensor?[] ks, Tensor?[] vs, bool fromZero = false, bool keep = true, Slip? slip = null)
    {
        long past = ks[0]?.shape[1] ?? 0, t = ids.shape[1];
        var start = fromZero ? 0 : past;
        var x = p.Wte[ids] + p.Wpe[torch.arange(start, start + t)];
        for (int l = 0; l < p.Blocks.Count; l++)
        {
            var b = p.Blocks[l];
            var (a, k, v) = Attend(Ops.LayerNorm(x, b.Ln1.G, b.Ln1.B), b.Attn, nHead, ks[l], vs[l], slip ?? new());
            if (keep) { ks[l] = k; vs[l] = v; }
            x = x + a;
            x = x + Ops.FeedForward(Ops.LayerNorm(x, b.Ln2.G, b.Ln2.B), b.Mlp);
        }
        return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);
    }

    [Fact]
    public void GptCached_right_answer_passes() => Passes(Checks.GptCached((ids, p, h, ks, vs) => Gpt(ids, p, h, ks, vs)));

    [Fact]
    public void GptCached_positions_from_zero_fail() =>
        FailsWith(Checks.GptCached((ids, p, h, ks, vs) => Gpt(ids, p, h, ks, vs, fromZero: true)), "offset the positions");

    [Fact]
    public void GptCached_cache_not_stored_fails() =>
        // only the first call (the prompt) stores its keys and values; later calls keep them in local variables
        FailsWith(Checks.GptCached((ids, p, h, ks, vs) => Gpt(ids, p, h, ks, vs, keep: ks[0] is null)), "store each layer's grown cache back");

    [Fact]
    public void GptCached_with_an_unshifted_mask_fails() =>
        FailsWith(Checks.GptCached((ids, p, h, ks, vs) => Gpt(ids, p, h, ks, vs, slip: new(NoOffset: true))), "query i of the new positions is position P + i");

    [Fact]
    public void GptCached_stub_is_not_implemented() =>
        NotImplemented(Checks.GptCached((ids, p, h, ks, vs) => throw new NotImplementedException()));

    // ---- a learner's generation with the cache

    static Tensor Generate(Tensor ids, Func<Tensor, Tensor?[], Tensor?[], Tensor> gpt, int nLayer, int nNew, int nCtx,
        int? keep = null, bool crop = true, bool whole = false, bool freshCacheEachStep = false)
    {
        var ks = new Tensor?[nLayer]; var vs = new Tensor?[nLayer];
        var input = ids.shape[1] > nCtx ? ids[.., ^nCtx..] : ids;
        long cached = 0;
        for (int i = 0; i < nNew; i++)
        {
            if (freshCacheEachStep) { ks = new Tensor?[nLayer]; vs = new Tensor?[nLayer]; input = ids.shape[1] > nCtx ? ids[.., ^nCtx..] : ids; cached = 0; }
            else if (crop && cached + input.shape[1] > nCtx)
            {
                ks = new Tensor?[nLayer]; vs = new Tensor?[nLayer];
                input = ids[.., ^(keep ?? nCtx / 2)..]; cached = 0;
            }
            var logits = gpt(input, ks, vs);
            cached += input.shape[1];
            var next = logits[.., -1].argmax(-1, keepdim: true);
            ids = torch.cat([ids, next], dim: 1);
            input = whole ? ids : next;
        }
        return ids;
    }

    [Fact]
    public void GenerateCached_right_answer_passes() => Passes(Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c)));

    [Fact]
    public void GenerateCached_another_refill_is_accepted()
    {
        var r = Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c, keep: c - 1));
        Assert.True(r.Passed, r.ToPlainText());
        Assert.Contains(r.Details, d => d.Contains("another correct answer"));
    }

    [Fact]
    public void GenerateCached_without_crop_fails() =>
        FailsWith(Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c, crop: false)), "start a new cache");

    [Fact]
    public void GenerateCached_feeding_the_whole_sequence_fails() =>
        FailsWith(Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c, whole: true)), "only the new token each step");

    [Fact]
    public void GenerateCached_recomputing_the_prefix_fails() =>
        FailsWith(Checks.GenerateCached((ids, gpt, l, n, c) => Generate(ids, gpt, l, n, c, freshCacheEachStep: true)), "keep ONE cache");

    [Fact]
    public void GenerateCached_stub_is_not_implemented() =>
        NotImplemented(Checks.GenerateCached((ids, gpt, l, n, c) => throw new NotImplementedException()));

    // ---- the cache's memory

    static long Bytes(ScalarType t) => t == ScalarType.Float64 ? 8 : t == ScalarType.Float16 ? 2 : 4;

    [Fact]
    public void CacheBytes_right_answer_passes() =>
        Passes(Checks.CacheBytes((b, l, c, e, t) => 2L * b * l * c * e * torch.empty(0, dtype: t).ElementSize));

    [Fact]
    public void CacheBytes_without_the_2_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 1L * b * l * c * e * Bytes(t)), "the keys AND the values");

    [Fact]
    public void CacheBytes_without_n_layer_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 2L * b * c * e * Bytes(t)), "multiply by n_layer");

    [Fact]
    public void CacheBytes_always_4_bytes_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 2L * b * l * c * e * 4), "float16 2");

    [Fact]
    public void CacheBytes_numbers_not_bytes_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 2L * b * l * c * e), "not of bytes");

    [Fact]
    public void CacheBytes_bits_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 2L * b * l * c * e * Bytes(t) * 8), "bytes, not bits");

    [Fact]
    public void CacheBytes_without_the_batch_fails() => FailsWith(Checks.CacheBytes((b, l, c, e, t) => 2L * l * c * e * Bytes(t)), "multiply by the batch size");

    [Fact]
    public void CacheBytes_stub_is_not_implemented() => NotImplemented(Checks.CacheBytes((b, l, c, e, t) => throw new NotImplementedException()));
}
