namespace PicoGpt.Decode;

/// <summary>The number formats the decoder keeps its weights in.</summary>
public enum DecodeDType
{
    /// <summary>float32: 4 bytes a weight, the TorchSharp model's own numbers.</summary>
    F32,
    /// <summary>IEEE float16: 2 bytes a weight, widened to float32 in the kernel.</summary>
    F16,
    /// <summary>int8 with one float32 scale per block of 32 weights of a row: 1 byte a weight (1.125 with the scales).</summary>
    Int8,
}

/// <summary>Parsing and naming of <see cref="DecodeDType"/>.</summary>
public static class DecodeDTypes
{
    /// <summary>Parses f32/float32/fp32, f16/float16/fp16/half, int8/q8; null when the name is none of them.</summary>
    public static DecodeDType? TryParse(string? name) => name?.ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" => DecodeDType.F32,
        "f16" or "float16" or "fp16" or "half" => DecodeDType.F16,
        "int8" or "q8" or "i8" => DecodeDType.Int8,
        _ => null,
    };

    public static string Name(this DecodeDType d) => d switch { DecodeDType.F32 => "f32", DecodeDType.F16 => "f16", _ => "int8" };

    /// <summary>Bytes one weight takes (the int8 scales come on top: 4 bytes per block of 32).</summary>
    public static int BytesPerWeight(this DecodeDType d) => d switch { DecodeDType.F32 => 4, DecodeDType.F16 => 2, _ => 1 };
}

/// <summary>
/// One linear layer's weight [out, in] (nn.Linear's orientation: one contiguous row per output) in native memory, in
/// float32, float16 or int8 with a scale per 32 weights, plus an optional float32 bias. <see cref="Rows"/> computes a range of
/// outputs y[r] = w[r]·x (* scale[r]) + b[r].
/// </summary>
public sealed unsafe class PackedLinear : IDisposable
{
    readonly NativeBuffer _w;
    readonly NativeBuffer? _scales, _bias;

    public int Out { get; }
    public int In { get; }
    public DecodeDType DType { get; }

    /// <summary>int8: weights per scale (32, or the whole row when 32 does not divide it); 0 otherwise.</summary>
    public int Block { get; }

    /// <summary>Bytes read per use: the weight codes plus the int8 scales (the bias is negligible and not counted).</summary>
    public long WeightBytes => _w.Bytes + (_scales?.Bytes ?? 0);

    /// <summary>Bytes held, bias included.</summary>
    public long ResidentBytes => WeightBytes + (_bias?.Bytes ?? 0);

    /// <param name="weight">[out, in] row-major float32</param>
    /// <param name="bias">[out] or empty</param>
    /// <param name="outFeatures">rows (outputs)</param>
    /// <param name="inFeatures">columns (inputs)</param>
    /// <param name="dtype">the number format to pack into</param>
    public PackedLinear(ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int outFeatures, int inFeatures, DecodeDType dtype)
    {
        if (weight.Length != (long)outFeatures * inFeatures)
            throw new PicoGptException($"packed linear: expected {outFeatures} x {inFeatures} weights, got {weight.Length}");
        if (!bias.IsEmpty && bias.Length != outFeatures)
            throw new PicoGptException($"packed linear: expected {outFeatures} biases, got {bias.Length}");
        (Out, In, DType) = (outFeatures, inFeatures, dtype);
        long n = weight.Length;
        _w = new NativeBuffer(n * dtype.BytesPerWeight());
        switch (dtype)
        {
            case DecodeDType.F32:
                weight.CopyTo(_w.Span<float>());
                break;
            case DecodeDType.F16:
                var h = _w.Span<ushort>();
                for (int i = 0; i < weight.Length; i++) h[i] = BitConverter.HalfToUInt16Bits((Half)weight[i]);
                break;
            default:
                Block = Int8Quantization.BlockFor(inFeatures);
                _scales = new NativeBuffer((long)outFeatures * (inFeatures / Block) * 4);
                Int8Quantization.QuantizeRows(weight, outFeatures, inFeatures, _w.Span<sbyte>(), _scales.Span<float>(), Block);
                break;
        }
        if (!bias.IsEmpty)
        {
            _bias = new NativeBuffer(outFeatures * 4L);
            bias.CopyTo(_bias.Span<float>());
        }
    }

