using PicoGpt.Decode;
using PicoGpt.Model;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using PicoGpt.Training;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>The C# decoder (PicoGpt.Decode): kernels against torch, int8 round trips, greedy ids against the TorchSharp path, int8 quality.</summary>
[Collection("console")]
public class FastDecoderTests
{
    static string Shipped => Path.Combine(TestPaths.RepoRoot, "weights", "shakespeare-char");

    /// <summary>y = W x + b by a packed layer (all output rows, on one thread).</summary>
    static float[] MatVec(PackedLinear l, float[] x)
    {
        var y = new float[l.Out];
        l.MatVec(x, y);
        return y;
    }

    static (float[] W, float[] B, float[] X) Random(int o, int i, int seed)
    {
        var g = new Random(seed);
        float R() => (float)(g.NextDouble() * 2 - 1);
        return (Enumerable.Range(0, o * i).Select(_ => R() * 0.1f).ToArray(), Enumerable.Range(0, o).Select(_ => R()).ToArray(), Enumerable.Range(0, i).Select(_ => R()).ToArray());
    }

    static float[] TorchLinear(float[] w, float[] b, float[] x, int o, int i)
    {
        using var scope = torch.NewDisposeScope();
        var y = nn.functional.linear(torch.tensor(x).view(1, i), torch.tensor(w, new long[] { o, i }), torch.tensor(b));   // [1, O]
        return y.data<float>().ToArray();
    }

