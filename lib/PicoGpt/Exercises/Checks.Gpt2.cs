using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/08-gpt2.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- gpt2

    /// <summary>
    /// The whole forward pass on a tiny random GPT-2 (vocab 8, context 16, n_embd 8, 2 layers, 2 heads). The vocabulary
    /// is as wide as the embedding so that a forgotten transpose of wte gives wrong numbers instead of a shape error
    /// (TorchSharp's matmul aborts the process on mismatched shapes).
    /// </summary>
    public static CheckResult Gpt2(Func<Tensor, Gpt2Params, int, Tensor> gpt2)
    {
        Case<(Tensor Ids, Gpt2Params P, int H)> C(string name, double tol, Func<(Tensor, Gpt2Params, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);
        static Tensor Blocks(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h); return x; }
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        return new CheckEngine<(Tensor Ids, Gpt2Params P, int H)>
        {
            Name = "gpt2",
            Reference = i => Ops.Gpt2(i.Ids, i.P, i.H),
            ReferenceName = "Ops.Gpt2",
            Learner = i => gpt2(i.Ids, i.P, i.H),
            Cases =
            [
                C("5 token ids, float32 weights (tiny GPT-2: vocab 8, context 16, n_embd 8, 2 layers, 2 heads)", F32Deep, () => (Ids([3, 1, 4, 1, 5]), Tiny(91, Float32), 2)),
                C("8 token ids, float64 weights", F64, () => (Ids([7, 2, 6, 5, 3, 5, 0, 7]), Tiny(92, Float64), 2)),
                C("one token id, float64 weights", F64, () => (Ids([7]), Tiny(93, Float64), 2)),
                C("batch of 2 × 6 token ids [2, 6], float64 weights", F64, () => (Ids([0, 1, 2, 3, 4, 5, 7, 6, 5, 4, 3, 2]).reshape(2, 6), Tiny(94, Float64), 2)),
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]",
                    i => Ln(Blocks(i.P.Wte[i.Ids], i.P, i.H), i.P.LnF).matmul(i.P.Wte.T)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id",
                    i => Ln(Blocks(i.P.Wte[i.Ids] + i.P.Wpe[i.Ids], i.P, i.H), i.P.LnF).matmul(i.P.Wte.T)),
                new("apply the final layer norm ln_f before the output projection",
                    i => Blocks(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P, i.H).matmul(i.P.Wte.T)),
                new("run x through every transformer block in p.Blocks, in order",
                    i => Ln(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P.LnF).matmul(i.P.Wte.T)),
                new("the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab]), not x @ wte",
                    i => SafeMatmul(Ln(Blocks(i.P.Wte[i.Ids] + i.P.Wpe[Pos(i.Ids)], i.P, i.H), i.P.LnF), i.P.Wte)),
            ],
            ExceptionHint = e => ShapeError(e) ? "the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab])" : null,
            Diagnose = (i, expected, got) => got.shape.Length == expected.shape.Length && got.shape[^1] == i.P.Wte.shape[1]
                ? "return logits over the vocabulary, [n_seq, n_vocab]: multiply by wteᵀ at the end" : null,
            Probe = () => FutureLeaksIds(ids => gpt2(ids, Tiny(92, Float64), 2)),
        }.Run();
    }
}