    /// <summary>Row <paramref name="r"/> as float32 (the weight the kernel uses, dequantized): embedding look-ups and tests.</summary>
    public void ReadRow(int r, Span<float> into)
    {
        if ((uint)r >= (uint)Out) throw new ArgumentOutOfRangeException(nameof(r));
        switch (DType)
        {
            case DecodeDType.F32: new ReadOnlySpan<float>(_w.As<float>() + (long)r * In, In).CopyTo(into); break;
            case DecodeDType.F16:
                var h = _w.As<ushort>() + (long)r * In;
                for (int i = 0; i < In; i++) into[i] = (float)BitConverter.UInt16BitsToHalf(h[i]);
                break;
            default:
                var q = _w.As<sbyte>() + (long)r * In;
                float* s = _scales!.As<float>() + (long)r * (In / Block);
                for (int i = 0; i < In; i++) into[i] = q[i] * s[i / Block];
                break;
        }
    }

    /// <summary>
    /// y[r] (+)= w[r]·x + b[r] for r in [r0, r1). With <paramref name="accumulate"/>, adds to y (a residual connection).
    /// For float16 weights, <paramref name="xHalfScaled"/> may give x * 2^112 (<see cref="Kernels.ScaleForHalf"/>, done
    /// once per mat-vec by the caller): the AVX2 kernel then widens with half the instructions, to the same sums.
    /// </summary>
    public void Rows(int r0, int r1, float* x, float* y, bool accumulate, float* xHalfScaled = null)
    {
        float* b = _bias != null ? _bias.As<float>() : null;
        int n = In;
        switch (DType)
        {
            case DecodeDType.F32:
                {
                    float* w = _w.As<float>();
                    for (int r = r0; r < r1; r++)
                    {
                        float v = Kernels.DotF32(w + (long)r * n, x, n) + (b != null ? b[r] : 0f);
                        y[r] = accumulate ? y[r] + v : v;
                    }
                    break;
                }
            case DecodeDType.F16:
                {
                    ushort* w = _w.As<ushort>();
                    bool scaled = xHalfScaled != null && Kernels.UseAvx2;
                    for (int r = r0; r < r1; r++)
                    {
                        float v = (scaled ? Kernels.DotF16Scaled(w + (long)r * n, xHalfScaled, x, n) : Kernels.DotF16(w + (long)r * n, x, n))
                                  + (b != null ? b[r] : 0f);
                        y[r] = accumulate ? y[r] + v : v;
                    }
                    break;
                }
            default:
                {
                    sbyte* w = _w.As<sbyte>();
                    float* s = _scales!.As<float>();
                    int bs = Block, per = n / bs;
                    for (int r = r0; r < r1; r++)
                    {
                        float v = (bs == n ? Kernels.DotI8(w + (long)r * n, x, n) * s[r] : Kernels.DotI8Blocks(w + (long)r * n, s + (long)r * per, x, n, bs))
                                  + (b != null ? b[r] : 0f);
                        y[r] = accumulate ? y[r] + v : v;
                    }
                    break;
                }
        }
    }

    /// <summary>y = W x + b for all rows, on the calling thread (checks lengths): x [in] -> y [out].</summary>
    public void MatVec(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != In || y.Length != Out)
            throw new PicoGptException($"packed linear [{Out}, {In}]: expected x of {In} and y of {Out} floats, got {x.Length} and {y.Length}");
        var xs = DType == DecodeDType.F16 ? new float[In] : null;
        fixed (float* px = x, py = y, pxs = xs)
            Rows(0, Out, px, py, accumulate: false, xs != null && Kernels.ScaleForHalf(px, pxs, In) ? pxs : null);
    }

    /// <summary>How many parallel chunks a mat-vec over this weight is cut into: about 64 KB of weights each, at most 32 per thread.</summary>
    public int Chunks(int threads)
        => (int)Math.Clamp(WeightBytes / 65536, 1, Math.Min(Out, 32L * threads));

    public void Dispose()
    {
        _w.Dispose();
        _scales?.Dispose();
        _bias?.Dispose();
    }
}
