using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt;

/// <summary>Weights of a linear layer in GPT-2's Conv1D orientation: w is [n_in, n_out].</summary>
public sealed record LinearParams(Tensor W, Tensor B);
/// <summary>LayerNorm gain and bias, each [n_embd].</summary>
public sealed record LayerNormParams(Tensor G, Tensor B);
/// <summary>Attention weights: c_attn [n_embd, 3*n_embd], c_proj [n_embd, n_embd].</summary>
public sealed record AttentionParams(LinearParams CAttn, LinearParams CProj);
/// <summary>Feed-forward weights: c_fc [n_embd, 4*n_embd], c_proj [4*n_embd, n_embd].</summary>
public sealed record FeedForwardParams(LinearParams CFc, LinearParams CProj);
/// <summary>One transformer block.</summary>
public sealed record BlockParams(LayerNormParams Ln1, AttentionParams Attn, LayerNormParams Ln2, FeedForwardParams Mlp);
/// <summary>All of GPT-2: token embeddings wte [n_vocab, n_embd], positions wpe [n_ctx, n_embd], blocks, final norm.</summary>
public sealed record Gpt2Params(Tensor Wte, Tensor Wpe, IReadOnlyList<BlockParams> Blocks, LayerNormParams LnF);

/// <summary>
/// GPT-2 as pure tensor functions, with picoGPT's names and shapes. This is the code the notebooks mirror:
/// each function reads in a few lines. Leading batch dimensions broadcast through every function.
/// The fast path used for generation and training is <see cref="PicoGpt.Model.Gpt"/>; both give the same logits.
/// </summary>
public static class Ops
{
    /// <summary>Token embedding plus position embedding: wte[ids] + wpe[0, 1, ..., n_seq - 1].</summary>
    public static Tensor Embed(Tensor ids, Tensor wte, Tensor wpe) // [n_seq] (int64), [n_vocab, n_embd], [n_ctx, n_embd] -> [n_seq, n_embd]
    {
        var positions = torch.arange(ids.shape[^1], device: ids.device);  // [n_seq]: 0, 1, ..., n_seq - 1
        return wte[ids] + wpe[positions];                                   // [n_seq, n_embd]
    }

    /// <summary>x @ w + b.</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor b) // [n_seq, n_in] @ [n_in, n_out] + [n_out] -> [n_seq, n_out]
        => MatMul(x, w) + b;

    /// <summary>
    /// a @ b with the shapes checked first. TorchSharp 0.107's native matmul aborts the whole process on mismatched
    /// shapes instead of throwing, so every matmul a learner can reach goes through this check.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b) // [..., n, k] @ [..., k, m] -> [..., n, m]
    {
        string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
        if (a.dim() == 0 || b.dim() == 0)
            throw new PicoGptException($"matmul needs tensors with at least one dimension, got {Shape(a)} @ {Shape(b)}");
        long inner = b.dim() == 1 ? b.shape[0] : b.shape[^2];
        if (a.shape[^1] != inner)
            throw new PicoGptException($"matmul shapes do not fit: {Shape(a)} @ {Shape(b)} (the last dimension of the left, {a.shape[^1]}, must equal the {(b.dim() == 1 ? "length" : "second-to-last dimension")} of the right, {inner})");
        if (a.dim() > 2 && b.dim() > 2)
        {
            var (ba, bb) = (a.shape[..^2], b.shape[..^2]);
            for (int i = 1; i <= Math.Min(ba.Length, bb.Length); i++)
                if (ba[^i] != bb[^i] && ba[^i] != 1 && bb[^i] != 1)
                    throw new PicoGptException($"matmul batch dimensions do not broadcast: {Shape(a)} @ {Shape(b)}");
        }
        if (a.dtype != b.dtype)
            throw new PicoGptException($"matmul dtypes differ: {a.dtype} @ {b.dtype} (convert one with .to(...))");
        return a.matmul(b);
    }

    /// <summary>Softmax over the last axis, stable for large logits (subtracts the max first).</summary>
    public static Tensor Softmax(Tensor x) // [..., n] -> [..., n]
    {
        var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp();
        return e / e.sum(-1, keepdim: true);
    }