    static void AssertClose(float[] expected, float[] actual, double rel, string what)
    {
        double scale = expected.Max(v => Math.Abs(v));
        double worst = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= rel * scale, $"{what}: largest difference {worst:G3} exceeds {rel:G2} x max|y| = {rel * scale:G3}");
    }

    [Theory]
    [InlineData(true, 67, 768)]     // AVX2 path with an odd row count
    [InlineData(true, 40, 100)]     // a length that is not a multiple of 8 (tails)
    [InlineData(false, 33, 200)]    // the Vector<T>/scalar fallback
    public void F32MatVecEqualsTorchLinear(bool avx2, int o, int i)
    {
        bool was = Kernels.UseAvx2;
        Kernels.UseAvx2 = avx2 && was;
        try
        {
            var (w, b, x) = Random(o, i, 1);
            using var l = new PackedLinear(w, b, o, i, DecodeDType.F32);
            AssertClose(TorchLinear(w, b, x, o, i), MatVec(l, x), 1e-5, "f32 mat-vec vs torch");
        }
        finally { Kernels.UseAvx2 = was; }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void F16MatVecEqualsTorchOnHalfRoundedWeights(bool avx2)
    {
        bool was = Kernels.UseAvx2;
        Kernels.UseAvx2 = avx2 && was;
        try
        {
            var (w, b, x) = Random(50, 264, 2);
            w[0] = 3e-6f; w[1] = -5e-8f; w[2] = 0f; w[3] = -0f; w[4] = 60000f;   // a subnormal half, a flush to zero, signed zeros, a large value
            using var l = new PackedLinear(w, b, 50, 264, DecodeDType.F16);
            var wh = w.Select(v => (float)(Half)v).ToArray();
            AssertClose(TorchLinear(wh, b, x, 50, 264), MatVec(l, x), 1e-5, "f16 mat-vec vs torch on the same half weights");
            var row = new float[264];
            l.ReadRow(0, row);
            Assert.Equal(wh.Take(264), row);                                   // widening is exact, subnormals included
        }
        finally { Kernels.UseAvx2 = was; }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Int8MatVecEqualsTorchOnDequantizedWeights(bool avx2)
    {
        bool was = Kernels.UseAvx2;
        Kernels.UseAvx2 = avx2 && was;
        try
        {
            int o = 70, i = 392;
            var (w, b, x) = Random(o, i, 3);
            for (int k = 0; k < i; k++) w[5 * i + k] = 0;                      // an all-zero row: scale 0
            using var l = new PackedLinear(w, b, o, i, DecodeDType.Int8);
            var q = new sbyte[o * i];
            var s = new float[o];
            Int8Quantization.QuantizeRows(w, o, i, q, s);
            var deq = Int8Quantization.Dequantize(q, s, o, i);
            AssertClose(TorchLinear(deq, b, x, o, i), MatVec(l, x), 1e-5, "int8 mat-vec vs torch on the dequantized weights");
        }
        finally { Kernels.UseAvx2 = was; }
    }

    [Fact]
    public void Int8RoundTripErrsByAtMostHalfAScaleStep()
    {
        var (w, _, _) = Random(30, 500, 4);
        w[7] = 5f; w[600] = -3f;                                               // outliers set their rows' scales
        var q = new sbyte[w.Length];
        var s = new float[30];
        Int8Quantization.QuantizeRows(w, 30, 500, q, s);
        Assert.Equal(5f / 127, s[0], 6);
        Assert.Equal(127, q[7]);
        Assert.Equal(-127, q[600]);
        var back = Int8Quantization.Dequantize(q, s, 30, 500);
        for (int k = 0; k < w.Length; k++)
            Assert.True(Math.Abs(back[k] - w[k]) <= s[k / 500] / 2 * (1 + 1e-5), $"weight {k}: {w[k]} -> {back[k]}, scale {s[k / 500]}");
        Assert.Throws<PicoGptException>(() => Int8Quantization.QuantizeRows(new[] { 1f, float.NaN }, 1, 2, new sbyte[2], new float[1]));
    }

    [Fact]
    public void WorkerPoolRunsEveryChunkOnceAcrossManyJobs()
    {
        using var pool = new WorkerPool(3);
        var job = new CountingJob(1000);
        for (int round = 0; round < 200; round++) pool.Run(1000, job);
        Assert.All(job.Hits, h => Assert.Equal(200, h));
    }

    sealed class CountingJob(int n) : IChunkJob
    {
        public int[] Hits { get; } = new int[n];
        public void Run(int chunk) => Interlocked.Increment(ref Hits[chunk]);
    }

    static readonly string[] Prompts = { "ROMEO:", "JULIET:\nO ", "First Citizen:\nWe are", "KING HENRY:\n", "To be, or not" };

    static int[] TorchGreedy(Gpt model, int[] prompt, int n)
        => Generation.Generate(model, prompt, new GenerateOptions { MaxNewTokens = n, Temperature = 0 }).ToArray();

    [Fact]
    public void F32GreedyIdsEqualTheTorchSharpPathOnTheShippedModel()
    {
        using var model = Gpt2Checkpoint.Load(Shipped, CPU);
        using var fast = FastDecoder.FromModel(model, DecodeDType.F32, threads: 2);
        var tok = Tokenizer.Load(Shipped);
        foreach (var p in Prompts)
        {
            var ids = tok.Encode(p);
            // 200 new tokens: past the 128-token context, so the restart from half a window is exercised too
            Assert.Equal(TorchGreedy(model, ids, 200), fast.Generate(ids, new GenerateOptions { MaxNewTokens = 200, Temperature = 0 }).ToArray());
        }
    }

    [Fact]
    public void F32LogitsAndGreedyIdsEqualTheTorchSharpPathOnAGpt2LayoutModel()
    {
        var cfg = GptConfig.Gpt2 with { NLayer = 2, Dropout = 0 };               // GPT-2's widths and vocabulary, 2 layers to stay quick
        using var model = new Gpt(cfg, CPU, seed: 5);
        using var fast = FastDecoder.FromModel(model, DecodeDType.F32, threads: 2);
        var prompt = new[] { 464, 2068, 7586, 21831 };
        float[] expected;
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
            expected = model.Forward(torch.tensor(prompt.Select(i => (long)i).ToArray()), lastOnly: true)[0, 0].data<float>().ToArray();
        AssertClose(expected, fast.LastLogits(prompt), 1e-5, "logits of the last position");
        Assert.Equal(TorchGreedy(model, prompt, 24), fast.Generate(prompt, new GenerateOptions { MaxNewTokens = 24, Temperature = 0 }).ToArray());
    }

    [Fact]
    public void SeededSamplingEqualsTheTorchSharpPath()
    {
        using var model = Gpt2Checkpoint.Load(Shipped, CPU);
        using var fast = FastDecoder.FromModel(model, DecodeDType.F32, threads: 2);
        var o = new GenerateOptions { MaxNewTokens = 60, Temperature = 0.8, TopK = 20, Seed = 11 };
        var ids = Tokenizer.Load(Shipped).Encode("ROMEO:");
        Assert.Equal(Generation.Generate(model, ids, o).ToArray(), fast.Generate(ids, o).ToArray());
    }

    [Fact]
    public void DecoderStateErrorsAreClear()
    {
        using var model = new Gpt(GptConfig.Tiny, CPU, seed: 1);
        using var fast = FastDecoder.FromModel(model, DecodeDType.Int8, threads: 1);
        using var s = fast.NewSession();
        Assert.Contains("outside the vocabulary", Assert.Throws<PicoGptException>(() => fast.Step(s, 96).ToArray()).Message);
        for (int i = 0; i < GptConfig.Tiny.ContextLength; i++) fast.Step(s, 1, logits: false);
        Assert.Contains("session is full", Assert.Throws<PicoGptException>(() => fast.Step(s, 1).ToArray()).Message);
        Assert.Contains("empty", Assert.Throws<PicoGptException>(() => fast.Generate(Array.Empty<int>(), new GenerateOptions())).Message);
    }
}
