using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>
/// Checks of notebook 14 (int8 quantization, top-1 agreement): they accept the reference and other correct answers and
/// reject typical wrong answers, each written here the way a learner would write it, with the right hint.
/// </summary>
public class FastCheckTests
{
    // ------------------------------------------------------------ QuantizeInt8

    /// <summary>A learner's quantizer with switches for one mistake at a time (each written out, not taken from the check).</summary>
    static (Tensor Q, Tensor Scale) Learner(Tensor w, Func<Tensor, Tensor>? scaleOf = null, Func<Tensor, Tensor, Tensor>? codes = null)
    {
        var scale = scaleOf != null ? scaleOf(w) : Guard(w.abs().max(dim: 0).values) / 127;   // [n_out]
        var q = codes != null ? codes(w, scale) : (w / scale).round().clamp(-127, 127).to(ScalarType.Int8);
        return (q, scale);
    }

    /// <summary>Zero columns get max 127, i.e. scale 1 (the learner's own way of keeping the scale above 0).</summary>
    static Tensor Guard(Tensor max) => torch.where(max == 0, torch.full_like(max, 127.0), max);

    [Fact]
    public void QuantizeInt8_reference_passes()
    {
        var r = Checks.QuantizeInt8(QuantOps.QuantizeInt8);
        Passes(r);
        Assert.Contains(r.Details, d => d.Contains("round trip, largest |q * scale - w| / scale"));
    }

    [Fact]
    public void QuantizeInt8_learner_version_with_a_tiny_scale_for_zero_columns_passes() =>
        Passes(Checks.QuantizeInt8(w =>
        {
            var scale = w.abs().amax(new long[] { 0 }).clamp_min(1e-12) / 127.0;                          // zero column: scale 7.9e-15, codes 0
            return ((w / scale).round().clamp(-127, 127).to(ScalarType.Int8), scale);
        }));

