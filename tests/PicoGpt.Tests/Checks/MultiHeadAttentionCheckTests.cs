using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 06: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class MultiHeadAttentionCheckTests
{
    [Fact]
    public void MultiHeadAttention_reference_passes() => Passes(Checks.MultiHeadAttention(Ops.MultiHeadAttention));

    internal static Tensor Mha(Tensor x, AttentionParams p, int nHead, bool mask = true, bool project = true, bool headScale = true)
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
}
