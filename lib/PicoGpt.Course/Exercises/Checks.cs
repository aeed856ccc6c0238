using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

/// <summary>
/// Exercise checks: each runs the learner's function on several named cases (published values, random shapes with
/// extra batch dimensions, float32 and float64, edge cases) and compares with the reference in <see cref="Ops"/> or
/// <see cref="Sampler"/>. A failure names the case, expected vs got and the tolerance, and diagnoses known mistakes.
/// Checks never throw: a stub that throws NotImplementedException gives a "not implemented yet" result.
/// Tolerances (absolute): 1e-9 for float64 and 1e-5 for float32 on single ops, 1e-4 for float32 through a whole block.
/// </summary>
public static partial class Checks
{
    const double F64 = 1e-9, F32 = 1e-5, F32Deep = 1e-4;
    const double Eps = 1e-5;
    const string FutureVisible = "future positions are visible: apply the mask before the softmax (add it to the scores q·kᵀ/√d_k)";

    // ---------------------------------------------------------------- helpers

    /// <summary>Changes the last position of the input: if any earlier output row moves, the future leaked into the past.</summary>
    static string? FutureLeaks(Func<Tensor, Tensor> f, Func<Tensor> input) // input [n_seq, ...]
    {
        using var scope = torch.NewDisposeScope();
        var x = input();
        var changed = x.clone();
        changed[-1] = changed[-1].flip(-1) * -2;                                  // not a constant shift: layer norm would undo that
        var a = f(x); var b = f(changed);
        long n = a.shape[0] - 1;
        return n > 0 && !CheckEngine<Tensor>.Matches(a.narrow(0, 0, n), b.narrow(0, 0, n), 1e-6)
            ? "future positions are visible: changing the last token changed the outputs before it; apply the causal mask before the softmax"
            : null;
    }

    static string? FutureLeaksIds(Func<Tensor, Tensor> f)
    {
        using var scope = torch.NewDisposeScope();
        var a = f(Ids([7, 2, 6, 5, 3]));
        var b = f(Ids([7, 2, 6, 5, 1]));
        return !CheckEngine<Tensor>.Matches(a.narrow(0, 0, 4), b.narrow(0, 0, 4), 1e-6)
            ? "future positions are visible: changing the last token changed the logits before it; attention needs the causal mask"
            : null;
    }

    static bool ShapeError(Exception e)
    {
        var m = e.Message;
        return m.Contains("cannot be multiplied") || m.Contains("do not fit") || m.Contains("do not broadcast") || m.Contains("size mismatch") || m.Contains("must match the size")
            || m.Contains("shape") && m.Contains("invalid") || m.Contains("mismatch") || m.Contains("must be a matrix")
            || m.Contains("Expected size") || m.Contains("Dimension out of range") || m.Contains("dimensions");
    }

    /// <summary>A hint when an in-place op (b.add_(...), g.mul_(...)) was asked to write a broadcast result into a smaller tensor.</summary>
    static string? InPlaceShape(Exception e) =>
        e.Message.Contains("doesn't match the broadcast shape")
            ? "an op ending in _ (add_, mul_, sub_, div_) writes its result into the tensor it is called on, which is smaller than the result here; " +
              "and it would change the caller's tensor: use +, -, *, / (or add, mul without _), which return a new tensor"
            : null;

    static bool HasNonFinite(Tensor t) => !t.isfinite().all().item<bool>();

    // inputs: fixed values, and seeded normal values (our own generator, so the learner's torch seed is untouched)
    static Tensor T(double[][] rows) => torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length], dtype: Float64);
    static Tensor T1(double[] values) => torch.tensor(values, dtype: Float64);
    static Tensor Ids(long[] ids) => torch.tensor(ids, dtype: ScalarType.Int64);

    static Tensor R(int seed, ScalarType dtype, params long[] shape)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[n];
        for (long i = 0; i < n; i++)                                           // Box-Muller
            values[i] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        return torch.tensor(values, shape, dtype: Float64).to(dtype);
    }

    static LinearParams Lin(int seed, long nIn, long nOut, ScalarType dt) => new(R(seed, dt, nIn, nOut) / Math.Sqrt(nIn), R(seed + 1000, dt, nOut) * 0.1);
    static LayerNormParams Norm(int seed, long n, ScalarType dt) => new(R(seed, dt, n) * 0.3 + 1, R(seed + 1000, dt, n) * 0.1);
    static AttentionParams Attn(int seed, long c, ScalarType dt) => new(Lin(seed, c, 3 * c, dt), Lin(seed + 1, c, c, dt));
    static FeedForwardParams Mlp(int seed, long c, ScalarType dt) => new(Lin(seed, c, 4 * c, dt), Lin(seed + 1, 4 * c, c, dt));
    static BlockParams Block(int seed, long c, ScalarType dt) => new(Norm(seed, c, dt), Attn(seed + 10, c, dt), Norm(seed + 20, c, dt), Mlp(seed + 30, c, dt));

    /// <summary>A tiny random GPT-2: vocab 8, context 16, n_embd 8, 2 layers (use 2 heads).</summary>
    internal static Gpt2Params Tiny(int seed, ScalarType dt, int vocab = 8, int ctx = 16, int c = 8, int layers = 2) =>
        new(R(seed, dt, vocab, c), R(seed + 1, dt, ctx, c) * 0.5, Enumerable.Range(0, layers).Select(l => Block(seed + 100 * (l + 1), c, dt)).ToArray(), Norm(seed + 2, c, dt));
}
