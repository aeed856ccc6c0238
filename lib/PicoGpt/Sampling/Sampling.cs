using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Sampling;

/// <summary>
/// Turning next-token logits into a choice: temperature, top-k and top-p (nucleus) filters, greedy and seeded sampling.
/// Filters keep the logits' shape and set removed entries to -inf, so they compose: TopP(TopK(logits / t, k), p).
/// </summary>
public static class Sampler
{
    /// <summary>Keep the k largest logits of the last axis (ties at the k-th value are all kept), set the rest to -inf.</summary>
    public static Tensor TopK(Tensor logits, int k) // [..., V] -> [..., V]
    {
        if (k <= 0) throw new PicoGptException($"top-k must be at least 1, got {k}");
        if (k >= logits.shape[^1]) return logits;
        var kth = logits.topk(k, dim: -1).values.narrow(-1, k - 1, 1);      // [..., 1]
        return logits.masked_fill(logits < kth, double.NegativeInfinity);
    }

    /// <summary>
    /// Keep the smallest set of most likely tokens whose probability adds up to at least p (the most likely token is
    /// always kept; p = 1 keeps everything), set the rest to -inf.
    /// </summary>
    public static Tensor TopP(Tensor logits, double p) // [..., V] -> [..., V]
    {
        if (!(p > 0 && p <= 1)) throw new PicoGptException($"top-p must be in (0, 1], got {p}");
        if (p >= 1) return logits;
        var (sorted, indices) = logits.sort(dim: -1, descending: true);       // [..., V]
        var probs = sorted.softmax(-1);
        var before = probs.cumsum(-1) - probs;                                // probability mass strictly before each token
        var removeSorted = before >= p;                                       // the first token has before = 0 < p: always kept
        var remove = torch.zeros_like(removeSorted).scatter(-1, indices, removeSorted);
        return logits.masked_fill(remove, double.NegativeInfinity);
    }

    /// <summary>Probabilities after temperature, top-k and top-p. Temperature must be positive here (0 means greedy: use ArgMax).</summary>
    public static Tensor Probabilities(Tensor logits, double temperature = 1.0, int? topK = null, double? topP = null) // [..., V] -> [..., V]
    {
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new PicoGptException($"temperature must be a positive number here, got {temperature} (0 means greedy)");
        var x = logits.to(ScalarType.Float32) / temperature;
        if (topK is int k) x = TopK(x, k);
        if (topP is double pp) x = TopP(x, pp);
        return x.softmax(-1);
    }

    /// <summary>Next token ids: argmax when temperature is 0, else a draw from the filtered distribution using the generator.</summary>
    public static Tensor Next(Tensor logits, double temperature, int? topK, double? topP, Generator? generator) // [B, V] -> [B, 1]
    {
        if (temperature < 0 || double.IsNaN(temperature)) throw new PicoGptException($"temperature must be >= 0, got {temperature}");
        if (temperature == 0) return logits.argmax(-1, keepdim: true);
        var probs = Probabilities(logits, temperature, topK, topP);
        return torch.multinomial(probs, 1, generator: generator);
    }
}
