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

    /// <summary>Right answers to Gelu: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>> GeluRightAnswers => new()
    {
        { "Gelu_reference_passes", Ops.Gelu },
        { "Gelu_torch_builtin_tanh_passes", x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false) },
        { "Gelu_sigmoid_form_of_the_tanh_formula_passes", x => x * torch.sigmoid(2 * Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)) }, // 0.5(1 + tanh z) = σ(2z)
    };

    [Theory, MemberData(nameof(GeluRightAnswers))]
    public void Gelu_right_answer_passes(string answer, Func<Tensor, Tensor> right) => Passes(Checks.Gelu(right), answer);

    [Fact]
    public void Gelu_stub_is_not_implemented() => NotImplemented(Checks.Gelu(x => throw new NotImplementedException()));

    /// <summary>Wrong answers to Gelu, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>, string> GeluMistakes => new()
    {
        { "Gelu_exact_erf_fails", x => x * 0.5 * (1.0 + torch.special.erf(x / Math.Sqrt(2.0))), "this is the exact erf GELU; GPT-2 uses the tanh approximation" },
        { "Gelu_builtin_erf_fails", x => torch.nn.functional.gelu(x), "exact erf GELU" },
        { "Gelu_relu_fails", x => torch.nn.functional.relu(x), "this is ReLU" },
        { "Gelu_sigmoid_approximation_fails", x => x * torch.sigmoid(1.702 * x), "sigmoid approximation" },
        { "Gelu_silu_fails", x => torch.nn.functional.silu(x), "this is SiLU" },
        { "Gelu_missing_half_fails", x => x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))), "factor 0.5" },
        { "Gelu_square_instead_of_cube_fails", x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x))), "x to the power 3" },
        { "Gelu_sqrt_two_pi_fails", x => 0.5 * x * (1 + (Math.Sqrt(2 * Math.PI) * (x + 0.044715 * x.pow(3))).tanh()), "not √(2π)" },
        { "Gelu_constant_without_square_root_fails", x => 0.5 * x * (1 + (2 / Math.PI * (x + 0.044715 * x.pow(3))).tanh()), "not 2/π" },
        { "Gelu_constant_on_x_only_fails", x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * x + 0.044715 * x.pow(3)).tanh()), "multiplies the whole bracket" },
        { "Gelu_missing_one_plus_fails", x => 0.5 * x * (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh(), "missing the 1 + before tanh" },
        { "Gelu_integer_half_fails", x => 1 / 2 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh()), "1 / 2 is integer division" },
        { "Gelu_root_of_two_over_pi_fails", x => 0.5 * x * (1 + (Math.Sqrt(2) / Math.PI * (x + 0.044715 * x.pow(3))).tanh()), "not √2/π" },
        { "Gelu_pi_as_3_14_fails_with_the_constants_hint", x => 0.5 * x * (1 + (Math.Sqrt(2 / 3.14) * (x + 0.044715 * x.pow(3))).tanh()), "is a constant rounded or mistyped" },
        { "Gelu_mistyped_cubic_constant_fails_with_the_constants_hint", x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.04715 * x.pow(3))).tanh()), "is a constant rounded or mistyped" },
        { "Gelu_one_minus_tanh_fails", x => 0.5 * x * (1 - torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3)))), "not 1 - tanh(...)" },
        { "Gelu_cubic_term_subtracted_fails", x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x - 0.044715 * x * x * x))), "the cubic term is added" },
        { "Gelu_without_the_x_in_front_fails", x => 0.5 * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3)))), "multiply by x" },
        { "Gelu_float_constants_get_the_constants_hint", x => 0.5f * x * (1 + torch.tanh((float)Math.Sqrt(2 / Math.PI) * (x + 0.044715f * x.pow(3)))), "0.044715f" },
        { "Gelu_in_place_fails", x => { var t = torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))); return x.mul_(0.5).mul_(t.add_(1)); }, "ops ending in _" },
        { "Gelu_cube_written_with_the_xor_operator_gets_a_hint", x => 0.5 * x * (1 + torch.tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * (x ^ 3)))), "^ is C#'s exclusive or (XOR), not a power" },
    };

    [Theory, MemberData(nameof(GeluMistakes))]
    public void Gelu_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor> wrong, string hint) => FailsWith(Checks.Gelu(wrong), hint, mistake);

    [Fact]
    public void Gelu_linq_over_float_data_says_the_element_type_is_what_fails()
    {
        // the learner review's 03-T11: LINQ over data<float>() (float32 assumed); the first case is float64
        var r = Checks.Gelu(x =>
        {
            var vals = x.data<float>().Select(v => (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))))).ToArray();
            return torch.tensor(vals).reshape(x.shape);
        });
        FailsWith(r, "you asked for Single, but the tensor is float64");
        Assert.Contains("converted to float32, your function gives the right values, so the element type is what fails here", r.Hint);
    }

    [Fact]
    public void Gelu_linq_over_float_data_with_a_wrong_formula_names_the_formula_too()
    {
        var r = Checks.Gelu(x =>
        {
            var vals = x.data<float>().Select(v => (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v - 0.044715 * v * v * v))))).ToArray();
            return torch.tensor(vals).reshape(x.shape);
        });
        FailsWith(r, "you asked for Single, but the tensor is float64");
        Assert.Contains("the cubic term is added", r.Hint);
    }

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

    /// <summary>Right answers to GeluExact: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>> GeluExactRightAnswers => new()
    {
        { "GeluExact_reference_passes", CourseOps.GeluExact },
        { "GeluExact_torch_builtin_passes", x => torch.nn.functional.gelu(x) },
        { "GeluExact_with_erfc_of_minus_x_passes", x => 0.5 * x * (-x / Math.Sqrt(2)).erfc() }, // erfc(-z) = 1 + erf(z): right, if unusual
        { "GeluExact_normal_cdf_form_passes", x => x * 0.5 * torch.special.erfc(-x / Math.Sqrt(2)) },
        { "GeluExact_root_of_a_half_passes", x => 0.5 * x * (1 + torch.erf(x * Math.Sqrt(0.5))) },
    };

    [Theory, MemberData(nameof(GeluExactRightAnswers))]
    public void GeluExact_right_answer_passes(string answer, Func<Tensor, Tensor> right) => Passes(Checks.GeluExact(right), answer);

    /// <summary>Wrong answers to GeluExact, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>, string> GeluExactMistakes => new()
    {
        { "GeluExact_erfc_for_erf_fails", x => 0.5 * x * (1 + (x / Math.Sqrt(2)).erfc()), "erfc is the complementary error function" },
        { "GeluExact_half_erfc_fails", x => 0.5 * x * (x / Math.Sqrt(2)).erfc(), "so 0.5·erfc(x/√2) is 1 - Φ(x)" },
        { "GeluExact_tanh_approximation_fails", Ops.Gelu, "this is GPT-2's tanh approximation" },
        { "GeluExact_builtin_tanh_fails", x => torch.nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh, false), "tanh approximation" },
        { "GeluExact_erf_without_sqrt2_fails", x => 0.5 * x * (1 + torch.special.erf(x)), "divide x by √2 inside erf" },
        { "GeluExact_times_sqrt2_fails", x => 0.5 * x * (1 + (x * Math.Sqrt(2)).erf()), "do not multiply" },
        { "GeluExact_divided_by_two_fails", x => 0.5 * x * (1 + (x / 2).erf()), "not by 2" },
        { "GeluExact_cdf_only_fails", x => 0.5 * (1 + (x / Math.Sqrt(2)).erf()), "you returned Φ(x)" },
        { "GeluExact_missing_half_fails", x => x * (1 + (x / Math.Sqrt(2)).erf()), "missing the factor 0.5" },
        { "GeluExact_relu_fails", x => x.relu(), "this is ReLU" },
        { "GeluExact_sigmoid_approximation_fails", x => x * torch.sigmoid(1.702 * x), "sigmoid approximation" },
        { "GeluExact_missing_one_plus_fails", x => 0.5 * x * torch.special.erf(x / Math.Sqrt(2)), "missing the 1 + before erf" },
        { "GeluExact_integer_half_fails", x => 1 / 2 * x * (1 + (x / Math.Sqrt(2)).erf()), "1 / 2 is integer division" },
        { "GeluExact_rounded_root_two_fails_with_the_constants_hint", x => 0.5 * x * (1 + (x / 1.41).erf()), "not 1.41" },
        { "GeluExact_root_of_integer_half_fails", x => 0.5 * x * (1 + torch.erf(x * Math.Sqrt(1 / 2))), "Math.Sqrt(1 / 2) is 0" },
        { "GeluExact_silu_fails", x => torch.nn.functional.silu(x), "this is SiLU" },
        { "GeluExact_float_root_two_gets_the_constants_hint", x => 0.5 * x * (1 + torch.erf(x / (float)Math.Sqrt(2))), "(float)Math.Sqrt(2)" },
    };

    [Theory, MemberData(nameof(GeluExactMistakes))]
    public void GeluExact_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor> wrong, string hint) => FailsWith(Checks.GeluExact(wrong), hint, mistake);

    [Fact]
    public void GeluExact_stub_is_not_implemented() => NotImplemented(Checks.GeluExact(x => throw new NotImplementedException()));

    [Fact]
    public void GeluExact_published_values_are_right()
    {
        var got = CourseOps.GeluExact(torch.tensor(new double[] { 1, 2, -4 })).data<double>().ToArray();
        Assert.Equal(new[] { 0.8413447460685429, 1.9544997361036416, -1.2668496733247991e-04 }, got, (a, b) => Math.Abs(a - b) < 1e-12);
    }

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
    public void Gelu_rounded_constant_fails_with_the_constants_hint()
    {
        var r = Checks.Gelu(x => 0.5 * x * (1 + (0.7978 * (x + 0.044715 * x.pow(3))).tanh()));
        FailsWith(r, "is a constant rounded or mistyped");
        Assert.Contains("published gelu(1)", r.Message);
    }

    // ---------------------------------------------------------------- signs, a missing x, float constants, integer division, in place

}
