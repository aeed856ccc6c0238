using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt;

/// <summary>
/// Ops that only the course uses: the second exercises of notebooks 00-07 (log-softmax, the exact GELU, sinusoidal
/// positions, heads as a tensor axis, dropout as a function). The model's reference ops are <see cref="Ops"/>; the
/// model itself needs none of these.
/// </summary>
public static class CourseOps
{
    #region Notebooks 02-03: log-softmax, exact GELU

    /// <summary>log(softmax(x)) over the last axis, computed stably: x - max - log Σ exp(x - max) (the log-sum-exp trick).</summary>
    public static Tensor LogSoftmax(Tensor x) // [..., n] -> [..., n]
    {
        var shifted = x - x.amax(new long[] { -1 }, keepdim: true);         // [..., n], largest of each row is 0
        return shifted - shifted.exp().sum(-1, keepdim: true).log();        // [..., n]
    }

    /// <summary>The exact GELU, x·Φ(x) with Φ the standard normal CDF (erf form). GPT-2 uses the tanh approximation <see cref="Ops.Gelu"/>.</summary>
    public static Tensor GeluExact(Tensor x) // [...] -> [...]
        => 0.5 * x * (1 + (x / Math.Sqrt(2)).erf());


    #endregion

    #region Heads and dropout (notebooks 06 and 07)

    /// <summary>
    /// Cuts the last axis into n_head contiguous slices and moves the head axis in front of the positions:
    /// head h owns columns h*hs .. (h+1)*hs - 1, where hs = n_embd / n_head (nanoGPT's view + transpose).
    /// </summary>
    public static Tensor SplitHeads(Tensor x, int nHead) // [..., n_seq, n_embd] -> [..., n_head, n_seq, n_embd/n_head]
    {
        long nEmbd = x.shape[^1];
        if (nHead <= 0 || nEmbd % nHead != 0)
            throw new PicoGptException($"SplitHeads: n_embd ({nEmbd}) must be divisible by n_head ({nHead})");
        var heads = x.reshape([.. x.shape[..^1], nHead, nEmbd / nHead]);    // [..., n_seq, n_head, hs]
        return heads.transpose(-3, -2);                                     // [..., n_head, n_seq, hs]
    }

    /// <summary>The inverse of <see cref="SplitHeads"/>: the heads side by side again, head 0's columns first.</summary>
    public static Tensor MergeHeads(Tensor x) // [..., n_head, n_seq, hs] -> [..., n_seq, n_head*hs]
    {
        var t = x.transpose(-3, -2);                                        // [..., n_seq, n_head, hs]
        return t.reshape([.. t.shape[..^2], t.shape[^2] * t.shape[^1]]);    // [..., n_seq, n_head*hs]
    }

    /// <summary>
    /// Inverted dropout: in training, each element is kept with probability 1 - p (where u = rand in [0, 1) is >= p)
    /// and scaled by 1/(1 - p), so the expected output is x; in eval (training false) the identity.
    /// The draws come from <paramref name="generator"/> (torch's global generator when null), in x's dtype.
    /// </summary>
    public static Tensor Dropout(Tensor x, double p, bool training, Generator? generator = null) // [...] -> [...]
    {
        if (!(p >= 0 && p < 1)) throw new PicoGptException($"Dropout: p must be in [0, 1), got {p}");
        if (!training || p == 0) return x;
        var u = torch.rand(x.shape, dtype: x.dtype, device: x.device, generator: generator); // [...] uniform in [0, 1)
        return x * (u >= p) / (1 - p);                                      // dropped: 0; kept: x / (1 - p)
    }

    #endregion

    #region Positions without learning (notebook 00)

    /// <summary>
    /// The original Transformer's fixed positional encoding (Vaswani et al. 2017, section 3.5), which GPT-2 replaced by
    /// the learned table wpe: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), for
    /// positions 0, 1, ..., n_ctx - 1 and d = n_embd. Columns 2i and 2i+1 share one frequency; the wavelengths grow
    /// geometrically from 2π (columns 0, 1) to almost 10000·2π. Computed in float64, returned in <paramref name="dtype"/>.
    /// For an odd n_embd the last column is a sine.
    /// </summary>
    public static Tensor SinusoidalPositions(long nCtx, long nEmbd, ScalarType dtype = ScalarType.Float32, Device? device = null) // [n_ctx, n_embd]
    {
        if (nCtx < 0 || nEmbd < 1) throw new PicoGptException($"SinusoidalPositions: need n_ctx >= 0 and n_embd >= 1, got n_ctx {nCtx}, n_embd {nEmbd}");
        var pos = torch.arange(nCtx, dtype: ScalarType.Float64).unsqueeze(1);            // [n_ctx, 1]
        var twoI = torch.arange(0, nEmbd, 2, dtype: ScalarType.Float64);                 // [ceil(n_embd/2)]: 2i = 0, 2, 4, ...
        var angle = pos / torch.pow(10000.0, twoI / nEmbd);                               // [n_ctx, ceil(n_embd/2)]
        var pe = torch.stack([angle.sin(), angle.cos()], dim: -1).reshape(nCtx, 2 * twoI.shape[0]); // [n_ctx, 2·ceil(n_embd/2)]: sin, cos, sin, cos, ...
        return pe.narrow(1, 0, nEmbd).to(dtype, device ?? torch.CPU);                     // [n_ctx, n_embd]
    }

    #endregion
}
