using System.Text.Json;
using PicoGpt.Model;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

public class SamplingTests
{
    static Tensor T(params float[] v) => torch.tensor(v);
    static bool[] Kept(Tensor filtered) => filtered.isfinite().data<bool>().ToArray();

    [Fact]
    public void TopKMatchesThePublishedExample()
    {
        var logits = T(4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f);
        var p = Sampler.Probabilities(logits, 1.0, topK: 3).data<float>().ToArray();
        var expected = new[] { 0.0615, 0, 0, 0.5775, 0, 0, 0, 0.3610, 0 };
        for (int i = 0; i < 9; i++) Assert.Equal(expected[i], p[i], 4);
    }

    [Fact]
    public void TopKKeepsTiesAtTheKthValue()
    {
        Assert.Equal(new[] { true, true, true, false }, Kept(Sampler.TopK(T(3, 2, 2, 1), 2)));
        Assert.Equal(new[] { true, true, true, true }, Kept(Sampler.TopK(T(3, 2, 2, 1), 4)));
        Assert.Equal(new[] { false, true, false }, Kept(Sampler.TopK(T(1, 5, 2), 1)));
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // probabilities 0.5, 0.25, 0.125, 0.125 (logits are log-probs)
        var logits = T(MathF.Log(0.5f), MathF.Log(0.25f), MathF.Log(0.125f), MathF.Log(0.125f));
        Assert.Equal(new[] { true, false, false, false }, Kept(Sampler.TopP(logits, 0.5)));   // 0.5 reaches 0.5
        Assert.Equal(new[] { true, true, false, false }, Kept(Sampler.TopP(logits, 0.6)));
        Assert.Equal(new[] { true, true, false, false }, Kept(Sampler.TopP(logits, 0.75)));
        Assert.Equal(new[] { true, true, true, true }, Kept(Sampler.TopP(logits, 1.0)));     // p = 1 keeps all
        Assert.Equal(new[] { true, false, false, false }, Kept(Sampler.TopP(logits, 1e-9)));  // the top token always stays
        var batch = torch.stack(new[] { logits, logits.flip(0) });                          // rows are independent
        Assert.Equal(new[] { true, true, false, false, false, false, true, true }, Kept(Sampler.TopP(batch, 0.6)).ToArray());
    }

    [Theory]
    [InlineData(-1.0, null, null, "temperature must be >= 0")]
    [InlineData(1.0, 0, null, "top-k must be at least 1, got 0")]
    [InlineData(1.0, null, 0.0, "top-p must be in (0, 1], got 0")]
    [InlineData(1.0, null, 1.5, "top-p must be in (0, 1], got 1.5")]
    public void BadSamplingArgumentsAreRefused(double t, int? k, double? p, string message)
    {
        var e = Assert.Throws<PicoGptException>(() => new GenerateOptions { Temperature = t, TopK = k, TopP = p }.Validate(10));
        Assert.Contains(message, e.Message);
    }
}

public class GenerationTests
{
    static readonly string Golden = Path.Combine(TestPaths.Fixtures, "golden");
    static Gpt Tiny() => Gpt2Checkpoint.Load(Path.Combine(Golden, "tiny-plain"), CPU);

