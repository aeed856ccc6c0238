using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 02: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class SoftmaxCheckTests
{
    [Fact]
    public void Softmax_reference_passes() => Passes(Checks.Softmax(Ops.Softmax));

    [Fact]
    public void Softmax_naive_exp_fails_on_large_logits()
    {
        var r = Checks.Softmax(x => x.exp() / x.exp().sum(-1, keepdim: true));
        FailsWith(r, "subtract the max first");
        Assert.Contains("large logits", r.Message);
        Assert.Contains("NaN", r.Message);
    }

    [Fact]
    public void Softmax_wrong_axis_fails() => FailsWith(Checks.Softmax(x => x.softmax(0)), "wrong axis");

    [Fact]
    public void Softmax_global_max_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.max()).exp(); return e / e.sum(-1, keepdim: true); }), "each row's max");

    [Fact]
    public void Softmax_sum_without_keepdim_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(-1); }), "keepdim");

    [Fact]
    public void Softmax_whole_tensor_sum_fails() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(); }), "not by the sum of the whole tensor");
}
