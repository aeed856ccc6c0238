using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/00-tokens-and-embeddings.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- embedding

    /// <summary>embed(ids, wte, wpe) = wte[ids] + wpe[0, 1, ..., n_seq - 1]: token plus position embeddings.</summary>
    public static CheckResult Embedding(Func<Tensor, Tensor, Tensor, Tensor> embed)
    {
        Case<(Tensor Ids, Tensor Wte, Tensor Wpe)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        return new CheckEngine<(Tensor Ids, Tensor Wte, Tensor Wpe)>
        {
            Name = "embedding",
            Reference = i => Ops.Embed(i.Ids, i.Wte, i.Wpe),
            ReferenceName = "Ops.Embed",
            Learner = i => embed(i.Ids, i.Wte, i.Wpe),
            Cases =
            [
                C("ids [3, 1, 4, 1, 5] (token 1 twice), wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([3, 1, 4, 1, 5]), R(111, Float64, 10, 8), R(112, Float64, 16, 8))),
                C("ids [7, 0, 11, 2, 9, 11], wte [12, 4], wpe [6, 4]: n_seq = n_ctx (float32)", F32, () => (Ids([7, 0, 11, 2, 9, 11]), R(113, Float32, 12, 4), R(114, Float32, 6, 4))),
                C("one id [9], wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([9]), R(115, Float64, 10, 8), R(116, Float64, 16, 8))),
                C("batch of ids [2, 5], wte [10, 8], wpe [16, 8] (float64)", F64, () => (Ids([0, 1, 2, 3, 4, 9, 9, 8, 1, 0]).reshape(2, 5), R(117, Float64, 10, 8), R(118, Float64, 16, 8))),
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[positions], positions 0, 1, ..., n_seq - 1", i => i.Wte[i.Ids]),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => i.Wte[i.Ids] + i.Wpe[i.Ids]),
                new("wte is indexed by token id and wpe by position, not the other way round", i => i.Wte[Pos(i.Ids)] + i.Wpe[i.Ids]),
                new("positions start at 0: wpe[0] for the first token, wpe[n_seq - 1] for the last", i => i.Wte[i.Ids] + i.Wpe[Pos(i.Ids) + 1]),
                new("add the two embeddings (wte[ids] + wpe[positions]); do not multiply them", i => i.Wte[i.Ids] * i.Wpe[Pos(i.Ids)]),
            ],
            ExceptionHint = e =>
                e.Message.Contains("out of range") || e.Message.Contains("out of bounds")
                    ? "an index is out of range: wte has n_vocab rows (index it with the token ids), wpe has n_ctx rows (index it with the positions 0, 1, ..., n_seq - 1)"
                : e.Message.Contains("must match the size")
                    ? "the positions run along the last axis of ids: torch.arange(ids.shape[^1]) (with a batch [B, n_seq] there are n_seq positions, not B)"
                : e.Message.Contains("vector") || e.Message.Contains("1-D") || e.Message.Contains("one dimension")
                    ? "index with wte[ids] and wpe[positions], which also work for a batch of ids [B, n_seq] (index_select needs a 1-D index)"
                : null,
            Diagnose = (i, expected, got) => got.shape.Length == expected.shape.Length && got.shape[^1] == 2 * expected.shape[^1]
                ? "add the two embeddings (both are n_embd wide); do not concatenate them" : null,
        }.Run();
    }
}