    /// <summary>GELU, tanh approximation (GPT-2's).</summary>
    public static Tensor Gelu(Tensor x) // [...] -> [...]
        => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh());

    /// <summary>Normalise the last axis to mean 0, variance 1 (biased variance), then scale by g and shift by b.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor g, Tensor b, double eps = 1e-5) // [..., n_embd] -> [..., n_embd]
        => g * Normalize(x, eps) + b;

    /// <summary>Layer norm without g and b: each row of the last axis to mean 0, variance 1 (biased variance, eps inside the root).</summary>
    public static Tensor Normalize(Tensor x, double eps = 1e-5) // [..., n_embd] -> [..., n_embd]
    {
        var mean = x.mean(new long[] { -1 }, keepdim: true);                  // [..., 1]
        var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true); // [..., 1], divided by N
        return (x - mean) / (variance + eps).sqrt();                          // [..., n_embd]
    }


    /// <summary>softmax(q k^T / sqrt(d_k) + mask) v, with an additive mask (0 where visible, large negative where not).</summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor mask) // [n_q, d_k], [n_k, d_k], [n_k, d_v], [n_q, n_k] -> [n_q, d_v]
        => MatMul(Softmax(MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask), v);

    /// <summary>The causal mask: 0 on and below the diagonal, -1e10 above it.</summary>
    public static Tensor CausalMask(long nSeq, ScalarType dtype = ScalarType.Float32, Device? device = null) // [n_seq, n_seq]
        => (1 - torch.tril(torch.ones(nSeq, nSeq, dtype: dtype, device: device))) * -1e10;

    /// <summary>Causal multi-head self-attention.</summary>
    public static Tensor MultiHeadAttention(Tensor x, AttentionParams p, int nHead) // [n_seq, n_embd] -> [n_seq, n_embd]
    {
        x = Linear(x, p.CAttn.W, p.CAttn.B);                                  // [n_seq, 3*n_embd]
        var qkv = x.chunk(3, dim: -1);                                        // 3 x [n_seq, n_embd]
        var heads = qkv.Select(t => t.chunk(nHead, dim: -1)).ToArray();       // 3 x n_head x [n_seq, n_embd/n_head]
        var mask = CausalMask(x.shape[^2], x.dtype, x.device);               // [n_seq, n_seq]
        var outs = Enumerable.Range(0, nHead)
            .Select(h => Attention(heads[0][h], heads[1][h], heads[2][h], mask)); // n_head x [n_seq, n_embd/n_head]
        x = torch.cat(outs.ToArray(), dim: -1);                              // [n_seq, n_embd]
        return Linear(x, p.CProj.W, p.CProj.B);                               // [n_seq, n_embd]
    }

    /// <summary>Position-wise feed-forward network: project up 4x, GELU, project back.</summary>
    public static Tensor FeedForward(Tensor x, FeedForwardParams p) // [n_seq, n_embd] -> [n_seq, n_embd]
        => Linear(Gelu(Linear(x, p.CFc.W, p.CFc.B)), p.CProj.W, p.CProj.B);

    /// <summary>Pre-norm transformer block with residual connections.</summary>
    public static Tensor TransformerBlock(Tensor x, BlockParams p, int nHead) // [n_seq, n_embd] -> [n_seq, n_embd]
    {
        x = x + MultiHeadAttention(LayerNorm(x, p.Ln1.G, p.Ln1.B), p.Attn, nHead);
        x = x + FeedForward(LayerNorm(x, p.Ln2.G, p.Ln2.B), p.Mlp);
        return x;
    }


    /// <summary>GPT-2: token ids to next-token logits at every position.</summary>
    public static Tensor Gpt2(Tensor ids, Gpt2Params p, int nHead) // [n_seq] (int64) -> [n_seq, n_vocab]
    {
        var x = Embed(ids, p.Wte, p.Wpe);                                    // [n_seq, n_embd]
        foreach (var block in p.Blocks)
            x = TransformerBlock(x, block, nHead);                           // [n_seq, n_embd]
        x = LayerNorm(x, p.LnF.G, p.LnF.B);                                  // [n_seq, n_embd]
        return MatMul(x, p.Wte.T);                                            // [n_seq, n_vocab]
    }
}
