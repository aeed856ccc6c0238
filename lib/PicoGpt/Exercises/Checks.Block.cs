using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/07-transformer-block.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- feed-forward

    /// <summary>The MLP: c_fc up to 4·n_embd, GELU, c_proj back down.</summary>
    public static CheckResult FeedForward(Func<Tensor, FeedForwardParams, Tensor> ffn)
    {
        Case<(Tensor X, FeedForwardParams P)> C(string name, double tol, Func<(Tensor, FeedForwardParams)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Up(Tensor x, FeedForwardParams p) => Ops.Linear(x, p.CFc.W, p.CFc.B);
        static Tensor Down(Tensor x, FeedForwardParams p) => Ops.Linear(x, p.CProj.W, p.CProj.B);
        return new CheckEngine<(Tensor X, FeedForwardParams P)>
        {
            Name = "feed_forward",
            Reference = i => Ops.FeedForward(i.X, i.P),
            ReferenceName = "Ops.FeedForward",
            Learner = i => ffn(i.X, i.P),
            Cases =
            [
                C("n_embd 4, 3 tokens (float64)", F64, () => (R(71, Float64, 3, 4) * 2, Mlp(72, 4, Float64))),
                C("n_embd 8, 5 tokens (float32)", F32, () => (R(73, Float32, 5, 8) * 2, Mlp(74, 8, Float32))),
                C("batch [2, 3, 4] (float64)", F64, () => (R(75, Float64, 2, 3, 4) * 2, Mlp(76, 4, Float64))),
            ],
            Traps =
            [
                new("this uses ReLU; GPT-2's MLP uses GELU with the tanh approximation (Ops.Gelu)", i => Down(Up(i.X, i.P).relu(), i.P)),
                new("this is the exact erf GELU; GPT-2 uses the tanh approximation", i => Down(ErfGelu(Up(i.X, i.P)), i.P)),
                new("apply GELU between the two projections: c_proj(gelu(c_fc(x)))", i => Down(Up(i.X, i.P), i.P)),
                new("apply GELU after c_fc (the projection up to 4·n_embd), not after c_proj", i => Ops.Gelu(Down(Up(i.X, i.P), i.P))),
            ],
            ExceptionHint = e => ShapeError(e) ? "c_fc.W is [n_embd, 4·n_embd] and c_proj.W is [4·n_embd, n_embd]: x @ c_fc.W first, then @ c_proj.W" : null,
        }.Run();
    }

    // ---------------------------------------------------------------- transformer block

    /// <summary>Pre-norm block: x + mha(ln_1(x)), then x + ffn(ln_2(x)).</summary>
    public static CheckResult TransformerBlock(Func<Tensor, BlockParams, int, Tensor> block)
    {
        Case<(Tensor X, BlockParams P, int H)> C(string name, double tol, Func<(Tensor, BlockParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);
        static Tensor Attn(Tensor x, BlockParams p, int h) => Ops.MultiHeadAttention(x, p.Attn, h);
        static Tensor Mlp(Tensor x, BlockParams p) => Ops.FeedForward(x, p.Mlp);
        return new CheckEngine<(Tensor X, BlockParams P, int H)>
        {
            Name = "transformer_block",
            Reference = i => Ops.TransformerBlock(i.X, i.P, i.H),
            ReferenceName = "Ops.TransformerBlock",
            Learner = i => block(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(81, Float64, 5, 8), Block(82, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32Deep, () => (R(83, Float32, 4, 12), Block(84, 12, Float32), 3)),
                C("batch [2, 4, 8], 2 heads (float64)", F64, () => (R(85, Float64, 2, 4, 8), Block(86, 8, Float64), 2)),
            ],
            Traps =
            [
                new("GPT-2 is pre-norm: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)); the norm goes inside each residual branch",
                    i => { var x = Ln(i.X + Attn(i.X, i.P, i.H), i.P.Ln1); return Ln(x + Mlp(x, i.P), i.P.Ln2); }),
                new("keep the residual connections: add each branch's output to x (x = x + ...)",
                    i => Mlp(Ln(Attn(Ln(i.X, i.P.Ln1), i.P, i.H), i.P.Ln2), i.P)),
                new("use ln_2 (not ln_1) before the MLP",
                    i => { var x = i.X + Attn(Ln(i.X, i.P.Ln1), i.P, i.H); return x + Mlp(Ln(x, i.P.Ln1), i.P); }),
                new("normalise with ln_1 before attention and ln_2 before the MLP",
                    i => { var x = i.X + Attn(i.X, i.P, i.H); return x + Mlp(x, i.P); }),
                new("the MLP works on the attention step's result: x = x + attn(ln_1(x)); then x = x + mlp(ln_2(x)) with the new x",
                    i => i.X + Attn(Ln(i.X, i.P.Ln1), i.P, i.H) + Mlp(Ln(i.X, i.P.Ln2), i.P)),
            ],
            Probe = () => FutureLeaks(x => block(x, Block(82, 8, Float64), 2), () => R(81, Float64, 5, 8)),
        }.Run();
    }
}
