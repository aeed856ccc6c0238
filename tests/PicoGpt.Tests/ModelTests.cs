using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

public class ModelTests
{
    [Fact]
    public void Gpt2PresetHas124439808Parameters()
    {
        Assert.Equal(124_439_808L, GptConfig.Gpt2.ParameterCount);
        Assert.Equal(124_439_808L, Gpt.CountParameters(GptConfig.Gpt2)); // the real module, built on the meta device
        // the published sizes of the larger presets (tied head): 355M, 774M, 1558M
        Assert.Equal(354_823_168L, Gpt.CountParameters(GptConfig.Gpt2Medium));
        Assert.Equal(774_030_080L, GptConfig.Gpt2Large.ParameterCount);
        Assert.Equal(1_557_611_200L, GptConfig.Gpt2Xl.ParameterCount);
    }

    [Fact]
    public void ParameterCountsByPartAndTheirVariants()
    {
        var p = GptConfig.Gpt2.CountParameters();
        Assert.Equal(38_597_376L, p.TokenEmbedding);                        // 50,257 × 768
        Assert.Equal(786_432L, p.PositionEmbedding);                        // 1,024 × 768
        Assert.Equal(2_362_368L, p.AttentionPerBlock);                      // c_attn 768 × 2,304 + 2,304, c_proj 768 × 768 + 768
        Assert.Equal(4_722_432L, p.MlpPerBlock);                            // c_fc 768 × 3,072 + 3,072, c_proj 3,072 × 768 + 768
        Assert.Equal(3_072L, p.NormsPerBlock);
        Assert.Equal(7_087_872L, p.PerBlock);
        Assert.Equal(1_536L, p.FinalNorm);
        Assert.Equal(0L, p.Head);
        Assert.Equal(124_439_808L, p.Total);
        Assert.Equal(163_037_184L, GptConfig.Gpt2.CountParameters(tiedHead: false).Total);   // a separate head: another 50,257 × 768
        var noQkvBias = GptConfig.Gpt2 with { QkvBias = false };                             // LLMs-from-scratch's GPT_CONFIG_124M
        Assert.Equal(163_009_536L, noQkvBias.CountParameters(tiedHead: false).Total);
        Assert.Equal(124_412_160L, noQkvBias.ParameterCount);
        var padded = GptConfig.Gpt2 with { VocabSize = 50304 };                              // nanoGPT: 47 rows more
        Assert.Equal(124_475_904L, padded.ParameterCount);
        Assert.Equal(123_689_472L, padded.ParameterCount - padded.CountParameters().PositionEmbedding);   // nanoGPT prints 123.69M
        // the formula against the real module, built on the meta device
        foreach (var c in new[] { noQkvBias, padded, GptConfig.Gpt2 with { Bias = false }, GptConfig.Gpt2Large, GptConfig.Gpt2Xl })
            Assert.Equal(Gpt.CountParameters(c), c.ParameterCount);
    }

    [Fact]
    public void ModuleCountMatchesFormulaForSmallConfigs()
    {
        foreach (var c in new[] { GptConfig.Tiny, GptConfig.ShakespeareChar, GptConfig.Tiny with { Bias = false }, GptConfig.Tiny with { QkvBias = false } })
        {
            using var m = new Gpt(c, CPU, seed: 1);
            Assert.Equal(c.ParameterCount, m.ParameterCount);
        }
    }

    [Fact]
    public void ReferenceOpsAndModuleGiveTheSameLogits()
    {
        using var m = new Gpt(GptConfig.Tiny, CPU, ScalarType.Float64, seed: 3);
        RandomizeAll(m, 4);
        var ids = torch.tensor(new long[] { 5, 17, 3, 90, 42, 42, 0, 7 });
        var fromModule = m.Forward(ids)[0];                                        // [T, V]
        var fromOps = Ops.Gpt2(ids, m.ToParams(), GptConfig.Tiny.NHead);           // [T, V]
        Assert.Equal(new long[] { 8, 96 }, fromOps.shape);
        double maxErr = (fromModule - fromOps).abs().max().item<double>();
        Assert.True(maxErr < 1e-10, $"max |module - ops| = {maxErr}");
        Assert.True(fromOps.std().item<double>() > 0.1, "logits should not be degenerate");
    }

