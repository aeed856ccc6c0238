using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/06-multi-head-attention.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- multi-head attention

    /// <summary>Causal multi-head self-attention with GPT-2's c_attn / c_proj weights.</summary>
    public static CheckResult MultiHeadAttention(Func<Tensor, AttentionParams, int, Tensor> mha)
    {
        Case<(Tensor X, AttentionParams P, int H)> C(string name, double tol, Func<(Tensor, AttentionParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, AttentionParams P, int H)>
        {
            Name = "multi_head_attention",
            Reference = i => Ops.MultiHeadAttention(i.X, i.P, i.H),
            ReferenceName = "Ops.MultiHeadAttention",
            Learner = i => mha(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(61, Float64, 5, 8), Attn(62, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32, () => (R(63, Float32, 4, 12), Attn(64, 12, Float32), 3)),
                C("n_embd 8, 4 heads, 6 tokens (float64)", F64, () => (R(65, Float64, 6, 8), Attn(66, 8, Float64), 4)),
                C("batch [2, 5, 8], 2 heads (float64)", F64, () => (R(67, Float64, 2, 5, 8), Attn(68, 8, Float64), 2)),
            ],
            Traps =
            [
                new("the heads are missing: split q, k and v into n_head parts of n_embd/n_head along the last axis, attend per head, then concatenate",
                    i => Ops.MultiHeadAttention(i.X, i.P, 1)),
                new("future positions are visible: give every head the causal mask (Ops.CausalMask(n_seq)) before the softmax",
                    i => WrongMha(i.X, i.P, i.H, mask: false)),
                new("project the concatenated heads with c_proj at the end", i => WrongMha(i.X, i.P, i.H, project: false)),
                new("scale each head by 1/sqrt(head size) = 1/sqrt(n_embd/n_head), not 1/sqrt(n_embd)",
                    i => WrongMha(i.X, i.P, i.H, scaleDim: i.X.shape[^1])),
                new("c_attn's output is [q | k | v] along the last axis, in that order", i => WrongMha(i.X, i.P, i.H, swapQK: true)),
            ],
            Probe = () => FutureLeaks(x => mha(x, Attn(62, 8, Float64), 2), () => R(61, Float64, 5, 8)),
        }.Run();
    }
}
