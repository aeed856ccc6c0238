using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 03: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class GeluCheckTests
{

    // ---------------------------------------------------------------- Gelu (tanh, GPT-2's)

    [Fact]
    public void Gelu_reference_passes() => Passes(Checks.Gelu(Ops.Gelu));

    [Fact]
    public void Gelu_torch_builtin_tanh_passes() =>
        Passes(Checks.Gelu(x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false)));

    [Fact]
    public void Gelu_stub_is_not_implemented() => NotImplemented(Checks.Gelu(x => throw new NotImplementedException()));

    [Fact]
    public void Gelu_exact_erf_fails() =>
        FailsWith(Checks.Gelu(x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0)))), "this is the exact erf GELU; GPT-2 uses the tanh approximation");

    [Fact]
    public void Gelu_builtin_erf_fails() =>
        FailsWith(Checks.Gelu(x => torch.nn.functional.gelu(x)), "exact erf GELU");

    [Fact]
    public void Gelu_relu_fails() => FailsWith(Checks.Gelu(x => torch.nn.functional.relu(x)), "this is ReLU");

    [Fact]
    public void Gelu_sigmoid_approximation_fails() => FailsWith(Checks.Gelu(x => x * torch.sigmoid(1.702 * x)), "sigmoid approximation");

    [Fact]
    public void Gelu_silu_fails() => FailsWith(Checks.Gelu(x => torch.nn.functional.silu(x)), "this is SiLU");

    [Fact]
    public void Gelu_missing_half_fails() =>
        FailsWith(Checks.Gelu(x => x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))), "factor 0.5");

    [Fact]
    public void Gelu_square_instead_of_cube_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x)))), "x to the power 3");

    [Fact]
    public void Gelu_sqrt_two_pi_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 * Math.PI) * (x + 0.044715 * x.pow(3))).tanh())), "not √(2π)");

    [Fact]
    public void Gelu_constant_without_square_root_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (2 / Math.PI * (x + 0.044715 * x.pow(3))).tanh())), "not 2/π");

    [Fact]
    public void Gelu_constant_on_x_only_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * x + 0.044715 * x.pow(3)).tanh())), "multiplies the whole bracket");

    [Fact]
    public void Gelu_missing_one_plus_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh()), "missing the 1 + before tanh");

    [Fact]
    public void Gelu_missing_half_and_square_fails_with_both_hints()
    {
        var r = Checks.Gelu(x => x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(2)))));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("factor 0.5", r.Hint);
        Assert.Contains("x to the power 3", r.Hint);
    }

    [Fact]
    public void Gelu_sqrt_two_pi_on_x_only_fails_with_both_hints()
    {
        var r = Checks.Gelu(x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 * Math.PI) * x + 0.044715 * x.pow(3))));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("not √(2π)", r.Hint);
        Assert.Contains("multiplies the whole bracket", r.Hint);
    }

    // ---------------------------------------------------------------- GeluExact (erf)

    [Fact]
    public void GeluExact_reference_passes() => Passes(Checks.GeluExact(CourseOps.GeluExact));

    [Fact]
    public void GeluExact_torch_builtin_passes() => Passes(Checks.GeluExact(x => torch.nn.functional.gelu(x)));

    [Fact]
    public void GeluExact_with_erfc_of_minus_x_passes() =>
        Passes(Checks.GeluExact(x => 0.5 * x * (-x / Math.Sqrt(2)).erfc()));          // erfc(-z) = 1 + erf(z): right, if unusual

    [Fact]
    public void GeluExact_erfc_for_erf_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + (x / Math.Sqrt(2)).erfc())), "erfc is the complementary error function");

    [Fact]
    public void GeluExact_half_erfc_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (x / Math.Sqrt(2)).erfc()), "so 0.5·erfc(x/√2) is 1 - Φ(x)");

    [Fact]
    public void GeluExact_normal_cdf_form_passes() =>
        Passes(Checks.GeluExact(x => x * 0.5 * torch.special.erfc(-x / Math.Sqrt(2))));

    [Fact]
    public void GeluExact_stub_is_not_implemented() => NotImplemented(Checks.GeluExact(x => throw new NotImplementedException()));

    [Fact]
    public void GeluExact_published_values_are_right()
    {
        var got = CourseOps.GeluExact(torch.tensor(new double[] { 1, 2, -4 })).data<double>().ToArray();
        Assert.Equal(new[] { 0.8413447460685429, 1.9544997361036416, -1.2668496733247991e-04 }, got, (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void GeluExact_tanh_approximation_fails() => FailsWith(Checks.GeluExact(Ops.Gelu), "this is GPT-2's tanh approximation");

    [Fact]
    public void GeluExact_builtin_tanh_fails() =>
        FailsWith(Checks.GeluExact(x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false)), "tanh approximation");

    [Fact]
    public void GeluExact_erf_without_sqrt2_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + torch.special.erf(x))), "divide x by √2 inside erf");

    [Fact]
    public void GeluExact_times_sqrt2_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + (x * Math.Sqrt(2)).erf())), "do not multiply");

    [Fact]
    public void GeluExact_divided_by_two_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + (x / 2).erf())), "not by 2");

    [Fact]
    public void GeluExact_cdf_only_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * (1 + (x / Math.Sqrt(2)).erf())), "you returned Φ(x)");

    [Fact]
    public void GeluExact_missing_half_fails() =>
        FailsWith(Checks.GeluExact(x => x * (1 + (x / Math.Sqrt(2)).erf())), "missing the factor 0.5");

    [Fact]
    public void GeluExact_relu_fails() => FailsWith(Checks.GeluExact(x => x.relu()), "this is ReLU");

    [Fact]
    public void GeluExact_sigmoid_approximation_fails() => FailsWith(Checks.GeluExact(x => x * torch.sigmoid(1.702 * x)), "sigmoid approximation");

    [Fact]
    public void GeluExact_missing_one_plus_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * torch.special.erf(x / Math.Sqrt(2))), "missing the 1 + before erf");

    [Fact]
    public void GeluExact_missing_half_and_sqrt2_fails_with_both_hints()
    {
        var r = Checks.GeluExact(x => x * (1 + torch.special.erf(x)));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("missing the factor 0.5", r.Hint);
        Assert.Contains("divide x by √2 inside erf", r.Hint);
    }

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void Gelu_integer_half_fails() =>
        FailsWith(Checks.Gelu(x => 1 / 2 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh())), "1 / 2 is integer division");

    [Fact]
    public void GeluExact_integer_half_fails() =>
        FailsWith(Checks.GeluExact(x => 1 / 2 * x * (1 + (x / Math.Sqrt(2)).erf())), "1 / 2 is integer division");

    [Fact]
    public void Gelu_root_of_two_over_pi_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2) / Math.PI * (x + 0.044715 * x.pow(3))).tanh())), "not √2/π");

    [Fact]
    public void Gelu_rounded_constant_fails_with_the_constants_hint()
    {
        var r = Checks.Gelu(x => 0.5 * x * (1 + (0.7978 * (x + 0.044715 * x.pow(3))).tanh()));
        FailsWith(r, "is a constant rounded or mistyped");
        Assert.Contains("published gelu(1)", r.Message);
    }

    [Fact]
    public void Gelu_pi_as_3_14_fails_with_the_constants_hint() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / 3.14) * (x + 0.044715 * x.pow(3))).tanh())), "is a constant rounded or mistyped");

    [Fact]
    public void Gelu_mistyped_cubic_constant_fails_with_the_constants_hint() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.04715 * x.pow(3))).tanh())), "is a constant rounded or mistyped");

    [Fact]
    public void GeluExact_rounded_root_two_fails_with_the_constants_hint() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + (x / 1.41).erf())), "not 1.41");

    // ---------------------------------------------------------------- signs, a missing x, float constants, integer division, in place

    [Fact]
    public void Gelu_sigmoid_form_of_the_tanh_formula_passes() =>
        Passes(Checks.Gelu(x => x * torch.sigmoid(2 * Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));   // 0.5(1 + tanh z) = σ(2z)

    [Fact]
    public void Gelu_one_minus_tanh_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 - torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))))), "not 1 - tanh(...)");

    [Fact]
    public void Gelu_cubic_term_subtracted_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x - 0.044715 * x * x * x)))), "the cubic term is added");

    [Fact]
    public void Gelu_without_the_x_in_front_fails() =>
        FailsWith(Checks.Gelu(x => 0.5 * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))))), "multiply by x");

    [Fact]
    public void Gelu_float_constants_get_the_constants_hint() =>
        FailsWith(Checks.Gelu(x => 0.5f * x * (1 + torch.tanh((float)Math.Sqrt(2 / Math.PI) * (x + 0.044715f * x.pow(3))))), "0.044715f");

    [Fact]
    public void Gelu_in_place_fails() =>
        FailsWith(Checks.Gelu(x => { var t = torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))); return x.mul_(0.5).mul_(t.add_(1)); }), "ops ending in _");

    [Fact]
    public void GeluExact_root_of_integer_half_fails() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + torch.erf(x * Math.Sqrt(1 / 2)))), "Math.Sqrt(1 / 2) is 0");

    [Fact]
    public void GeluExact_root_of_a_half_passes() => Passes(Checks.GeluExact(x => 0.5 * x * (1 + torch.erf(x * Math.Sqrt(0.5)))));

    [Fact]
    public void GeluExact_silu_fails() => FailsWith(Checks.GeluExact(x => torch.nn.functional.silu(x)), "this is SiLU");

    [Fact]
    public void GeluExact_float_root_two_gets_the_constants_hint() =>
        FailsWith(Checks.GeluExact(x => 0.5 * x * (1 + torch.erf(x / (float)Math.Sqrt(2)))), "(float)Math.Sqrt(2)");

    [Fact]
    public void Gelu_cube_written_with_the_xor_operator_gets_a_hint() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * (x ^ 3))))), "^ is C#'s exclusive or (XOR), not a power");
}