    [Fact]
    public void ReferenceOpsAndModuleAgreeWithoutQkvBias()
    {
        var c = GptConfig.Tiny with { QkvBias = false };
        using var m = new Gpt(c, CPU, ScalarType.Float64, seed: 3);
        RandomizeAll(m, 5);
        var p = m.ToParams();
        Assert.Equal(0.0, p.Blocks[0].Attn.CAttn.B.abs().max().item<double>());      // the absent bias reads as zeros
        Assert.True(p.Blocks[0].Attn.CProj.B.abs().max().item<double>() > 0.1);
        var ids = torch.tensor(new long[] { 5, 17, 3, 90 });
        double maxErr = (m.Forward(ids)[0] - Ops.Gpt2(ids, p, c.NHead)).abs().max().item<double>();
        Assert.True(maxErr < 1e-10, $"max |module - ops| = {maxErr}");
    }

    [Fact]
    public void CachedForwardEqualsFullRecomputationOver50Steps()
    {
        var c = GptConfig.Tiny with { ContextLength = 64 };
        using var m = new Gpt(c, CPU, seed: 5);
        RandomizeAll(m, 6);
        torch.manual_seed(7);
        var seq = torch.randint(0, c.VocabSize, new long[] { 2, 60 });             // batch 2
        using var cache = new KvCache(c, 2, 64, ScalarType.Float32, CPU);
        using var _ = torch.no_grad();
        // prompt of 7 positions in one step, then single positions: crosses from prompt to generated tokens
        var first = m.Forward(seq.narrow(1, 0, 7), cache);
        var full = m.Forward(seq.narrow(1, 0, 7));
        AssertClose(full, first, 1e-5);
        double worst = 0;
        for (int t = 7; t < 60; t++)
        {
            using var scope = torch.NewDisposeScope();
            var step = m.Forward(seq.narrow(1, t, 1), cache);                       // [2, 1, V]
            var reference = m.Forward(seq.narrow(1, 0, t + 1)).narrow(1, t, 1);     // [2, 1, V]
            worst = Math.Max(worst, (step - reference).abs().max().item<float>());
        }
        Assert.Equal(60, cache.Length);
        Assert.True(worst < 1e-5, $"max |cached - full| over 53 steps = {worst}");
        // several positions at once after a prefix (the explicit-mask path)
        cache.Reset();
        m.Forward(seq.narrow(1, 0, 10), cache);
        var chunk = m.Forward(seq.narrow(1, 10, 5), cache);
        AssertClose(m.Forward(seq.narrow(1, 0, 15)).narrow(1, 10, 5), chunk, 1e-5);
    }

    [Fact]
    public void AttentionCaptureIsCausalNormalisedAndDoesNotChangeLogits()
    {
        using var m = new Gpt(GptConfig.Tiny, CPU, seed: 9);
        RandomizeAll(m, 10);
        var ids = torch.tensor(new long[] { 1, 2, 3, 4, 5, 6 });
        var maps = new List<Tensor>();
        var withCapture = m.Forward(ids, attention: maps);
        AssertClose(m.Forward(ids), withCapture, 1e-5);
        var w = m.AttentionWeights(ids);                                            // [L, H, T, T]
        Assert.Equal(new long[] { 2, 4, 6, 6 }, w.shape);
        AssertClose(torch.ones(2, 4, 6), w.sum(-1), 1e-5);
        Assert.Equal(0f, w.triu(1).abs().max().item<float>());                      // nothing above the diagonal
        Assert.Equal(1f, w[0, 0, 0, 0].item<float>(), 5);                           // the first token sees only itself
    }

    [Fact]
    public void HalfPrecisionModelsRunAndStayClose()
    {
        using var m32 = new Gpt(GptConfig.Tiny, CPU, seed: 11);
        var ids = torch.tensor(new long[] { 3, 1, 4, 1, 5, 9, 2, 6 });
        var reference = m32.Forward(ids);
        foreach (var dt in new[] { ScalarType.Float16, ScalarType.BFloat16 })
        {
            using var m = new Gpt(GptConfig.Tiny, CPU, dt, seed: 11);
            Assert.Equal(dt, m.DType);
            var logits = m.Forward(ids);
            Assert.Equal(dt, logits.dtype);
            double err = (logits.to(ScalarType.Float32) - reference).abs().max().item<float>();
            Assert.True(err < 0.05, $"{dt}: max error {err}");
        }
    }

