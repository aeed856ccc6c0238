using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 05: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class AttentionCheckTests
{
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
}
