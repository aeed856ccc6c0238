using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Decode;

/// <summary>
/// Weight-only int8, symmetric, one scale per output channel (row of an [out, in] weight): scale = max|w| / 127,
/// q = round(w / scale) in [-127, 127], w ≈ q * scale. The round trip errs by at most half a scale step per weight.
/// </summary>
public static class Int8Quantization
{
    /// <summary>Quantizes <paramref name="rows"/> rows of <paramref name="cols"/> floats into <paramref name="q"/> and one scale per row.</summary>
    public static void QuantizeRows(ReadOnlySpan<float> w, int rows, int cols, Span<sbyte> q, Span<float> scales)
    {
        if (w.Length != (long)rows * cols || q.Length != w.Length || scales.Length != rows)
            throw new PicoGptException($"int8 quantization: expected {rows} x {cols} weights, {rows * cols} codes and {rows} scales; got {w.Length}, {q.Length} and {scales.Length}");
        for (int r = 0; r < rows; r++)
        {
            var row = w.Slice(r * cols, cols);
            float max = 0;
            foreach (var v in row)
            {
                if (!float.IsFinite(v)) throw new PicoGptException($"int8 quantization: row {r} holds a non-finite weight ({v})");
                max = Math.Max(max, Math.Abs(v));
            }
            float scale = max / 127f;
            scales[r] = scale;
            var qr = q.Slice(r * cols, cols);
            if (scale == 0) { qr.Clear(); continue; }
            float inv = 1f / scale;
            for (int i = 0; i < cols; i++) qr[i] = (sbyte)Math.Clamp(MathF.Round(row[i] * inv, MidpointRounding.ToEven), -127f, 127f);
        }
    }

    /// <summary>The weights the int8 codes stand for: q * scale, row by row.</summary>
    public static float[] Dequantize(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int rows, int cols)
    {
        var w = new float[(long)rows * cols];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < cols; i++) w[r * cols + i] = q[r * cols + i] * scales[r];
        return w;
    }

    /// <summary>A float32 [out, in] weight rounded through int8 and back (same device and dtype as the input): what the int8 decoder computes with.</summary>
    public static Tensor RoundTrip(Tensor weight) // [O, I] -> [O, I]
    {
        if (weight.dim() != 2) throw new PicoGptException($"int8 quantization needs a 2-D [out, in] weight, got shape [{string.Join(", ", weight.shape)}]");
        using var scope = torch.NewDisposeScope();
        var w = weight.detach().to(ScalarType.Float32).cpu().contiguous();
        int rows = (int)w.shape[0], cols = (int)w.shape[1];
        var q = new sbyte[rows * cols];
        var s = new float[rows];
        QuantizeRows(w.data<float>().ToArray(), rows, cols, q, s);
        var back = torch.tensor(Dequantize(q, s, rows, cols), new long[] { rows, cols }).to(weight.dtype).to(weight.device);
        return back.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Replaces, in place, every linear weight of <paramref name="model"/> and the tied head/token embedding with its int8
    /// round trip: the model then computes in float with exactly the int8 decoder's weights (quality checks, prefill).
    /// </summary>
    public static void RoundTripWeights(Model.Gpt model)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() != 2 || name.StartsWith("wpe")) continue;      // linear weights [out, in] and wte [V, C]; not the position table
            using var r = RoundTrip(p);
            p.copy_(r);
        }
    }
}
