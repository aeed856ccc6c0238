using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 09: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class GenerateCheckTests
{
    [Fact]
    public void TopK_reference_passes() => Passes(Checks.TopK(Sampler.TopK));

    [Fact]
    public void TopK_published_example_matches_reference()
    {
        var logits = torch.tensor(new[] { 4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f });
        var probs = Sampler.TopK(logits, 3).softmax(-1).data<float>().ToArray();
        var published = new[] { 0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0 };
        for (int i = 0; i < probs.Length; i++) Assert.Equal(published[i], probs[i], 4);
    }

    [Fact]
    public void TopK_zero_instead_of_minus_inf_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            var kth = l.topk(k).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
            return torch.where(l >= kth, l, torch.zeros_like(l));
        }), "-inf");

    [Fact]
    public void TopK_returning_probabilities_fails() =>
        FailsWith(Checks.TopK((l, k) => Sampler.TopK(l, k).softmax(-1)), "not probabilities");

    [Fact]
    public void TopK_smallest_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            var kth = l.topk(k, largest: false).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
            return l.masked_fill(l > kth, double.NegativeInfinity);
        }), "not the k smallest");

    [Fact]
    public void TopK_values_only_fails() => FailsWith(Checks.TopK((l, k) => l.topk(k).values), "not just the k kept values");

    [Fact]
    public void TopK_keeps_one_too_many_fails() =>
        FailsWith(Checks.TopK((l, k) =>
        {
            if (k >= l.shape[^1]) return l;
            var kth = l.topk(k + 1).values[TensorIndex.Ellipsis, TensorIndex.Slice(k, k + 1)];
            return l.masked_fill(l < kth, double.NegativeInfinity);
        }), "keep exactly k");
}
