using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt;

/// <summary>
/// Notebook 14's ops in GPT-2's Conv1D layout, W [n_in, n_out] (y = x @ W): symmetric int8 quantization with one scale
/// per output channel (a COLUMN of W), its dequantization, and the top-1 agreement of two models' logits. The model's
/// own int8 (the packed decoder) is <see cref="Decode.Int8Quantization"/>, per row of nn.Linear's [out, in]: the same
/// numbers, transposed.
/// </summary>
public static class QuantOps
{
    /// <summary>
    /// scale = max|w| / 127 per column ([n_out], w's dtype; 1 for a column of zeros, whose codes are all 0), and
    /// q = round(w / scale) clamped to [-127, 127] as int8 [n_in, n_out]. q * scale is within scale / 2 of every weight.
    /// </summary>
    public static (Tensor Q, Tensor Scale) QuantizeInt8(Tensor w) // [n_in, n_out] -> int8 [n_in, n_out], [n_out]
    {
        if (w.dim() != 2) throw new PicoGptException($"QuantizeInt8 takes a 2-D weight [n_in, n_out], got shape [{string.Join(", ", w.shape)}]");
        var max = w.abs().amax(new long[] { 0 });                                                    // [n_out]: the largest |w| of each column
        var scale = torch.where(max > 0, max / 127, torch.ones_like(max));              // [n_out]
        var q = (w / scale).round().clamp(-127, 127).to(ScalarType.Int8);              // [n_in, n_out]
        return (q, scale);
    }

    /// <summary>q * scale, each column by its scale, in the scale's dtype.</summary>
    public static Tensor DequantizeInt8(Tensor q, Tensor scale) // int8 [n_in, n_out], [n_out] -> [n_in, n_out]
        => q.to(scale.dtype) * scale;

    /// <summary>The fraction of positions where the two logits' top tokens (argmax over the vocabulary) are the same.</summary>
    public static double Top1Agreement(Tensor a, Tensor b) // [..., n_vocab] twice -> a number in [0, 1]
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new PicoGptException($"Top1Agreement: the logits differ in shape, [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        using var scope = torch.NewDisposeScope();
        return (a.argmax(-1) == b.argmax(-1)).to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>
    /// Replaces, in place, every 2-D weight of <paramref name="model"/> but the position table (the linear layers and the
    /// token embedding, which is also the output head) with <paramref name="roundTrip"/> of it, given in GPT-2's
    /// [n_in, n_out] layout: the module stores nn.Linear's [out, in], so a weight is handed over transposed, and the
    /// token embedding [n_vocab, n_embd] too (as the head, its output channels are its rows).
    /// </summary>
    public static void RoundTripWeights(Gpt model, Func<Tensor, Tensor> roundTrip)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() != 2 || name.StartsWith("wpe")) continue;
            using var scope = torch.NewDisposeScope();
            var back = roundTrip(p.detach().T);                                        // [n_in, n_out] -> [n_in, n_out]
            if (!back.shape.SequenceEqual(p.T.shape))
                throw new PicoGptException($"RoundTripWeights: {name} came back shaped [{string.Join(", ", back.shape)}], expected [{string.Join(", ", p.T.shape)}]");
            p.copy_(back.T);
        }
    }
}