    [Theory, InlineData(true), InlineData(false)]
    public void GreedyMatchesTheIndependentReference(bool cache)
    {
        var g = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden, "expected.json"))).RootElement.GetProperty("f32").GetProperty("greedy");
        var want = g.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var m = Tiny();
        var got = Generation.Generate(m, new[] { 10, 20, 30 }, new GenerateOptions { MaxNewTokens = 12, Temperature = 0, UseCache = cache }).ToArray();
        Assert.Equal(want, got);
    }

    [Fact]
    public void GreedyReferenceEqualsGenerateAcrossTheContext()
    {
        using var m = Tiny();                                                          // context 32
        int[] prompt = [10, 20, 30];
        var ids = torch.tensor(prompt.Select(i => (long)i).ToArray()).unsqueeze(0);     // [1, 3]
        var greedy = Generation.Greedy(x => m.Forward(x), ids, 40, m.Config.ContextLength);   // 43 > 32: the window slides
        Assert.Equal(new long[] { 1, 43 }, greedy.shape);
        Assert.Equal(prompt.Select(i => (long)i), greedy[0, ..3].data<long>().ToArray());
        var newIds = greedy[0, 3..].data<long>().ToArray().Select(i => (int)i).ToArray();
        var o = new GenerateOptions { MaxNewTokens = 40, Temperature = 0, UseCache = false };
        Assert.Equal(Generation.Generate(m, prompt, o).ToArray(), newIds);
        // with the cache, the same while the sequence fits the context (3 + 29 = 32 positions)
        Assert.Equal(Generation.Generate(m, prompt, o with { MaxNewTokens = 29, UseCache = true }).ToArray(), newIds.Take(29).ToArray());
        Assert.Same(ids, Generation.Greedy(x => m.Forward(x), ids, 0, 32));           // nothing to add
    }

    [Fact]
    public void GreedyReferenceTreatsRowsIndependently()
    {
        using var m = Tiny();
        var batch = torch.tensor(new long[] { 10, 20, 30, 5, 6, 7 }).reshape(2, 3);
        var both = Generation.Greedy(x => m.Forward(x), batch, 8, 32);
        for (int r = 0; r < 2; r++)
            Assert.Equal(Generation.Greedy(x => m.Forward(x), batch[r..(r + 1)], 8, 32).data<long>().ToArray(), both[r].data<long>().ToArray());
    }

    [Fact]
    public void CachedAndUncachedSamplingAgreeUpToTheContext()
    {
        using var m = Tiny();
        var o = new GenerateOptions { MaxNewTokens = 29, Temperature = 0.9, TopK = 20, Seed = 4 };
        var withCache = Generation.Generate(m, new[] { 1, 2, 3 }, o).ToArray();
        var without = Generation.Generate(m, new[] { 1, 2, 3 }, o with { UseCache = false }).ToArray();
        Assert.Equal(29, withCache.Length);
        Assert.Equal(without, withCache);
    }

    [Fact]
    public void SeedsReproduceAndDiffer()
    {
        using var m = Tiny();
        var o = new GenerateOptions { MaxNewTokens = 20, Temperature = 1.0, Seed = 123 };
        var a = Generation.Generate(m, new[] { 5 }, o).ToArray();
        var b = Generation.Generate(m, new[] { 5 }, o).ToArray();
        var c = Generation.Generate(m, new[] { 5 }, o with { Seed = 124 }).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void GenerationRunsPastTheContextAndCropsLongPrompts()
    {
        using var m = Tiny();
        var warnings = new List<string>();
        var prompt = Enumerable.Range(0, 40).Select(i => i % 96).ToArray();
        var ids = Generation.Generate(m, prompt, new GenerateOptions { MaxNewTokens = 50, Temperature = 0 }, warnings.Add).ToArray();
        Assert.Equal(50, ids.Length);
        Assert.Equal("the prompt has 40 tokens, more than the context length 32: keeping the last 32", Assert.Single(warnings));
    }

    [Fact]
    public void StopIdEndsGenerationWithoutYieldingIt()
    {
        using var m = Tiny();
        var all = Generation.Generate(m, new[] { 10, 20, 30 }, new GenerateOptions { MaxNewTokens = 12, Temperature = 0 }).ToArray();
        int stop = all[3];
        var cut = Generation.Generate(m, new[] { 10, 20, 30 }, new GenerateOptions { MaxNewTokens = 12, Temperature = 0, StopId = stop }).ToArray();
        Assert.Equal(all.TakeWhile(x => x != stop).ToArray(), cut);
    }

    [Fact]
    public void StopStringsCutTheStreamEvenAcrossTokens()
    {
        var tok = CharTokenizer.FromText("abcdef\n");
        int[] Ids(string s) => tok.Encode(s);
        var pieces = Generation.StreamText(Ids("abc\ndef\nabc"), tok, new[] { "\nde" }).ToList();
        Assert.Equal("abc", string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\n'));                      // the held-back "\n" was never emitted
        Assert.Equal("abc\ndef\nabc", string.Concat(Generation.StreamText(Ids("abc\ndef\nabc"), tok, Array.Empty<string>())));
    }

    [Fact]
    public void PromptIdsOutsideTheVocabularyAreRefused()
    {
        using var m = Tiny();
        var e = Assert.Throws<PicoGptException>(() => Generation.Generate(m, new[] { 1, 500 }, new GenerateOptions()).ToArray());
        Assert.Contains("prompt token id 500 is outside the vocabulary [0, 96)", e.Message);
    }

    [Fact]
    public void TwoConcurrentGenerationsOnOneModelMatchSequentialRuns()
    {
        using var m = Tiny();
        var o1 = new GenerateOptions { MaxNewTokens = 25, Temperature = 1.0, Seed = 1 };
        var o2 = o1 with { Seed = 2, TopP = 0.9 };
        var s1 = Generation.Generate(m, new[] { 7, 8 }, o1).ToArray();
        var s2 = Generation.Generate(m, new[] { 9 }, o2).ToArray();
        int[]? c1 = null, c2 = null;
        var t1 = new Thread(() => c1 = Generation.Generate(m, new[] { 7, 8 }, o1).ToArray());
        var t2 = new Thread(() => c2 = Generation.Generate(m, new[] { 9 }, o2).ToArray());
        t1.Start(); t2.Start(); t1.Join(); t2.Join();
        Assert.Equal(s1, c1);
        Assert.Equal(s2, c2);
    }
}