    [Fact]
    public void QuantizeInt8_multiplying_by_the_inverse_scale_passes() =>
        Passes(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x * (1.0f / s)).round().clamp(-127, 127).to(ScalarType.Int8))));

    [Fact]
    public void QuantizeInt8_per_tensor_scale_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => x.abs().max() / 127)), "not one for the whole tensor");

    [Fact]
    public void QuantizeInt8_per_tensor_scale_repeated_per_column_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => torch.ones(x.shape[1]) * (x.abs().max() / 127))), "the same number in every column");

    [Fact]
    public void QuantizeInt8_scale_per_row_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().max(dim: 1).values) / 127)), "is a COLUMN");

    [Fact]
    public void QuantizeInt8_scale_per_row_without_guard_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => x.abs().amax(new long[] { 1 }) / 127)), "is a COLUMN");

    [Fact]
    public void QuantizeInt8_keepdim_scale_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().amax(new long[] { 0 }, keepdim: true)) / 127)), "axis of length 1");

    [Fact]
    public void QuantizeInt8_truncating_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x / s).to(ScalarType.Int8))), "truncates toward zero");

    [Fact]
    public void QuantizeInt8_floor_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x / s).floor().to(ScalarType.Int8))), "not floor");

    [Fact]
    public void QuantizeInt8_abs_codes_lose_the_sign() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x.abs() / s).round().to(ScalarType.Int8))), "lost the sign");

    [Fact]
    public void QuantizeInt8_uint8_codes_fail() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x / s).round().to(ScalarType.Byte))), "uint8");

    [Fact]
    public void QuantizeInt8_float_codes_fail() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x / s).round())), "must be int8");

    [Fact]
    public void QuantizeInt8_returning_the_dequantized_weights_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x / s).round() * s)), "not q * scale");

    [Fact]
    public void QuantizeInt8_multiplying_by_the_scale_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, codes: (x, s) => (x * s).round().to(ScalarType.Int8))), "divide by the scale");

    [Fact]
    public void QuantizeInt8_divide_by_128_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().amax(new long[] { 0 })) / 128)), "not 128");

    [Fact]
    public void QuantizeInt8_divide_by_128_without_clamp_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().amax(new long[] { 0 })) / 128, codes: (x, s) => (x / s).round().to(ScalarType.Int8))), "wraps to -128");

    [Fact]
    public void QuantizeInt8_divide_by_255_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().amax(new long[] { 0 })) / 255)), "not 255");

    [Fact]
    public void QuantizeInt8_inverse_scale_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => 127 / Guard(x.abs().amax(new long[] { 0 })))), "not 127 / max|w|");

    [Fact]
    public void QuantizeInt8_mean_instead_of_max_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => x.abs().mean(new long[] { 0 }) / 127)), "not the mean |w|");

    [Fact]
    public void QuantizeInt8_max_without_abs_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.amax(new long[] { 0 })) / 127)), "w.abs()");

    [Fact]
    public void QuantizeInt8_zero_column_with_scale_zero_fails() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => x.abs().amax(new long[] { 0 }) / 127)), "column of zeros");

    [Fact]
    public void QuantizeInt8_per_row_and_mean_fails_with_both_hints()
    {
        // a scale per row fits w / scale only after an unsqueeze, which a learner adds once the broadcast error appears
        var r = Checks.QuantizeInt8(w => Learner(w, scaleOf: x => x.abs().mean(new long[] { 1 }) / 127,
            codes: (x, s) => (x / s.unsqueeze(1)).round().clamp(-127, 127).to(ScalarType.Int8)));
        FailsWith(r, "two mistakes at once");
        Assert.Contains("COLUMN", r.Hint);
        Assert.Contains("mean", r.Hint);
    }

    /// <summary>Wrong scales found by trying notebook 14 as a learner (each once without a specific hint), and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor>, string> QuantizeScaleMistakes => new()
    {
        { "QuantizeInt8_asymmetric_range_over_255_fails", x => Guard(x.amax(new long[] { 0 }) - x.amin(new long[] { 0 })) / 255, "the asymmetric scale of uint8 quantization" },
        { "QuantizeInt8_range_over_254_fails", x => Guard(x.amax(new long[] { 0 }) - x.amin(new long[] { 0 })) / 254, "(max - min) / 254" },
        { "QuantizeInt8_three_std_over_127_fails", x => Guard(3 * x.std(new long[] { 0 })) / 127, "from each column's standard deviation" },
        { "QuantizeInt8_four_population_std_over_127_fails", x => Guard(4 * x.std(new long[] { 0 }, unbiased: false)) / 127, "from each column's standard deviation" },
        { "QuantizeInt8_divide_by_127_5_fails", x => Guard(x.abs().amax(new long[] { 0 })) / 127.5, "your scale is max|w| / 127.5" },
        { "QuantizeInt8_divide_by_126_fails", x => Guard(x.abs().amax(new long[] { 0 })) / 126, "your scale is max|w| / 126" },
    };

    [Theory, MemberData(nameof(QuantizeScaleMistakes))]
    public void QuantizeInt8_scale_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor> scale, string hint) =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: scale)), hint, mistake);

    [Fact]
    public void QuantizeInt8_scale_in_float64_gets_the_dtype_hint_not_a_formula() =>
        FailsWith(Checks.QuantizeInt8(w => Learner(w, scaleOf: x => Guard(x.abs().amax(new long[] { 0 })).to(ScalarType.Float64) / 127)), "the numbers are right");

    [Fact]
    public void QuantizeInt8_stub_is_not_implemented() =>
        NotImplemented(Checks.QuantizeInt8(_ => throw new NotImplementedException()));

    // ------------------------------------------------------------ DequantizeInt8

    [Fact]
    public void DequantizeInt8_reference_passes() => Passes(Checks.DequantizeInt8(QuantOps.DequantizeInt8));

    [Fact]
    public void DequantizeInt8_int8_times_float_passes() => Passes(Checks.DequantizeInt8((q, s) => q * s));

    [Fact]
    public void DequantizeInt8_dividing_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(ScalarType.Float32) / s), "q / scale divides");

    [Fact]
    public void DequantizeInt8_scale_per_row_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(s.dtype) * s.view(-1, 1)), "each COLUMN has its scale");

    [Fact]
    public void DequantizeInt8_q_transposed_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.T.to(s.dtype) * s), "each COLUMN has its scale");

    [Fact]
    public void DequantizeInt8_through_uint8_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(ScalarType.Byte).to(s.dtype) * s), "uint8");

    [Fact]
    public void DequantizeInt8_without_the_scale_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(s.dtype)), "multiply by the scale");

    [Fact]
    public void DequantizeInt8_dividing_by_127_again_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(s.dtype) * s / 127), "no further / 127");

    /// <summary>Wrong answers to DequantizeInt8 found by trying notebook 14 as a learner (each once without a specific hint), and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor>, string> DequantizeMistakes => new()
    {
        { "DequantizeInt8_plus_instead_of_times_fails", (q, s) => q.to(s.dtype) + s, "q + scale only shifts every code" },
        { "DequantizeInt8_times_two_fails", (q, s) => q.to(s.dtype) * s * 2, "your weights are 2 × q * scale" },
        { "DequantizeInt8_over_128_fails", (q, s) => q.to(s.dtype) * s / 128, "your weights are q * scale / 128" },
        { "DequantizeInt8_rounded_fails", (q, s) => (q.to(s.dtype) * s).round(), "do not round the weights" },
        { "DequantizeInt8_int8_result_fails", (q, s) => (q.to(s.dtype) * s).to(ScalarType.Int8), "return the weights as floating-point numbers in the scale's dtype (float32)" },
        { "DequantizeInt8_scale_cast_to_int8_fails", (q, s) => q * s.to(ScalarType.Int8), "return the weights as floating-point numbers" },
    };

    [Theory, MemberData(nameof(DequantizeMistakes))]
    public void DequantizeInt8_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.DequantizeInt8(wrong), hint, mistake);

    [Fact]
    public void DequantizeInt8_float64_result_fails() =>
        FailsWith(Checks.DequantizeInt8((q, s) => q.to(ScalarType.Float64) * s.to(ScalarType.Float64)), "dtype");

    // ------------------------------------------------------------ Top1Agreement

    [Fact]
    public void Top1Agreement_reference_passes() => Passes(Checks.Top1Agreement(QuantOps.Top1Agreement));

    [Fact]
    public void Top1Agreement_the_agreements_in_the_case_names_are_right() =>
        // each case's name states its agreement: an answer that returns those numbers passes every case
        Passes(Checks.Top1Agreement((a, b) => a.shape[1] switch { 3 => 5.0 / 6, 12 => 0.75, 10 => 0.7, 4 => 1.0, _ => 0.0 }));

    [Fact]
    public void Top1Agreement_loop_over_positions_passes() =>
        Passes(Checks.Top1Agreement((a, b) =>
        {
            var ta = a.argmax(-1).reshape(-1).data<long>().ToArray();
            var tb = b.argmax(-1).reshape(-1).data<long>().ToArray();
            int same = 0;
            for (int i = 0; i < ta.Length; i++) if (ta[i] == tb[i]) same++;
            return (double)same / ta.Length;
        }));

    [Fact]
    public void Top1Agreement_comparing_logits_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a == b).to(ScalarType.Float64).mean().item<double>()), "not the logits themselves");

    [Fact]
    public void Top1Agreement_argmax_over_positions_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(1) == b.argmax(1)).to(ScalarType.Float32).mean().item<float>()), "argmax(1) picks a position");

    [Fact]
    public void Top1Agreement_count_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(-1) == b.argmax(-1)).sum().item<long>()), "not the count");

    [Fact]
    public void Top1Agreement_integer_division_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) =>
        {
            var same = (a.argmax(-1) == b.argmax(-1)).sum().item<long>();
            long positions = a.shape[0] * a.shape[1];
            return same / positions;
        }), "integer division");

    [Fact]
    public void Top1Agreement_disagreement_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(-1) != b.argmax(-1)).to(ScalarType.Float64).mean().item<double>()), "not where they differ");

    [Fact]
    public void Top1Agreement_flattened_argmax_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => a.argmax().item<long>() == b.argmax().item<long>() ? 1.0 : 0.0), "flattens");

    [Fact]
    public void Top1Agreement_divided_by_the_number_of_logits_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(-1) == b.argmax(-1)).sum().item<long>() / (double)a.numel()), "not the number of logits");

    [Fact]
    public void Top1Agreement_divided_by_T_fails() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(-1) == b.argmax(-1)).sum().item<long>() / (double)a.shape[1]), "not by T alone");

    [Fact]
    public void Top1Agreement_mean_of_a_bool_tensor_gets_a_hint() =>
        FailsWith(Checks.Top1Agreement((a, b) => (a.argmax(-1) == b.argmax(-1)).mean().item<double>()), "bool");

    /// <summary>Wrong answers to Top1Agreement found by trying notebook 14 as a learner, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, double>, string> Top1AgreementMistakes => new()
    {
        { "Top1Agreement_first_sequence_only_fails", (a, b) => (a[0].argmax(-1) == b[0].argmax(-1)).to(ScalarType.Float64).mean().item<double>(), "you compared only the first one (a[0], b[0])" },
        { "Top1Agreement_last_position_only_fails", (a, b) =>
            {
                var last = a.shape[1] - 1;                                   // the position generation samples from
                return (a[.., last].argmax(-1) == b[.., last].argmax(-1)).to(ScalarType.Float64).mean().item<double>();
            }, "only the last position of each sequence" },
        { "Top1Agreement_first_position_only_fails", (a, b) => (a[.., 0].argmax(-1) == b[.., 0].argmax(-1)).to(ScalarType.Float64).mean().item<double>(), "only the first position of each sequence" },
        { "Top1Agreement_divided_by_B_fails", (a, b) => (a.argmax(-1) == b.argmax(-1)).sum().item<long>() / (double)a.shape[0], "not by B alone" },
        { "Top1Agreement_percentage_fails", (a, b) => 100.0 * (a.argmax(-1) == b.argmax(-1)).to(ScalarType.Float64).mean().item<double>(), "not a percentage" },
    };

    [Theory, MemberData(nameof(Top1AgreementMistakes))]
    public void Top1Agreement_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, double> wrong, string hint) => FailsWith(Checks.Top1Agreement(wrong), hint, mistake);

    [Fact]
    public void Top1Agreement_stub_is_not_implemented() =>
        NotImplemented(Checks.Top1Agreement((_, _) => throw new NotImplementedException()));

    // ------------------------------------------------------------ QuantOps on a model

    [Fact]
    public void RoundTripWeights_keeps_every_weight_within_half_a_step_of_its_output_channel()
    {
        using var model = new PicoGpt.Model.Gpt(PicoGpt.Model.GptConfig.Tiny, torch.CPU, seed: 3);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        QuantOps.RoundTripWeights(model, w => { var (q, s) = QuantOps.QuantizeInt8(w); return QuantOps.DequantizeInt8(q, s); });
        foreach (var (name, p) in model.named_parameters())
        {
            var w = before[name];
            if (p.dim() != 2 || name.StartsWith("wpe")) { Assert.True((p == w).all().item<bool>(), name); continue; }
            var step = w.abs().amax(new long[] { 1 }, keepdim: true) / 127;                                   // [out, 1]: nn.Linear's rows are the output channels
            var err = ((p - w).abs() / step).max().item<float>();
            Assert.InRange(err, 0.01f, 0.5f + 1e-4f);
        }
    }
}
