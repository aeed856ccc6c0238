using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;
using static PicoGpt.Tests.MultiHeadAttentionCheckTests;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 07: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class BlockCheckTests
{
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

    internal static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);

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
}
