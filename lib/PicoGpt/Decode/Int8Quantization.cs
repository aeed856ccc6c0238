using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Decode;

/// <summary>
/// Weight-only int8, symmetric, one scale per block of 32 consecutive weights of an output row (as ggml's q8_0, with
/// float32 scales) or per whole row: scale = max|w| / 127 over the block, q = round(w / scale) in [-127, 127],
/// w ≈ q * scale. The round trip errs by at most half a scale step per weight.
/// </summary>
public static class Int8Quantization
{
    /// <summary>The block size the decoder uses: 32 weights of a row share a scale (per-row scales when a row's length is not a multiple of it).</summary>
    public const int DefaultBlock = 32;

    /// <summary>The block size for rows of <paramref name="cols"/> weights: <see cref="DefaultBlock"/> when it divides them, else the whole row.</summary>
    public static int BlockFor(int cols) => cols % DefaultBlock == 0 ? DefaultBlock : cols;

    /// <summary>
    /// Quantizes <paramref name="rows"/> rows of <paramref name="cols"/> floats into <paramref name="q"/>, with one scale
    /// per <paramref name="block"/> consecutive weights of a row (block = cols: one scale per output channel); scales are
    /// stored row by row, cols / block per row.
    /// </summary>
    public static void QuantizeRows(ReadOnlySpan<float> w, int rows, int cols, Span<sbyte> q, Span<float> scales, int? block = null)
    {
        int bs = block ?? cols;
        if (bs < 1 || cols % bs != 0) throw new PicoGptException($"int8 quantization: block {bs} does not divide rows of {cols}");
        int perRow = cols / bs;
        if (w.Length != (long)rows * cols || q.Length != w.Length || scales.Length != rows * perRow)
            throw new PicoGptException($"int8 quantization: expected {rows} x {cols} weights, {rows * cols} codes and {rows * perRow} scales; got {w.Length}, {q.Length} and {scales.Length}");
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < perRow; b++)
            {
                int start = r * cols + b * bs;
                var part = w.Slice(start, bs);
                float max = 0;
                foreach (var v in part)
                {
                    if (!float.IsFinite(v)) throw new PicoGptException($"int8 quantization: row {r} holds a non-finite weight ({v})");
                    max = Math.Max(max, Math.Abs(v));
                }
                float scale = max / 127f;
                scales[r * perRow + b] = scale;
                var qp = q.Slice(start, bs);
                if (scale == 0) { qp.Clear(); continue; }
                float inv = 1f / scale;
                for (int i = 0; i < bs; i++) qp[i] = (sbyte)Math.Clamp(MathF.Round(part[i] * inv, MidpointRounding.ToEven), -127f, 127f);
            }
    }

    /// <summary>The weights the int8 codes stand for: q * scale of its block.</summary>
    public static float[] Dequantize(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int rows, int cols, int? block = null)
    {
        int bs = block ?? cols;
        var w = new float[(long)rows * cols];
        for (int k = 0; k < w.Length; k++) w[k] = q[k] * scales[k / bs];
        return w;
    }

    /// <summary>A float32 [out, in] weight rounded through int8 and back (same device and dtype as the input): what the int8 decoder computes with.</summary>
    public static Tensor RoundTrip(Tensor weight) // [O, I] -> [O, I]
    {
        if (weight.dim() != 2) throw new PicoGptException($"int8 quantization needs a 2-D [out, in] weight, got shape [{string.Join(", ", weight.shape)}]");
        using var scope = torch.NewDisposeScope();
        var w = weight.detach().to(ScalarType.Float32).cpu().contiguous();
        int rows = (int)w.shape[0], cols = (int)w.shape[1];
        int block = BlockFor(cols);
        var q = new sbyte[rows * cols];
        var s = new float[rows * (cols / block)];
        QuantizeRows(w.data<float>().ToArray(), rows, cols, q, s, block);
        var back = torch.tensor(Dequantize(q, s, rows, cols, block), new long[] { rows, cols }).to(weight.dtype).to(weight.device);
        return back.MoveToOuterDisposeScope();
    }

    /// <summary>The most that the int8 decoder may hold, as a fraction of the float32 parameters' bytes (issue #19).</summary>
    public const double MaxResidentFraction = 0.3;

    /// <summary>
    /// The format of the tied head (wte: the token embedding and the output layer) when the weights are int8: float16
    /// where that keeps everything the int8 decoder holds (int8 linear weights with their scales, the head, and the
    /// float32 position table, biases and norms) within <see cref="MaxResidentFraction"/> of the float32 model's bytes;
    /// else int8 in blocks, as every linear layer. Why: on the shipped character model the head's int8 rounding caused
    /// most of int8's top-1 disagreements with float32 (99.63% agreement with only the head in int8, 99.83% with all
    /// but the head, 99.56% with both, over 40,000 validation positions) and two of the three greedy texts (of 5) that
    /// parted from float32's; its 65 x 192 weights cost 11 KB more in float16. GPT-2's head is a third of its weights:
    /// there float16 would take the decoder to 0.35x, so it stays int8.
    /// </summary>
    public static DecodeDType HeadFormat(Model.Gpt model)
    {
        double f32 = 0, int8 = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            long n = p.numel();
            f32 += 4.0 * n;
            int8 += p.dim() != 2 || name.StartsWith("wpe") ? 4.0 * n                 // biases, norms, the position table: float32
                : name.StartsWith("wte") ? 2.0 * n                                      // the head in float16
                : n * (1 + 4.0 / BlockFor((int)p.shape[1]));                           // codes and a float32 scale per block
        }
        return int8 <= MaxResidentFraction * f32 ? DecodeDType.F16 : DecodeDType.Int8;
    }

    /// <summary>
    /// Replaces, in place, every linear weight of <paramref name="model"/> with its int8 round trip, and the tied
    /// head/token embedding with its round trip through <see cref="HeadFormat"/> (float16 or int8): the model then
    /// computes in float with exactly the int8 decoder's weights (quality checks, prefill).
    /// </summary>
    public static void RoundTripWeights(Model.Gpt model)
    {
        var head = HeadFormat(model);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() != 2 || name.StartsWith("wpe")) continue;      // linear weights [out, in] and wte [V, C]; not the position table
            using var scope = torch.NewDisposeScope();
            p.copy_(name.StartsWith("wte") && head == DecodeDType.F16 ? p.to(ScalarType.Float16).to(p.dtype) : RoundTrip(p));
        }
    }
}
