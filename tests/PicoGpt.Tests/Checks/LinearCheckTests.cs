using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 01: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class LinearCheckTests
{
    [Fact]
    public void Linear_reference_passes() => Passes(Checks.Linear(Ops.Linear));

    [Fact]
    public void Linear_transposed_w_fails() =>
        FailsWith(Checks.Linear((x, w, b) => x.matmul(w.T) + b), "without transposing w");

    [Fact]
    public void Linear_missing_bias_fails() => FailsWith(Checks.Linear((x, w, b) => x.matmul(w)), "missing bias");

    [Fact]
    public void Linear_bias_before_matmul_fails() => FailsWith(Checks.Linear((x, w, b) => (x + b).matmul(w)), "add b after the matrix product");

    [Fact]
    public void Linear_w_times_x_fails_with_shape_hint()
    {
        // mm, not matmul: TorchSharp 0.107's matmul aborts the process on mismatched shapes instead of throwing
        var r = Checks.Linear((x, w, b) => w.mm(x) + b);
        FailsWith(r, "x is [..., n_in] and w is [n_in, n_out]");
        Assert.Contains("threw", r.Message);
    }
}
