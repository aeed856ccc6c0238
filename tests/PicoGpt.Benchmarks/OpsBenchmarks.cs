using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using PicoGpt;
using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;

BenchmarkSwitcher.FromAssembly(typeof(OpsBenchmarks).Assembly).Run(args);

/// <summary>The reference ops at GPT-2 124M sizes ([T, 768]), float32, against the fused library paths where one exists.</summary>
[MemoryDiagnoser]
public class OpsBenchmarks
{
    [Params(128, 512)] public int T;
    Tensor x = null!, w = null!, b = null!, g = null!, q = null!, k = null!, v = null!, mask = null!;

    [GlobalSetup]
    public void Setup()
    {
        PicoGpt.Native.TorchRuntime.Initialize();
        torch.manual_seed(0);
        x = torch.randn(T, 768); w = torch.randn(768, 3072) * 0.02; b = torch.zeros(3072);
        g = torch.ones(768);
        q = torch.randn(T, 64); k = torch.randn(T, 64); v = torch.randn(T, 64);
        mask = Ops.CausalMask(T);
    }

    static void Run(Func<Tensor> f) { using var scope = torch.NewDisposeScope(); f(); }

    [Benchmark] public void Linear() => Run(() => Ops.Linear(x, w, b));
    [Benchmark] public void LinearFused() => Run(() => torch.nn.functional.linear(x, w.t(), b));
    [Benchmark] public void Softmax() => Run(() => Ops.Softmax(x));
    [Benchmark] public void SoftmaxFused() => Run(() => x.softmax(-1));
    [Benchmark] public void Gelu() => Run(() => Ops.Gelu(x));
    [Benchmark] public void GeluFused() => Run(() => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh));
    [Benchmark] public void LayerNorm() => Run(() => Ops.LayerNorm(x, g, torch.zeros(768)));
    [Benchmark] public void LayerNormFused() => Run(() => torch.nn.functional.layer_norm(x, new long[] { 768 }, g, null, 1e-5));
    [Benchmark] public void Attention() => Run(() => Ops.Attention(q, k, v, mask));
    [Benchmark] public void AttentionFused() => Run(() => torch.nn.functional.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), null, 0, true));
}

/// <summary>One forward pass and one cached decoding step of a small model.</summary>
[MemoryDiagnoser]
public class ModelBenchmarks
{
    Gpt model = null!;
    Tensor ids = null!;

    [GlobalSetup]
    public void Setup()
    {
        model = new Gpt(GptConfig.ShakespeareChar, CPU, seed: 1);
        ids = torch.randint(0, 65, new long[] { 1, 128 });
    }

    [Benchmark] public void Forward128() { using var _ = torch.no_grad(); using var s = torch.NewDisposeScope(); model.Forward(ids, checkIds: false); }

    [Benchmark]
    public void DecodeStepAt100()
    {
        using var _ = torch.no_grad();
        using var s = torch.NewDisposeScope();
        using var cache = new KvCache(model.Config, 1, 128, ScalarType.Float32, CPU);
        model.Forward(ids.narrow(1, 0, 100), cache, lastOnly: true, checkIds: false);
        model.Forward(ids.narrow(1, 100, 1), cache, lastOnly: true, checkIds: false);
    }
}
