using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 06: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class MultiHeadAttentionCheckTests
{
    // ---- SplitHeads

    [Fact]
    public void SplitHeads_reference_passes() => Passes(Checks.SplitHeads(CourseOps.SplitHeads));

    [Fact]
    public void SplitHeads_with_view_and_transpose_passes() =>
        Passes(Checks.SplitHeads((x, nHead) => x.view([.. x.shape[..^1], nHead, x.shape[^1] / nHead]).transpose(-3, -2)));

    [Fact]
    public void SplitHeads_with_chunk_and_stack_passes() =>
        Passes(Checks.SplitHeads((x, nHead) => torch.stack(x.chunk(nHead, dim: -1), dim: -3)));

    [Fact]
    public void SplitHeads_stub_is_not_implemented() => Assert.True(Checks.SplitHeads((x, h) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void SplitHeads_reshape_without_transpose_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(nHead, x.shape[0], x.shape[1] / nHead)), "x.reshape(n_head, n_seq, hs) cuts the numbers in memory order");

    [Fact]
    public void SplitHeads_reshape_without_transpose_on_a_batch_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.dim() == 2
                ? x.reshape(x.shape[0], nHead, x.shape[1] / nHead).transpose(0, 1)              // right without a batch
                : x.reshape(x.shape[0], nHead, x.shape[1], x.shape[2] / nHead)),               // the batch path forgets the transpose
            "x.reshape(n_head, n_seq, hs) cuts the numbers in memory order");

    [Fact]
    public void SplitHeads_without_transpose_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], nHead, x.shape[1] / nHead)), "you have [n_seq, n_head, hs]: transpose(-3, -2)");

    [Fact]
    public void SplitHeads_wrong_transpose_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], nHead, x.shape[1] / nHead).transpose(1, 2)), "not transpose(-2, -1)");

    [Fact]
    public void SplitHeads_interleaved_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], x.shape[1] / nHead, nHead).permute(2, 0, 1)), "contiguous columns");

    [Fact]
    public void SplitHeads_transpose_0_1_on_a_batch_fails() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape([.. x.shape[..^1], nHead, x.shape[^1] / nHead]).transpose(0, 1)),
            "transpose(0, 1) swaps the batch axis with n_seq");

    [Fact]
    public void SplitHeads_without_batch_axes_fails_with_a_hint() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[^2], nHead, x.shape[^1] / nHead).transpose(0, 1)), "keep the leading axes");

    [Fact]
    public void SplitHeads_stacking_the_chunks_in_front_fails_on_a_batch() =>
        // picoGPT's np.split into a list of heads, stacked with the default dim 0: right without a batch axis
        FailsWith(Checks.SplitHeads((x, nHead) => torch.stack(x.chunk(nHead, dim: -1))), "stack at dim: -3");

    [Fact]
    public void SplitHeads_with_a_four_axis_permute_gets_a_hint() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape([.. x.shape[..^1], nHead, x.shape[^1] / nHead]).permute(0, 2, 1, 3)),
            "permute needs one axis number for every axis");

    // ---- MergeHeads

    [Fact]
    public void MergeHeads_reference_passes() => Passes(Checks.MergeHeads(CourseOps.MergeHeads));

    [Fact]
    public void MergeHeads_with_cat_passes() =>
        Passes(Checks.MergeHeads(x => torch.cat(x.unbind(-3), dim: -1)));

    [Fact]
    public void MergeHeads_stub_is_not_implemented() => Assert.True(Checks.MergeHeads(x => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void MergeHeads_reshape_without_transpose_fails() =>
        FailsWith(Checks.MergeHeads(x => x.reshape(x.shape[1], x.shape[0] * x.shape[2])), "transpose(-3, -2) first");

    [Fact]
    public void MergeHeads_wrong_transpose_fails() =>
        FailsWith(Checks.MergeHeads(x => x.transpose(1, 2).reshape(x.shape[1], -1)), "not transpose(-2, -1)");

    [Fact]
    public void MergeHeads_interleaved_fails() =>
        FailsWith(Checks.MergeHeads(x => x.permute(1, 2, 0).reshape(x.shape[1], -1)), "you interleaved them");

    [Fact]
    public void MergeHeads_transpose_0_1_on_a_batch_fails() =>
        FailsWith(Checks.MergeHeads(x => x.transpose(0, 1).reshape([.. x.shape[..^3], x.shape[^2], -1])), "transpose(0, 1) swaps the batch axis with n_head");

    [Fact]
    public void MergeHeads_without_reshape_fails() =>
        FailsWith(Checks.MergeHeads(x => x.transpose(-3, -2)), "reshape it to [..., n_seq, n_head·hs]");

    [Fact]
    public void MergeHeads_view_after_transpose_gets_a_hint() =>
        // nanoGPT's .transpose(1, 2).contiguous().view(B, T, C) without the contiguous()
        FailsWith(Checks.MergeHeads(x =>
        {
            var t = x.transpose(-3, -2);
            return t.view([.. t.shape[..^2], -1]);
        }), "view cannot regroup a transposed tensor");

    [Fact]
    public void MergeHeads_losing_the_batch_axis_fails() =>
        FailsWith(Checks.MergeHeads(x => x.transpose(-3, -2).reshape(x.shape[^2], -1)), "keep the leading (batch) axes");

    [Fact]
    public void MergeHeads_flatten_without_transpose_fails() =>
        FailsWith(Checks.MergeHeads(x => x.flatten(-2)), "flatten(-2) joins the last two axes, n_seq and hs");

    [Fact]
    public void MergeHeads_unbind_0_fails_on_a_batch() =>
        FailsWith(Checks.MergeHeads(x => torch.cat(x.unbind(0), dim: -1)), "unbind(0) takes the tensor apart along its first axis");

    // ---- MultiHeadAttention

    [Fact]
    public void MultiHeadAttention_reference_passes() => Passes(Checks.MultiHeadAttention(Ops.MultiHeadAttention));

    /// <summary>The batched form, written as a learner would with reshape and transpose, with switches for the mistakes.</summary>
    internal static Tensor Mha(Tensor x, AttentionParams p, int nHead, bool mask = true, bool project = true, bool headScale = true,
        bool splitTranspose = true, bool mergeTranspose = true, Func<long, long, double>? divisor = null)
    {
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, -1);
        long t = x.shape[^2], c = x.shape[^1], hs = c / nHead;
        Tensor Heads(Tensor z) => splitTranspose
            ? z.reshape([.. x.shape[..^1], nHead, hs]).transpose(-3, -2)                // [..., n_head, T, hs]
            : z.reshape([.. x.shape[..^2], nHead, t, hs]);                               // the mistake: no transpose
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        var s = q.matmul(k.transpose(-2, -1)) / (divisor?.Invoke(c, nHead) ?? Math.Sqrt(headScale ? hs : c));
        if (mask) s = s + Ops.CausalMask(t, x.dtype);
        var o = s.softmax(-1).matmul(v);                                                  // [..., n_head, T, hs]
        o = mergeTranspose ? o.transpose(-3, -2).reshape(x.shape) : o.reshape(x.shape);   // [..., T, C]
        return project ? Ops.Linear(o, p.CProj.W, p.CProj.B) : o;
    }

    [Fact]
    public void MultiHeadAttention_batched_heads_passes() => Passes(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h)));

    [Fact]
    public void MultiHeadAttention_sqrt_of_the_head_size_written_as_a_division_passes() =>
        Passes(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, divisor: (c, nHead) => Math.Sqrt((double)c / nHead))));

    [Fact]
    public void MultiHeadAttention_root_of_n_embd_over_n_head_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, divisor: (c, nHead) => Math.Sqrt(c) / nHead)),
            "Math.Sqrt(nEmbd / nHead) (divide first, then the root), not Math.Sqrt(nEmbd) / nHead");

    [Fact]
    public void MultiHeadAttention_with_split_and_merge_passes() =>
        Passes(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, k, v) = (CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead));
            var heads = Ops.Attention(q, k, v, Ops.CausalMask(x.shape[^2], x.dtype));
            return Ops.Linear(CourseOps.MergeHeads(heads), p.CProj.W, p.CProj.B);
        }));

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

    [Fact]
    public void MultiHeadAttention_q_and_k_swapped_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var heads = Ops.Attention(CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[2], nHead), Ops.CausalMask(x.shape[^2], x.dtype));
            return Ops.Linear(CourseOps.MergeHeads(heads), p.CProj.W, p.CProj.B);
        }), "[q | k | v]");

    [Fact]
    public void MultiHeadAttention_reshape_without_transpose_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, splitTranspose: false, mergeTranspose: false)),
            "splitting the heads: x.reshape(n_head, n_seq, hs) cuts the numbers in memory order");

    [Fact]
    public void MultiHeadAttention_reshape_without_transpose_but_right_merge_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, splitTranspose: false)), "splitting the heads");

    [Fact]
    public void MultiHeadAttention_reshape_without_transpose_on_the_batch_fails()
    {
        // right for [n_seq, n_embd]; the separate batch path reshapes to [B, n_head, T, hs] without the transpose
        var r = Checks.MultiHeadAttention((x, p, h) => x.dim() == 2 ? Mha(x, p, h) : Mha(x, p, h, splitTranspose: false, mergeTranspose: false));
        FailsWith(r, "splitting the heads: x.reshape(n_head, n_seq, hs)");
        Assert.Contains("case 'batch [2, 5, 8]", r.Message);
    }

    [Fact]
    public void MultiHeadAttention_merge_without_transpose_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, mergeTranspose: false)), "merging the heads: reshaping [n_head, n_seq, hs] straight");

    [Fact]
    public void MultiHeadAttention_reshape_to_heads_last_without_transpose_gets_a_hint() =>
        // [n_seq, n_head, hs] goes into attention as if n_head were the positions: the [n_seq, n_seq] mask does not fit
        FailsWith(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            long t = x.shape[^2], hs = x.shape[^1] / nHead;
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, k, v) = (qkv[0].reshape(t, nHead, hs), qkv[1].reshape(t, nHead, hs), qkv[2].reshape(t, nHead, hs));
            var o = Ops.Attention(q, k, v, Ops.CausalMask(t, x.dtype));
            return Ops.Linear(o.reshape(t, -1), p.CProj.W, p.CProj.B);
        }), "transpose(-3, -2) to [..., n_head, n_seq, hs]");

    [Fact]
    public void MultiHeadAttention_with_transposed_weight_gets_a_hint() =>
        // In the kernel, x.matmul(p.CAttn.W.T) runs through Ops.MatMul (the matmul guard); written here the same way.
        FailsWith(Checks.MultiHeadAttention((x, p, h) =>
        {
            var qkv = Ops.MatMul(x, p.CAttn.W.T) + p.CAttn.B;                             // [n_seq, 3*n_embd]?
            return Mha(qkv, p, h);
        }), "GPT-2 stores its weights as [n_in, n_out] (Conv1D): c_attn.W is [n_embd, 3·n_embd]");

    [Fact]
    public void MultiHeadAttention_with_functional_linear_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => torch.nn.functional.linear(x, p.CAttn.W, p.CAttn.B)),
            "nn.functional.linear, which expects [n_out, n_in], does not fit");

    [Fact]
    public void MultiHeadAttention_without_mask_and_projection_names_both() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, mask: false, project: false)),
            "two mistakes at once: (1) future positions are visible: give every head the causal mask (Ops.CausalMask(n_seq)) before the softmax; (2) project the concatenated heads with c_proj");

    [Fact]
    public void MultiHeadAttention_reshape_without_transpose_and_no_mask_names_both() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Mha(x, p, h, splitTranspose: false, mergeTranspose: false, mask: false)),
            "two mistakes at once: (1) future positions are visible: give every head the causal mask (Ops.CausalMask(n_seq)) before the softmax; (2) splitting the heads");

    [Fact]
    public void MultiHeadAttention_calling_an_unwritten_SplitHeads_names_it()
    {
        Tensor SplitHeads(Tensor x, int nHead) => throw new NotImplementedException();
        Tensor MultiHeadAttention(Tensor x, AttentionParams p, int nHead)
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var heads = Ops.Attention(SplitHeads(qkv[0], nHead), SplitHeads(qkv[1], nHead), SplitHeads(qkv[2], nHead), Ops.CausalMask(x.shape[^2], x.dtype));
            return Ops.Linear(CourseOps.MergeHeads(heads), p.CProj.W, p.CProj.B);
        }
        var r = Checks.MultiHeadAttention(MultiHeadAttention);
        Assert.True(r.NotImplemented, r.ToString());
        Assert.StartsWith("your MultiHeadAttention calls SplitHeads, which still throws NotImplementedException: write SplitHeads first", r.Message);
    }

    /// <summary>Multi-head attention as a learner writes it with the library's split, merge and attention, and one line changed.</summary>
    static Tensor Written(Tensor x, AttentionParams p, int nHead, Func<Tensor, Tensor[]>? cut = null, Func<Tensor, Tensor>? mask = null,
        int[]? order = null, Func<Tensor, Tensor>? merge = null)
    {
        var qkv = (cut ?? (t => t.chunk(3, dim: -1)))(Ops.Linear(x, p.CAttn.W, p.CAttn.B));
        order ??= [0, 1, 2];
        var (q, k, v) = (CourseOps.SplitHeads(qkv[order[0]], nHead), CourseOps.SplitHeads(qkv[order[1]], nHead), CourseOps.SplitHeads(qkv[order[2]], nHead));
        var heads = Ops.Attention(q, k, v, (mask ?? (t => Ops.CausalMask(t.shape[^2], t.dtype)))(x));
        return Ops.Linear((merge ?? CourseOps.MergeHeads)(heads), p.CProj.W, p.CProj.B);
    }

    [Fact]
    public void MultiHeadAttention_written_with_the_library_passes() => Passes(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h)));

    [Fact]
    public void MultiHeadAttention_mask_sized_by_the_first_axis_gets_a_hint()
    {
        var r = Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, mask: t => Ops.CausalMask(t.shape[0], t.dtype)));
        FailsWith(r, "take n_seq from x.shape[^2] (x.shape[0] is the batch when there is one)");
        Assert.Contains("case 'batch [2, 5, 8]", r.Message);                     // right without a batch
    }

    [Fact]
    public void MultiHeadAttention_chunk_along_the_tokens_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, cut: t => t.chunk(3))), "chunk(3, dim: -1) (the default dim 0 cuts the tokens)");

    [Fact]
    public void MultiHeadAttention_k_and_v_swapped_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, order: [0, 2, 1])), "the second third is k, the last is v");

    [Fact]
    public void MultiHeadAttention_without_any_scale_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, k, v) = (CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead));
            var scores = Ops.MatMul(q, k.transpose(-2, -1)) + Ops.CausalMask(x.shape[^2], x.dtype);   // no / sqrt(hs)
            return Ops.Linear(CourseOps.MergeHeads(Ops.MatMul(scores.softmax(-1), v)), p.CProj.W, p.CProj.B);
        }), "divide each head's scores by sqrt(head size)");

    [Fact]
    public void MultiHeadAttention_heads_split_before_q_k_v_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var heads = CourseOps.SplitHeads(Ops.Linear(x, p.CAttn.W, p.CAttn.B), nHead);    // [..., n_head, n_seq, 3·hs]
            var qkv = heads.chunk(3, dim: -1);
            var o = Ops.Attention(qkv[0], qkv[1], qkv[2], Ops.CausalMask(x.shape[^2], x.dtype));
            return Ops.Linear(CourseOps.MergeHeads(o), p.CProj.W, p.CProj.B);
        }), "cut c_attn's output into q, k and v first");

    [Fact]
    public void MultiHeadAttention_with_the_residual_added_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => x + Written(x, p, h)), "the residual x + ... is added by the transformer block");

    [Fact]
    public void MultiHeadAttention_heads_joined_along_the_first_axis_gets_a_hint() =>
        // picoGPT's loop over heads, joined with cat along dim 0 instead of np.hstack's last axis
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, merge: heads => torch.cat(heads.unbind(-3), dim: 0))),
            "join them along the last axis (torch.cat(heads, dim: -1)");

    [Fact]
    public void MultiHeadAttention_returning_the_heads_fails() =>
        FailsWith(Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            return Ops.Attention(CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead),
                Ops.CausalMask(x.shape[^2], x.dtype));                                 // no merge, no c_proj
        }), "you returned the heads, [..., n_head, n_seq, hs]: join them with MergeHeads");

    [Fact]
    public void MultiHeadAttention_with_a_wrong_MergeHeads_points_at_it()
    {
        Tensor MergeHeads(Tensor x) => x.flatten(-2);                                  // failed its own check: [n_head, n_seq·hs]
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, merge: MergeHeads)), "If your SplitHeads or MergeHeads did not pass its check, fix it first");
    }

    // ---------------------------------------------------------------- learner review (notebook 06, second pass)

    [Fact]
    public void SplitHeads_unflatten_with_a_positive_dim_passes() =>
        Passes(Checks.SplitHeads((x, nHead) => x.unflatten(x.dim() - 1, [nHead, x.shape[^1] / nHead]).transpose(-3, -2)));

    [Fact]
    public void SplitHeads_unflatten_with_a_negative_dim_gets_a_hint() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.unflatten(-1, [nHead, x.shape[^1] / nHead]).transpose(-3, -2)), "unflatten does not take a negative dim");

    [Fact]
    public void MultiHeadAttention_calling_a_SplitHeads_with_unflatten_minus_one_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) =>
        {
            Tensor Split(Tensor t) => t.unflatten(-1, [h, t.shape[^1] / h]).transpose(-3, -2);
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var heads = Ops.Attention(Split(qkv[0]), Split(qkv[1]), Split(qkv[2]), Ops.CausalMask(x.shape[^2], x.dtype));
            return Ops.Linear(CourseOps.MergeHeads(heads), p.CProj.W, p.CProj.B);
        }), "in your SplitHeads");

    [Fact]
    public void SplitHeads_written_for_two_axes_only_gets_the_leading_axes_hint()
    {
        var r = Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], nHead, -1).transpose(0, 1));   // [4, 6] fine, [2, 3, 8] silently wrong
        FailsWith(r, "keep the leading axes");
        Assert.Contains("case 'batch x [2, 3, 8]", r.Message);
    }

    [Fact]
    public void SplitHeads_head_size_before_positions_gets_a_hint() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], nHead, x.shape[1] / nHead).permute(1, 2, 0)), "your heads are [..., n_head, hs, n_seq]");

    [Fact]
    public void SplitHeads_heads_of_size_n_head_gets_a_hint() =>
        FailsWith(Checks.SplitHeads((x, nHead) => x.reshape(x.shape[0], x.shape[1] / nHead, nHead).transpose(0, 1)), "heads of size n_head");

    [Fact]
    public void MergeHeads_stacked_below_each_other_gets_a_hint() =>
        FailsWith(Checks.MergeHeads(x => torch.cat(x.unbind(0), dim: 0)), "not one below the other");

    [Fact]
    public void MergeHeads_summing_the_heads_gets_a_hint() =>
        FailsWith(Checks.MergeHeads(x => x.sum(dim: 0)), "don't add them up or average them");

    [Fact]
    public void MergeHeads_x_T_gets_a_hint() =>
        FailsWith(Checks.MergeHeads(x => x.T.reshape(x.shape[1], -1)), "x.T reverses ALL the axes");

    [Fact]
    public void MergeHeads_written_for_a_batch_only_gets_a_hint() =>
        FailsWith(Checks.MergeHeads(x => x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)), "the check passes heads with and without a batch");

    /// <summary>Multi-head attention as a learner writes it, with the attention of the heads and the two projections given.</summary>
    static Tensor Heads(Tensor x, AttentionParams p, int nHead, Func<Tensor, Tensor, Tensor, Tensor> attend,
        Func<Tensor, Tensor>? qkvProj = null, Func<Tensor, Tensor>? outProj = null)
    {
        var qkv = (qkvProj ?? (t => t.matmul(p.CAttn.W) + p.CAttn.B))(x).split(x.shape[^1], dim: -1);
        var heads = attend(CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead));
        return (outProj ?? (t => t.matmul(p.CProj.W) + p.CProj.B))(CourseOps.MergeHeads(heads));
    }

    static Tensor Scaled(Tensor q, Tensor k) => q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]);
    static Tensor Future(Tensor q, long diagonal = 1) => torch.triu(torch.ones(q.shape[^2], q.shape[^2]), diagonal).to(ScalarType.Bool);

    [Fact]
    public void MultiHeadAttention_written_this_way_passes() =>
        Passes(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q), double.NegativeInfinity).softmax(-1).matmul(v))));

    [Fact]
    public void MultiHeadAttention_softmax_over_the_queries_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q), double.NegativeInfinity).softmax(-2).matmul(v))),
            "softmax over dim -2 normalises over the queries");

    [Fact]
    public void MultiHeadAttention_c_proj_through_F_linear_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q), double.NegativeInfinity).softmax(-1).matmul(v),
            outProj: t => torch.nn.functional.linear(t, p.CProj.W, p.CProj.B))), "c_proj is square, so no shape error warned you");

    [Fact]
    public void MultiHeadAttention_without_the_c_attn_bias_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q), double.NegativeInfinity).softmax(-1).matmul(v),
            qkvProj: t => t.matmul(p.CAttn.W))), "add c_attn's bias");

    [Fact]
    public void MultiHeadAttention_without_the_c_proj_bias_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q), double.NegativeInfinity).softmax(-1).matmul(v),
            outProj: t => t.matmul(p.CProj.W))), "add c_proj's bias");

    [Fact]
    public void MultiHeadAttention_mask_over_the_diagonal_too_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) => Scaled(q, k).masked_fill(Future(q, 0), double.NegativeInfinity).softmax(-1).matmul(v))),
            "your mask hides the diagonal too");

    [Fact]
    public void MultiHeadAttention_mask_over_the_past_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) =>
            (Scaled(q, k) + torch.tril(torch.ones(q.shape[^2], q.shape[^2], dtype: q.dtype), -1) * -1e10).softmax(-1).matmul(v))), "your mask hides the past and shows the future");

    [Fact]
    public void MultiHeadAttention_mask_multiplied_into_the_scores_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) =>
            (Scaled(q, k) * torch.tril(torch.ones(q.shape[^2], q.shape[^2], dtype: q.dtype))).softmax(-1).matmul(v))), "multiplying the scores by a 0/1 mask hides nothing");

    [Fact]
    public void MultiHeadAttention_mask_after_the_softmax_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) =>
            (Scaled(q, k).softmax(-1) * torch.tril(torch.ones(q.shape[^2], q.shape[^2], dtype: q.dtype))).matmul(v))), "mask before the softmax");

    [Fact]
    public void MultiHeadAttention_scale_after_the_softmax_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Heads(x, p, h, (q, k, v) =>
            q.matmul(k.transpose(-2, -1)).masked_fill(Future(q), double.NegativeInfinity).softmax(-1).matmul(v) / Math.Sqrt(q.shape[^1]))), "scale the scores before the softmax");

    [Fact]
    public void MultiHeadAttention_chunk_along_axis_2_gets_a_hint() =>
        FailsWith(Checks.MultiHeadAttention((x, p, h) => Written(x, p, h, cut: t => t.chunk(3, dim: 2))), "count axes from the end, chunk(3, dim: -1)");
}