    [Fact]
    public void BadIdsAndLengthsGiveClearErrors()
    {
        using var m = new Gpt(GptConfig.Tiny, CPU, seed: 1);
        var e1 = Assert.Throws<PicoGptException>(() => m.Forward(torch.tensor(new long[] { 1, 96 })));
        Assert.Contains("token id 96 is outside the vocabulary [0, 96)", e1.Message);
        var e2 = Assert.Throws<PicoGptException>(() => m.Forward(torch.tensor(new long[] { -1 })));
        Assert.Contains("token id -1", e2.Message);
        var e3 = Assert.Throws<PicoGptException>(() => m.Forward(torch.zeros(1, 33, dtype: ScalarType.Int64)));
        Assert.Contains("33 tokens is longer than the context length 32", e3.Message);
    }

    [Fact]
    public void ConfigRejectsHeadsThatDoNotDivideTheWidth()
    {
        var e = Assert.Throws<PicoGptException>(() => new Gpt(GptConfig.Tiny with { NHead = 5 }, CPU));
        Assert.Contains("n_embd (32) must be divisible by n_head (5)", e.Message);
    }

    /// <summary>Random weights of a visible scale (the default init makes logits nearly uniform).</summary>
    internal static void RandomizeAll(Gpt m, long seed)
    {
        torch.manual_seed(seed);
        using var _ = torch.no_grad();
        foreach (var p in m.parameters())
            p.copy_(torch.randn_like(p) * (p.dim() == 1 ? 0.2 : 0.3) + (p.dim() == 1 ? 0.5 : 0));
    }

    internal static void AssertClose(Tensor expected, Tensor actual, double tol)
    {
        Assert.Equal(expected.shape, actual.shape);
        double err = (expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(err <= tol, $"max abs error {err} > {tol}");
    }
}

public class OpsTests
{
    [Fact]
    public void MismatchedMatmulIsAClearErrorNotAProcessAbort()
    {
        var e = Assert.Throws<PicoGptException>(() => Ops.Linear(torch.ones(4, 3), torch.ones(4, 5), torch.zeros(5)));
        Assert.Equal("matmul shapes do not fit: [4, 3] @ [4, 5] (the last dimension of the left, 3, must equal the second-to-last dimension of the right, 4)", e.Message);
        Assert.Contains("batch dimensions do not broadcast", Assert.Throws<PicoGptException>(() => Ops.MatMul(torch.ones(2, 4, 3), torch.ones(5, 3, 2))).Message);
        Assert.Contains("dtypes differ", Assert.Throws<PicoGptException>(() => Ops.MatMul(torch.ones(2, 2), torch.ones(2, 2, dtype: ScalarType.Float64))).Message);
        Assert.Equal(new long[] { 2, 4, 2 }, Ops.MatMul(torch.ones(2, 4, 3), torch.ones(1, 3, 2)).shape);
    }

    [Fact]
    public void PublishedOpValues()
    {
        var g = Ops.Gelu(torch.tensor(new[] { 1.0, 2.0, -4.0 })).data<double>().ToArray();
        Assert.Equal(0.841192, g[0], 6);
        Assert.Equal(1.954598, g[1], 6);
        Assert.Equal(-7.0246e-05, g[2], 8);
        var s = Ops.Softmax(torch.tensor(new[] { 2.0, 100, -5, 0 }, 2, 2)).data<double>().ToArray();
        Assert.InRange(s[0], 2.74878500e-43, 2.74878502e-43);
        Assert.Equal(6.69285092e-03, s[2], 10);
        Assert.Equal(9.93307149e-01, s[3], 9);
        Assert.False(Ops.Softmax(torch.tensor(new[] { 1000.0, 1001.0 })).isnan().any().item<bool>());
        var ln = Ops.LayerNorm(torch.tensor(new[] { 2.0, 2, 3, -5, 0, 1 }, 2, 3), torch.ones(3, dtype: ScalarType.Float64), torch.zeros(3, dtype: ScalarType.Float64)).data<double>().ToArray();
        var want = new[] { -0.70709087, -0.70709087, 1.41418174, -1.39700038, 0.50800014, 0.88900024 };
        for (int i = 0; i < 6; i++) Assert.Equal(want[i], ln[i], 7);
    }
}
