using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>
/// The checks accept the reference implementations and reject typical wrong ones with the right diagnosis.
/// The wrong implementations here are written the way a learner would write them, independently of the checks' traps.
/// </summary>
public class ChecksTests
{
    static void Passes(CheckResult r)
    {
        Assert.True(r.Passed, r.ToPlainText());
        Assert.False(r.NotImplemented);
        Assert.Null(r.Hint);
        Assert.DoesNotContain('\n', r.ToString());
    }

    static void FailsWith(CheckResult r, string hint)
    {
        Assert.False(r.Passed, "expected a failure, got: " + r);
        Assert.False(r.NotImplemented);
        Assert.NotNull(r.Hint);
        Assert.Contains(hint, r.Hint);
        Assert.Contains(hint, r.Message);
        Assert.StartsWith("case '", r.Message);
        Assert.DoesNotContain('\n', r.ToString());
    }

    // ---- embedding

    [Fact]
    public void Embedding_reference_passes() => Passes(Checks.Embedding(Ops.Embed));

    [Fact]
    public void Embedding_written_like_picogpt_passes() =>
        Passes(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1])]));

    [Fact]
    public void Embedding_published_layout_matches_gpt2_forward()
    {
        var p = Checks.Tiny(7, ScalarType.Float64);
        var ids = torch.tensor(new long[] { 5, 1, 1, 7 });
        var x = Ops.Embed(ids, p.Wte, p.Wpe);
        Assert.Equal(new long[] { 4, 8 }, x.shape);
        Assert.True((x[1] == p.Wte[1] + p.Wpe[1]).all().item<bool>());         // token 1 at position 1
        Assert.True((x[2] == p.Wte[1] + p.Wpe[2]).all().item<bool>());         // the same token at position 2
        Assert.False((x[1] == x[2]).all().item<bool>());
    }

    [Fact]
    public void Embedding_without_positions_fails() => FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids]), "add the position embeddings");

    [Fact]
    public void Embedding_positions_by_id_fails() => FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[ids]), "index wpe by position");

    [Fact]
    public void Embedding_swapped_tables_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[torch.arange(ids.shape[^1])] + wpe[ids]), "not the other way round");

    [Fact]
    public void Embedding_positions_from_one_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(1, ids.shape[^1] + 1)]), "positions start at 0");

    [Fact]
    public void Embedding_product_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] * wpe[torch.arange(ids.shape[^1])]), "do not multiply");

    [Fact]
    public void Embedding_concatenation_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => torch.cat([wte[ids], wpe[torch.arange(ids.shape[^1])]], -1)), "do not concatenate");

    [Fact]
    public void Embedding_positions_along_the_batch_axis_fail_on_the_batch_case()
    {
        var r = Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[0])]);
        Assert.True(r.Hint?.Contains("positions run along") == true, r.ToPlainText());
        FailsWith(r, "positions run along the last axis");
        Assert.Contains("batch of ids [2, 5]", r.Message);
        Assert.Contains("threw", r.Message);
    }

    [Fact]
    public void Embedding_index_select_fails_on_the_batch_case_with_a_hint() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte.index_select(0, ids) + wpe.index_select(0, torch.arange(ids.shape[^1]))), "index_select needs a 1-D index");

    // ---- linear

    [Fact]
    public void Linear_reference_passes() => Passes(Checks.Linear(Ops.Linear));

    [Fact]
    public void Linear_transposed_w_fails() =>
        FailsWith(Checks.Linear((x, w, b) => x.matmul(w.T) + b), "without transposing w");

    [Fact]
    public void Linear_missing_bias_fails() => FailsWith(Checks.Linear((x, w, b) => x.matmul(w)), "missing bias");

    [Fact]
    public void Linear_bias_before_matmul_fails() => FailsWith(Checks.Linear((x, w, b) => (x + b).matmul(w)), "add b after the matrix product");

    [Fact]
    public void Linear_w_times_x_fails_with_shape_hint()
    {
        // mm, not matmul: TorchSharp 0.107's matmul aborts the process on mismatched shapes instead of throwing
        var r = Checks.Linear((x, w, b) => w.mm(x) + b);
        FailsWith(r, "x is [..., n_in] and w is [n_in, n_out]");
        Assert.Contains("threw", r.Message);
    }

    // ---- softmax

    [Fact]
    public void Softmax_reference_passes() => Passes(Checks.Softmax(Ops.Softmax));

    [Fact]
    public void Softmax_naive_exp_fails_on_large_logits()
    {
        var r = Checks.Softmax(x => x.exp() / x.exp().sum(-1, keepdim: true));
        FailsWith(r, "subtract the max first");
        Assert.Contains("large logits", r.Message);
        Assert.Contains("NaN", r.Message);
    }

    [Fact]
    public void Softmax_wrong_axis_fails() => FailsWith(Checks.Softmax(x => x.softmax(0)), "wrong axis");

    [Fact]
    public void Softmax_global_max_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.max()).exp(); return e / e.sum(-1, keepdim: true); }), "each row's max");

    [Fact]
    public void Softmax_sum_without_keepdim_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(-1); }), "keepdim");

    [Fact]
    public void Softmax_whole_tensor_sum_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(); }), "not by the sum of the whole tensor");

    // ---- gelu

    [Fact]
    public void Gelu_reference_passes() => Passes(Checks.Gelu(Ops.Gelu));

    [Fact]
    public void Gelu_torch_builtin_tanh_passes() =>
        Passes(Checks.Gelu(x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false)));

    [Fact]
    public void Gelu_exact_erf_fails() =>
        FailsWith(Checks.Gelu(x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0)))), "this is the exact erf GELU; GPT-2 uses the tanh approximation");

    [Fact]
    public void Gelu_builtin_erf_fails() =>
        FailsWith(Checks.Gelu(x => torch.nn.functional.gelu(x)), "exact erf GELU");

    [Fact]
    public void Gelu_relu_fails() => FailsWith(Checks.Gelu(x => torch.nn.functional.relu(x)), "this is ReLU");

    [Fact]
    public void Gelu_sigmoid_approximation_fails() => FailsWith(Checks.Gelu(x => x * torch.sigmoid(1.702 * x)), "sigmoid approximation");

    [Fact]
    public void Gelu_missing_half_fails() =>
        FailsWith(Checks.Gelu(x => x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))), "factor 0.5");

    // ---- layer norm

    [Fact]
    public void LayerNorm_reference_passes() => Passes(Checks.LayerNorm((x, g, b) => Ops.LayerNorm(x, g, b)));

    [Fact]
    public void LayerNorm_with_eps_parameter_passes() => Passes(Checks.LayerNorm(Ops.LayerNorm));

    [Fact]
    public void LayerNorm_torch_builtin_passes() =>
        Passes(Checks.LayerNorm((x, g, b) => torch.nn.functional.layer_norm(x, [x.shape[^1]], g, b, 1e-5)));

    [Fact]
    public void LayerNorm_unbiased_variance_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.var(-1, keepdim: true) + 1e-5).sqrt() + b),
            "GPT-2 divides by N (biased variance)");

    [Fact]
    public void LayerNorm_std_builtin_unbiased_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) => g * (x - x.mean([-1], keepdim: true)) / (x.std(-1, keepdim: true).pow(2) + 1e-5).sqrt() + b),
            "biased variance");

    [Fact]
    public void LayerNorm_missing_eps_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            var variance = (x - mean).pow(2).mean([-1], keepdim: true);
            return g * (x - mean) / variance.sqrt() + b;
        }), "add eps = 1e-5 to the variance inside the square root");

    [Fact]
    public void LayerNorm_eps_outside_sqrt_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            var std = (x - mean).pow(2).mean([-1], keepdim: true).sqrt();
            return g * (x - mean) / (std + 1e-5) + b;
        }), "eps goes inside the square root");

    [Fact]
    public void LayerNorm_ignoring_gain_and_bias_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b) =>
        {
            var mean = x.mean([-1], keepdim: true);
            return (x - mean) / ((x - mean).pow(2).mean([-1], keepdim: true) + 1e-5).sqrt();
        }), "scale by g and shift by b");

    // ---- attention

    static Tensor Scores(Tensor q, Tensor k) => q.matmul(k.transpose(-2, -1));

    [Fact]
    public void Attention_reference_passes() => Passes(Checks.Attention(Ops.Attention));

    [Fact]
    public void Attention_without_scaling_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => (Scores(q, k) + mask).softmax(-1).matmul(v)), "no 1/sqrt(d_k) scaling");

    [Fact]
    public void Attention_ignoring_mask_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => (Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1).matmul(v)),
            "future positions are visible: apply the mask before the softmax");

    [Fact]
    public void Attention_mask_after_softmax_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1) + mask).matmul(v)),
            "future positions are visible: apply the mask before the softmax");

    [Fact]
    public void Attention_future_zeroed_after_softmax_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1) * (mask == 0)).matmul(v)),
            "apply the mask before the softmax");

    [Fact]
    public void Attention_mask_ignored_in_learner_code_is_found_by_the_probe()
    {
        // a mistake no trap describes (the mask is rebuilt wrongly, as all zeros): the behavioural probe still finds the leak
        var r = Checks.Attention((q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])) * 1.0001 + torch.zeros_like(mask)).softmax(-1).matmul(v));
        FailsWith(r, "changing the last token changed the outputs before it");
    }

    [Fact]
    public void Attention_scaled_by_dk_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => (Scores(q, k) / k.shape[^1] + mask).softmax(-1).matmul(v)), "not 1/d_k");

    [Fact]
    public void Attention_k_not_transposed_fails() =>
        FailsWith(Checks.Attention((q, k, v, mask) => (q.matmul(k) / Math.Sqrt(k.shape[^1]) + mask).softmax(-1).matmul(v)), "transpose k");

    [Fact]
    public void Attention_shape_exception_gets_a_hint()
    {
        var r = Checks.Attention((q, k, v, mask) => (q.mm(k.T) / Math.Sqrt(k.shape[^1]) + mask).softmax(-1).mm(v)); // mm: 2-D only
        FailsWith(r, "q @ kᵀ");
        Assert.Contains("batch", r.Message);
    }

    // ---- multi-head attention

    [Fact]
    public void MultiHeadAttention_reference_passes() => Passes(Checks.MultiHeadAttention(Ops.MultiHeadAttention));

    static Tensor Mha(Tensor x, AttentionParams p, int nHead, bool mask = true, bool project = true, bool headScale = true)
    {
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, -1);
        long t = x.shape[^2], c = x.shape[^1], hs = c / nHead;
        Tensor Heads(Tensor z) => z.reshape([.. x.shape[..^1], nHead, hs]).transpose(-3, -2); // [..., n_head, T, hs]
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        var s = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(headScale ? hs : c);
        if (mask) s = s + Ops.CausalMask(t, x.dtype);
        var o = s.softmax(-1).matmul(v).transpose(-3, -2).reshape(x.shape);         // [..., T, C]
        return project ? Ops.Linear(o, p.CProj.W, p.CProj.B) : o;
    }

    [Fact]
    public void MultiHeadAttention_batched_heads_passes() => Passes(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h)));

    [Fact]
    public void MultiHeadAttention_single_head_fails() => FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, 1)), "the heads are missing");

    [Fact]
    public void MultiHeadAttention_without_mask_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, mask: false)), "future positions are visible");

    [Fact]
    public void MultiHeadAttention_without_projection_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, project: false)), "c_proj");

    [Fact]
    public void MultiHeadAttention_full_width_scale_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, headScale: false)), "1/sqrt(head size)");

    // ---- feed-forward

    [Fact]
    public void FeedForward_reference_passes() => Passes(Checks.FeedForward(Ops.FeedForward));

    [Fact]
    public void FeedForward_relu_fails() =>
        FailsWith(Checks.FeedForward((x, p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B).relu(), p.CProj.W, p.CProj.B)), "ReLU");

    [Fact]
    public void FeedForward_erf_gelu_fails() =>
        FailsWith(Checks.FeedForward((x, p) => Ops.Linear(torch.nn.functional.gelu(Ops.Linear(x, p.CFc.W, p.CFc.B)), p.CProj.W, p.CProj.B)),
            "exact erf GELU");

    [Fact]
    public void FeedForward_without_activation_fails() =>
        FailsWith(Checks.FeedForward((x, p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B), p.CProj.W, p.CProj.B)), "apply GELU between the two projections");

    [Fact]
    public void FeedForward_gelu_at_the_end_fails() =>
        FailsWith(Checks.FeedForward((x, p) => Ops.Gelu(Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B), p.CProj.W, p.CProj.B))), "not after c_proj");

    // ---- transformer block

    static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);

    [Fact]
    public void TransformerBlock_reference_passes() => Passes(Checks.TransformerBlock(Ops.TransformerBlock));

    [Fact]
    public void TransformerBlock_post_norm_fails() =>
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = Ln(x + Ops.MultiHeadAttention(x, p.Attn, h), p.Ln1);
            return Ln(x + Ops.FeedForward(x, p.Mlp), p.Ln2);
        }), "GPT-2 is pre-norm");

    [Fact]
    public void TransformerBlock_without_residuals_fails() =>
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
            return Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
        }), "residual");

    [Fact]
    public void TransformerBlock_ln1_twice_fails() =>
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
            return x + Ops.FeedForward(Ln(x, p.Ln1), p.Mlp);
        }), "use ln_2");

    [Fact]
    public void TransformerBlock_unmasked_attention_fails_with_future_hint() =>
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = x + Mha(Ln(x, p.Ln1), p.Attn, h, mask: false);
            return x + Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
        }), "future positions are visible");

    // ---- gpt2

    [Fact]
    public void Gpt2_reference_passes() => Passes(Checks.Gpt2(Ops.Gpt2));

    static Tensor Gpt(Tensor ids, Gpt2Params p, int h, bool positions = true, bool lnF = true, bool positionsById = false, bool head = true)
    {
        var x = p.Wte[ids];
        if (positions) x = x + p.Wpe[positionsById ? ids : torch.arange(ids.shape[^1])];
        foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
        if (lnF) x = Ln(x, p.LnF);
        return head ? x.matmul(p.Wte.T) : x;
    }

    [Fact]
    public void Gpt2_without_positions_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, positions: false)), "add the position embeddings");

    [Fact]
    public void Gpt2_positions_by_id_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, positionsById: true)), "index wpe by position");

    [Fact]
    public void Gpt2_without_final_norm_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, lnF: false)), "ln_f");

    [Fact]
    public void Gpt2_untransposed_head_fails() =>
        FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, head: false).matmul(p.Wte)), "not x @ wte");

    [Fact]
    public void Gpt2_without_output_head_fails() =>
        FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, head: false)), "multiply by wteᵀ");

    // ---- top-k

    [Fact]
    public void TopK_reference_passes() => Passes(Checks.TopK(Sampler.TopK));

    [Fact]
    public void TopK_published_example_matches_reference()
    {
        var logits = torch.tensor(new[] { 4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f });
        var probs = Sampler.TopK(logits, 3).softmax(-1).data<float>().ToArray();
        var published = new[] { 0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0 };
        for (int i = 0; i < probs.Length; i++) Assert.Equal(published[i], probs[i], 4);
    }

    [Fact]
    public void TopK_zero_instead_of_minus_inf_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            var kth = l.topk(k).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
            return torch.where(l >= kth, l, torch.zeros_like(l));
        }), "-inf");

    [Fact]
    public void TopK_returning_probabilities_fails() =>
        FailsWith(Checks.TopK((l, k) => Sampler.TopK(l, k).softmax(-1)), "not probabilities");

    [Fact]
    public void TopK_smallest_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            var kth = l.topk(k, largest: false).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
            return l.masked_fill(l > kth, double.NegativeInfinity);
        }), "not the k smallest");

    [Fact]
    public void TopK_values_only_fails() => FailsWith(Checks.TopK((l, k) => l.topk(k).values), "not just the k kept values");

    [Fact]
    public void TopK_keeps_one_too_many_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            if (k >= l.shape[^1]) return l;
            var kth = l.topk(k + 1).values[TensorIndex.Ellipsis, TensorIndex.Slice(k, k + 1)];
            return l.masked_fill(l < kth, double.NegativeInfinity);
        }), "keep exactly k");

    // ---- stubs and exceptions

    [Fact]
    public void Stub_is_not_implemented_not_failed()
    {
        var r = Checks.Softmax(x => throw new NotImplementedException());
        Assert.True(r.NotImplemented);
        Assert.False(r.Passed);
        Assert.Equal("not implemented yet", r.Status);
        Assert.DoesNotContain(" at ", r.Message);
    }

    [Fact]
    public void Every_check_reports_stubs_as_not_implemented()
    {
        CheckResult[] results =
        [
            Checks.Embedding((ids, wte, wpe) => throw new NotImplementedException()),
            Checks.Linear((x, w, b) => throw new NotImplementedException()),
            Checks.Softmax(x => throw new NotImplementedException()),
            Checks.Gelu(x => throw new NotImplementedException()),
            Checks.LayerNorm((x, g, b) => throw new NotImplementedException()),
            Checks.Attention((q, k, v, m) => throw new NotImplementedException()),
            Checks.MultiHeadAttention((x, p, h) => throw new NotImplementedException()),
            Checks.FeedForward((x, p) => throw new NotImplementedException()),
            Checks.TransformerBlock((x, p, h) => throw new NotImplementedException()),
            Checks.Gpt2((x, p, h) => throw new NotImplementedException()),
            Checks.TopK((l, k) => throw new NotImplementedException()),
        ];
        Assert.All(results, r => Assert.True(r.NotImplemented, r.ToString()));
    }

    [Fact]
    public void Other_exceptions_fail_with_one_line()
    {
        var r = Checks.Gelu(x => throw new InvalidOperationException("boom\nsecond line"));
        Assert.False(r.Passed);
        Assert.False(r.NotImplemented);
        Assert.Contains("threw InvalidOperationException: boom", r.Message);
        Assert.DoesNotContain("second line", r.Message);
    }

    [Fact]
    public void Null_and_wrong_shape_fail()
    {
        Assert.Contains("returned null", Checks.Gelu(x => null!).Message);
        var r = Checks.Gelu(x => Ops.Gelu(x).flatten());
        Assert.False(r.Passed);
        Assert.Contains("expected shape", r.Message);
    }

    [Fact]
    public void Wrong_dtype_fails() =>
        Assert.Contains("expected dtype float64", Checks.Gelu(x => Ops.Gelu(x).to(ScalarType.Float32)).Message);

    [Fact]
    public void Failure_names_case_expected_got_and_tolerance()
    {
        var r = Checks.Gelu(x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0))));
        Assert.Contains("published gelu(1)", r.Message);
        Assert.Contains("first at [0]: expected 0.841192, got 0.841345", r.Message);
        Assert.Contains("max abs error", r.Message);
        Assert.Contains("tolerance 1e-9", r.Message);
        Assert.Contains(r.Details, d => d.StartsWith("✗"));
        Assert.Contains(r.Details, d => d.Contains("not run"));
    }
}
