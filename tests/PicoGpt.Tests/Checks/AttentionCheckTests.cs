using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 05: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class AttentionCheckTests
{
    // ---- CausalMask

    static Tensor Ones(long n, ScalarType dt) => torch.ones(n, n, dtype: dt);

    /// <summary>Right answers to CausalMask: each must pass.</summary>
    public static TheoryData<string, Func<long, ScalarType, Tensor>> CausalMaskRightAnswers => new()
    {
        { "CausalMask_reference_passes", (n, dt) => Ops.CausalMask(n, dt) },
        { "CausalMask_with_triu_and_full_passes", (n, dt) => torch.triu(torch.full(n, n, -1e10, dtype: dt), diagonal: 1) },
    };

    [Theory, MemberData(nameof(CausalMaskRightAnswers))]
    public void CausalMask_right_answer_passes(string answer, Func<long, ScalarType, Tensor> right) => Passes(Checks.CausalMask(right), answer);

    [Fact]
    public void CausalMask_stub_is_not_implemented() =>
        Assert.True(Checks.CausalMask((n, dt) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void CausalMask_with_minus_infinity_is_accepted()
    {
        var r = Checks.CausalMask((n, dt) => torch.zeros(n, n, dtype: dt).masked_fill(Ones(n, dt).triu(1) == 1, double.NegativeInfinity));
        Passes(r);
        Assert.Contains("another correct answer", r.Message);
        Assert.Contains(r.Details, d => d.Contains("-inf") && d.Contains("-1e10 also stays finite when a whole row is masked"));
    }

    /// <summary>Wrong answers to CausalMask, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<long, ScalarType, Tensor>, string> CausalMaskMistakes => new()
    {
        { "CausalMask_below_the_diagonal_fails", (n, dt) => (1 - torch.triu(Ones(n, dt))) * -1e10, "you masked the past (below the diagonal)" },
        { "CausalMask_with_the_diagonal_masked_fails", (n, dt) => torch.triu(Ones(n, dt) * -1e10), "the diagonal is masked too" },
        { "CausalMask_tril_instead_of_triu_fails", (n, dt) => torch.tril(Ones(n, dt)) * -1e10, "tril and triu are swapped" },
        { "CausalMask_multiplicative_fails", (n, dt) => torch.tril(Ones(n, dt)), "0/1 (true/false) keep-mask" },
        { "CausalMask_positive_fails", (n, dt) => torch.triu(Ones(n, dt), 1) * 1e10, "large and NEGATIVE" },
        { "CausalMask_times_minus_infinity_gives_nan_and_fails", (n, dt) => (1 - torch.tril(Ones(n, dt))) * double.NegativeInfinity, "0 × -inf is NaN" },
        { "CausalMask_ignoring_the_dtype_fails", (n, dt) => (1 - torch.tril(torch.ones(n, n))) * -1e10, "create the mask in the dtype asked for (float64)" },
        { "CausalMask_too_weak_fails", (n, dt) => torch.triu(Ones(n, dt), 1) * -100, "too weak" },
        { "CausalMask_wrong_shape_fails", (n, dt) => torch.triu(torch.ones(1, n, n, dtype: dt), 1) * -1e10, "the mask is [n_seq, n_seq] = [4, 4]" },
        { "CausalMask_tril_filled_but_not_zeroed_fails", (n, dt) => { var visible = torch.ones(n, n, dtype: dt).tril(); return visible.masked_fill(visible == 0, -1e10); }, "the visible entries must be 0, but yours are 1" },
        { "CausalMask_bert_minus_ten_thousand_gets_an_accurate_hint", (n, dt) => torch.triu(torch.ones(n, n, dtype: dt), 1) * -10000, "BERT's value" },
        { "CausalMask_diagonal_offset_minus_one_names_the_entry", (n, dt) => torch.triu(torch.ones(n, n, dtype: dt), -1) * -1e10, "entry [0, 0] (j ≤ i, the position itself) is masked" },
    };

    [Theory, MemberData(nameof(CausalMaskMistakes))]
    public void CausalMask_mistake_fails_with_its_hint(string mistake, Func<long, ScalarType, Tensor> wrong, string hint) => FailsWith(Checks.CausalMask(wrong), hint, mistake);

    [Fact]
    public void CausalMask_boolean_fails_with_the_keep_mask_hint()
    {
        var r = Checks.CausalMask((n, dt) => torch.ones(n, n, dtype: ScalarType.Bool).tril());
        FailsWith(r, "attention's mask is added to the scores");
        Assert.Contains("expected dtype float64", r.Message);
    }

    // ---- Attention

    static Tensor Scores(Tensor q, Tensor k) => q.matmul(k.transpose(-2, -1));

    /// <summary>Right answers to Attention: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor, Tensor>> AttentionRightAnswers => new()
    {
        { "Attention_reference_passes", Ops.Attention },
        { "Attention_builtin_with_the_mask_passes", (q, k, v, mask) => torch.nn.functional.scaled_dot_product_attention(q, k, v, mask) },
        { "Attention_masked_fill_of_the_future_passes", (q, k, v, mask) =>
                Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).masked_fill(mask < 0, double.NegativeInfinity).softmax(-1), v) },
    };

    [Theory, MemberData(nameof(AttentionRightAnswers))]
    public void Attention_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor, Tensor, Tensor> right) => Passes(Checks.Attention(right), answer);

    /// <summary>Wrong answers to Attention, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor, Tensor>, string> AttentionMistakes => new()
    {
        { "Attention_without_scaling_fails", (q, k, v, mask) => (Scores(q, k) + mask).softmax(-1).matmul(v), "no 1/sqrt(d_k) scaling" },
        { "Attention_ignoring_mask_fails", (q, k, v, mask) => (Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1).matmul(v), "future positions are visible: apply the mask before the softmax" },
        { "Attention_mask_after_softmax_fails", (q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1) + mask).matmul(v), "future positions are visible: apply the mask before the softmax" },
        { "Attention_future_zeroed_after_softmax_fails", (q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])).softmax(-1) * (mask == 0)).matmul(v), "apply the mask before the softmax" },
        { "Attention_mask_multiplied_fails", (q, k, v, mask) => (Scores(q, k) / Math.Sqrt(q.shape[^1]) * mask).softmax(-1).matmul(v), "the mask is additive" },
        { "Attention_softmax_over_queries_fails", (q, k, v, mask) => (Scores(q, k) / Math.Sqrt(q.shape[^1]) + mask).softmax(0).matmul(v), "softmax over the keys" },
        { "Attention_scaled_by_dk_fails", (q, k, v, mask) => (Scores(q, k) / k.shape[^1] + mask).softmax(-1).matmul(v), "not 1/d_k" },
        { "Attention_k_not_transposed_fails", (q, k, v, mask) => (q.matmul(k) / Math.Sqrt(k.shape[^1]) + mask).softmax(-1).matmul(v), "transpose k" },
        { "Attention_without_scaling_and_without_mask_names_both", (q, k, v, mask) => Scores(q, k).softmax(-1).matmul(v), "two mistakes at once: (1) no 1/sqrt(d_k) scaling: divide q·kᵀ by √d_k (d_k = q.shape[^1]) before the softmax " +
            "(in C# Math.Pow(d_k, 1 / 2) is Math.Pow(d_k, 0) = 1, since 1 / 2 is integer division: use Math.Sqrt); (2) future positions are visible" },
        { "Attention_dk_scale_and_mask_after_softmax_names_both", (q, k, v, mask) => ((Scores(q, k) / q.shape[^1]).softmax(-1) + mask).matmul(v), "two mistakes at once: (1) scale by 1/sqrt(d_k), not 1/d_k; (2) future positions are visible" },
        { "Attention_softmax_axis_and_no_scaling_names_both", (q, k, v, mask) => (Scores(q, k) + mask).softmax(-2).matmul(v), "(1) no 1/sqrt(d_k) scaling: divide q·kᵀ by √d_k (d_k = q.shape[^1]) before the softmax " +
            "(in C# Math.Pow(d_k, 1 / 2) is Math.Pow(d_k, 0) = 1, since 1 / 2 is integer division: use Math.Sqrt); (2) softmax over the keys" },
        { "Attention_softmax_axis_and_mask_zeroed_after_names_both", (q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(q.shape[^1])).softmax(-2) * (mask == 0)).matmul(v), "(1) apply the mask before the softmax: zeroing the future weights afterwards leaves rows that no longer sum to 1; (2) softmax over the keys" },
        { "Attention_scaled_by_q_shape_0_fails", (q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[0]) + mask), v), "d_k is the LAST axis of q" },
        { "Attention_scaled_by_the_width_of_v_fails", (q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(v.shape[^1]) + mask), v), "not by the width of v" },
        { "Attention_v_times_weights_fails", (q, k, v, mask) => Ops.MatMul(v, Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask)), "you multiplied v @ weights" },
        { "Attention_k_times_q_transposed_fails", (q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(k, q.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask), v), "not k @ qᵀ" },
        { "Attention_scaled_after_the_softmax_fails", (q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1)) + mask) / Math.Sqrt(q.shape[^1]), v), "divide the scores q·kᵀ by √d_k BEFORE the softmax" },
        { "Attention_scaled_after_the_softmax_without_mask_names_both", (q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1))) / Math.Sqrt(q.shape[^1]), v), "two mistakes at once: (1) divide the scores q·kᵀ by √d_k BEFORE the softmax" },
        { "Attention_builtin_is_causal_ignoring_the_mask_fails", (q, k, v, mask) => torch.nn.functional.scaled_dot_product_attention(q, k, v, null, 0, true), "ignores its mask argument" },
        { "Attention_masked_fill_where_the_mask_is_zero_fails", (q, k, v, mask) =>
                Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).masked_fill(mask == 0, -1e10).softmax(-1), v), "fills the VISIBLE positions" },
        { "Attention_masked_fill_with_the_float_mask_gets_a_hint", (q, k, v, mask) =>
                Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).masked_fill(mask, -1e10).softmax(-1), v), "masked_fill needs a boolean mask" },
        { "Attention_integer_one_over_dk_fails", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) * (1 / q.shape[^1]) + mask).softmax(-1), v), "1 / d_k with integers is 0" },
        { "Attention_pow_of_integer_half_gets_the_integer_division_note", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Pow(q.shape[^1], 1 / 2) + mask).softmax(-1), v), "Math.Pow(d_k, 1 / 2) is Math.Pow(d_k, 0) = 1" },
        { "Attention_multiplied_by_root_dk_fails", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) * Math.Sqrt(q.shape[^1]) + mask).softmax(-1), v), "do not multiply" },
        { "Attention_mask_subtracted_fails", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) - mask).softmax(-1), v), "subtracting it adds +1e10" },
        { "Attention_returning_the_weights_fails", (q, k, v, mask) => (Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask).softmax(-1), "you returned the attention weights" },
        { "Attention_scaling_q_in_place_fails", (q, k, v, mask) => { q.div_(Math.Sqrt(q.shape[^1])); return Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) + mask).softmax(-1), v); }, "ops ending in _" },
        { "Attention_with_its_own_causal_mask_gets_the_mask_shape_hint", (q, k, v, mask) =>
            {
                var own = (1 - torch.tril(torch.ones(q.shape[^2], q.shape[^2], dtype: q.dtype))) * -1e10;      // [n_q, n_q], ignoring the mask given
                return Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + own).softmax(-1), v);
            }, "the mask you are given is [n_q, n_k] already" },
        { "Attention_scaled_by_a_float32_root_gets_the_float32_hint", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / torch.sqrt(torch.tensor(q.shape[^1])) + mask).softmax(-1), v), "a float32 value has probably crept in" },
        { "Attention_bmm_on_2d_inputs_gets_a_hint", (q, k, v, mask) => torch.bmm((torch.bmm(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask).softmax(-1), v), "torch.bmm works on 3-D batches" },
        { "Attention_mask_unsqueezed_gets_the_extra_axis_hint", (q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask.unsqueeze(0)).softmax(-1), v), "has 1 axis of length 1 too many (and its values are right)" },
    };

    [Theory, MemberData(nameof(AttentionMistakes))]
    public void Attention_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.Attention(wrong), hint, mistake);

    [Fact]
    public void Attention_mask_ignored_in_learner_code_is_found_by_the_probe()
    {
        // a mistake no trap describes (the mask is rebuilt wrongly, as all zeros): the behavioural probe still finds the leak
        var r = Checks.Attention((q, k, v, mask) => ((Scores(q, k) / Math.Sqrt(k.shape[^1])) * 1.0001 + torch.zeros_like(mask)).softmax(-1).matmul(v));
        FailsWith(r, "changing the last token changed the outputs before it");
    }

    [Fact]
    public void Attention_shape_exception_gets_a_hint()
    {
        var r = Checks.Attention((q, k, v, mask) => (q.mm(k.T) / Math.Sqrt(k.shape[^1]) + mask).softmax(-1).mm(v)); // mm: 2-D only
        FailsWith(r, "q @ kᵀ");
        Assert.Contains("batch", r.Message);
    }

    [Fact]
    public void Attention_with_k_T_on_a_batch_gets_the_transpose_hint()
    {
        // In the notebook kernel, q.matmul(k.T) runs through Ops.MatMul (the matmul guard); written here the same way.
        var r = Checks.Attention((q, k, v, mask) => Ops.MatMul((Ops.MatMul(q, k.T) / Math.Sqrt(k.shape[^1]) + mask).softmax(-1), v));
        FailsWith(r, "the scores are q @ kᵀ with kᵀ = k.transpose(-2, -1), which swaps only the last two axes; k.T reverses ALL the axes of a batched k (here [2, 4, 8] became [8, 4, 2])");
        Assert.Contains("batch q, k, v [2, 4, 8]", r.Message);
    }

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void Attention_scaled_by_q_shape_1_fails_on_the_batch()
    {
        // q.shape[1] is d_k for [n_seq, d_k], but n_seq for a batch [B, n_seq, d_k]
        var r = Checks.Attention((q, k, v, mask) => Ops.MatMul(Ops.Softmax(Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[1]) + mask), v));
        FailsWith(r, "d_k is the LAST axis of q");
        Assert.Contains("batch q, k, v [2, 4, 8]", r.Message);
    }

    // ---------------------------------------------------------------- PyTorch habits and other textbooks

    [Fact]
    public void CausalMask_float_min_value_is_accepted() =>
        Assert.True(Checks.CausalMask((n, dt) => torch.zeros(n, n, dtype: dt).masked_fill(torch.ones(n, n, dtype: ScalarType.Bool).triu(1), float.MinValue)).Passed);

}
