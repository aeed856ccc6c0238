using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PicoGpt.Decode;

/// <summary>
/// The inner loops of decoding, in C# with hardware intrinsics: dot products of one weight row (float32, float16 or
/// int8) with a float32 vector, accumulated in float32. AVX2 + FMA where present (8 lanes, 4 accumulators), else
/// <see cref="Vector{T}"/> for float32 and a scalar loop for the conversions. float16 is widened with integer
/// instructions (.NET 10 exposes no F16C: no vcvtph2ps, no Half vector conversion): a half's bits, sign-extended and
/// shifted into float32's place, are the float32 w * 2^-112 (exact for every finite half, subnormals included; see
/// <see cref="DotF16Scaled"/>), so the fast path multiplies them with x * 2^112, scaled once per mat-vec.
/// </summary>
public static unsafe class Kernels
{
    /// <summary>True when the AVX2 + FMA paths run (tests turn it off to check the fallback).</summary>
    public static bool UseAvx2 { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>What the kernels use on this machine, in words.</summary>
    public static string Describe() => UseAvx2 ? "AVX2+FMA (8 lanes)" : $"Vector<float> ({Vector<float>.Count} lanes), scalar conversions";

    /// <summary>sum_i w[i] * x[i] over n float32s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotF32(float* w, float* x, int n)
    {
        int i = 0;
        float s = 0;
        if (UseAvx2)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 8), Avx.LoadVector256(x + i + 8), a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 16), Avx.LoadVector256(x + i + 16), a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 24), Avx.LoadVector256(x + i + 24), a3);
            }
            for (; i + 8 <= n; i += 8) a0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), a0);
            s = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            int lanes = Vector<float>.Count;
            Vector<float> a = default;
            for (; i + lanes <= n; i += lanes)
                a += Unsafe.ReadUnaligned<Vector<float>>(w + i) * Unsafe.ReadUnaligned<Vector<float>>(x + i);
            s = Vector.Sum(a);
        }
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> HalfToSingle(ushort* p)
    {
        var h = Avx2.ConvertToVector256Int32(p);                                           // 8 x u16 -> 8 x i32
        var sign = Avx2.ShiftLeftLogical(Avx2.And(h, Vector256.Create(0x8000)), 16);
        var mag = Avx2.ShiftLeftLogical(Avx2.And(h, Vector256.Create(0x7FFF)), 13);
        var f = Avx.Multiply(mag.AsSingle(), Vector256.Create(5.192296858534828e33f));     // 2^112
        return Avx2.Or(f.AsInt32(), sign).AsSingle();
    }

    /// <summary>sum_i w[i] * x[i] with w in float16 (IEEE half bits), accumulated in float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotF16(ushort* w, float* x, int n)
    {
        int i = 0;
        float s = 0;
        if (UseAvx2)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Fma.MultiplyAdd(HalfToSingle(w + i), Avx.LoadVector256(x + i), a0);
                a1 = Fma.MultiplyAdd(HalfToSingle(w + i + 8), Avx.LoadVector256(x + i + 8), a1);
                a2 = Fma.MultiplyAdd(HalfToSingle(w + i + 16), Avx.LoadVector256(x + i + 16), a2);
                a3 = Fma.MultiplyAdd(HalfToSingle(w + i + 24), Avx.LoadVector256(x + i + 24), a3);
            }
            for (; i + 8 <= n; i += 8) a0 = Fma.MultiplyAdd(HalfToSingle(w + i), Avx.LoadVector256(x + i), a0);
            s = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) s += (float)BitConverter.UInt16BitsToHalf(w[i]) * x[i];
        return s;
    }

    /// <summary>2^112: a float16's exponent bias (15) against float32's (127).</summary>
    public const float HalfBiasScale = 5.192296858534828e33f;

    /// <summary>
    /// xs = x * 2^112 over n floats, the input <see cref="DotF16Scaled"/> reads; false (xs then unusable) when some |x|
    /// is at least 2^16, where the product would overflow float32, or is not finite: use <see cref="DotF16"/> then.
    /// Multiplying by a power of two is exact, so the dot products come out bit for bit as <see cref="DotF16"/>'s.
    /// </summary>
    public static bool ScaleForHalf(float* x, float* xs, int n)
    {
        int i = 0;
        if (UseAvx2)
        {
            var k = Vector256.Create(HalfBiasScale);
            var limit = Vector256.Create(65536f);
            var bad = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var v = Avx.LoadVector256(x + i);
                bad = Avx.Or(bad, Avx.CompareNotLessThan(Vector256.Abs(v), limit));        // NaN compares "not less" too
                Avx.Store(xs + i, Avx.Multiply(v, k));
            }
            if (!Avx.TestZ(bad, bad)) return false;
        }
        for (; i < n; i++)
        {
            if (!(MathF.Abs(x[i]) < 65536f)) return false;
            xs[i] = x[i] * HalfBiasScale;
        }
        return true;
    }

    /// <summary>
    /// sum_i w[i] * x[i] with w in float16 bits, given <paramref name="xs"/> = x * 2^112 (<see cref="ScaleForHalf"/>),
    /// accumulated in float32; AVX2 only. A half's 16 bits, sign-extended to 32 and shifted left by 13, hold its
    /// exponent and mantissa where float32 keeps them and copies of its sign in bits 28-31; masking bits 28-30 leaves
    /// the float32 w * 2^-112 exactly (a subnormal half becomes a subnormal float32 with the same factor). Its product
    /// with x * 2^112 is the exact w * x that <see cref="DotF16"/> multiplies, so each fused multiply-add rounds the same:
    /// 4 instructions per 8 weights instead of 8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotF16Scaled(ushort* w, float* xs, float* x, int n)
    {
        short* h = (short*)w;
        var mask = Vector256.Create(unchecked((int)0x8FFFFFFF));
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Fma.MultiplyAdd(Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h + i), 13), mask).AsSingle(), Avx.LoadVector256(xs + i), a0);
            a1 = Fma.MultiplyAdd(Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h + i + 8), 13), mask).AsSingle(), Avx.LoadVector256(xs + i + 8), a1);
            a2 = Fma.MultiplyAdd(Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h + i + 16), 13), mask).AsSingle(), Avx.LoadVector256(xs + i + 16), a2);
            a3 = Fma.MultiplyAdd(Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h + i + 24), 13), mask).AsSingle(), Avx.LoadVector256(xs + i + 24), a3);
        }
        for (; i + 8 <= n; i += 8)
            a0 = Fma.MultiplyAdd(Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h + i), 13), mask).AsSingle(), Avx.LoadVector256(xs + i), a0);
        float s = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) s += (float)BitConverter.UInt16BitsToHalf(w[i]) * x[i];
        return s;
    }

    /// <summary>sum_i w[i] * x[i] with w in int8 (the row's scale is applied by the caller), accumulated in float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotI8(sbyte* w, float* x, int n)
    {
        int i = 0;
        float s = 0;
        if (UseAvx2)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i)), Avx.LoadVector256(x + i), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 8)), Avx.LoadVector256(x + i + 8), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 16)), Avx.LoadVector256(x + i + 16), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 24)), Avx.LoadVector256(x + i + 24), a3);
            }
            for (; i + 8 <= n; i += 8)
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i)), Avx.LoadVector256(x + i), a0);
            s = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }

    /// <summary>sum over blocks b of scale[b] * (sum_i in b of w[i] * x[i]), blocks of <paramref name="block"/> int8 weights (a multiple of 8 on the AVX2 path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotI8Blocks(sbyte* w, float* scales, float* x, int n, int block)
    {
        if (UseAvx2 && block == 32)
        {
            Vector256<float> a0 = default, a1 = default;
            int b = 0, i = 0;
            for (; i + 64 <= n; i += 64, b += 2)
            {
                var t0 = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i)), Avx.LoadVector256(x + i));
                var t1 = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 32)), Avx.LoadVector256(x + i + 32));
                t0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 8)), Avx.LoadVector256(x + i + 8), t0);
                t1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 40)), Avx.LoadVector256(x + i + 40), t1);
                t0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 16)), Avx.LoadVector256(x + i + 16), t0);
                t1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 48)), Avx.LoadVector256(x + i + 48), t1);
                t0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 24)), Avx.LoadVector256(x + i + 24), t0);
                t1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 56)), Avx.LoadVector256(x + i + 56), t1);
                a0 = Fma.MultiplyAdd(t0, Vector256.Create(scales[b]), a0);
                a1 = Fma.MultiplyAdd(t1, Vector256.Create(scales[b + 1]), a1);
            }
            for (; i < n; i += 32, b++)
            {
                var t = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i)), Avx.LoadVector256(x + i));
                t = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 8)), Avx.LoadVector256(x + i + 8), t);
                t = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 16)), Avx.LoadVector256(x + i + 16), t);
                t = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(w + i + 24)), Avx.LoadVector256(x + i + 24), t);
                a0 = Fma.MultiplyAdd(t, Vector256.Create(scales[b]), a0);
            }
            return Vector256.Sum(a0 + a1);
        }
        float s = 0;
        for (int b = 0, i = 0; i < n; i += block, b++) s += DotI8(w + i, x + i, block) * scales[b];
        return s;
    }

    /// <summary>y += a * x over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float a, float* x, float* y, int n)
    {
        int i = 0;
        if (UseAvx2)
        {
            var va = Vector256.Create(a);
            for (; i + 8 <= n; i += 8) Avx.Store(y + i, Fma.MultiplyAdd(va, Avx.LoadVector256(x + i), Avx.LoadVector256(y + i)));
        }
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>Sum of n floats (the bandwidth probe's inner loop: reads only).</summary>
    public static float Sum(float* x, long n)
    {
        long i = 0;
        float s = 0;
        if (UseAvx2)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 += Avx.LoadVector256(x + i);
                a1 += Avx.LoadVector256(x + i + 8);
                a2 += Avx.LoadVector256(x + i + 16);
                a3 += Avx.LoadVector256(x + i + 24);
            }
            s = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            int lanes = Vector<float>.Count;
            Vector<float> a = default;
            for (; i + lanes <= n; i += lanes) a += Unsafe.ReadUnaligned<Vector<float>>(x + i);
            s = Vector.Sum(a);
        }
        for (; i < n; i++) s += x[i];
        return s;
    }

    /// <summary>LayerNorm of one vector: y = (x - mean) / sqrt(var + eps) * g + b (b may be null), as torch computes it (biased variance).</summary>
    public static void LayerNorm(float* x, float* g, float* b, float* y, int n, float eps)
    {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) { double d = x[i] - mean; var += d * d; }
        var /= n;
        float rstd = (float)(1.0 / Math.Sqrt(var + eps)), m = (float)mean;
        for (int i = 0; i < n; i++) y[i] = (x[i] - m) * rstd * g[i] + (b != null ? b[i] : 0f);
    }

    /// <summary>GELU with the tanh approximation (GPT-2's gelu_new), in place.</summary>
    public static void GeluTanh(float* x, int n)
    {
        const float k = 0.7978845608028654f, c = 0.044715f;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vk = Vector256.Create(k); var vc = Vector256.Create(c);
            var half = Vector256.Create(0.5f); var one = Vector256.Create(1f); var two = Vector256.Create(2f);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Load(x + i);
                var u = vk * (v + vc * v * v * v);
                // tanh(u) = 1 - 2 / (exp(2u) + 1), exact at the extremes (exp overflows to inf -> 1, underflows to 0 -> -1)
                var t = one - two / (Vector256.Exp(two * u) + one);
                Vector256.Store(half * v * (one + t), x + i);
            }
        }
        for (; i < n; i++) { float v = x[i]; x[i] = 0.5f * v * (1f + MathF.Tanh(k * (v + c * v * v * v))); }
    }
}
