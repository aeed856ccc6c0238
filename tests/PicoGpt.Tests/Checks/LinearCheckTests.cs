using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 01: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class LinearCheckTests
{
    /// <summary>Right answers to Linear: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>> LinearRightAnswers => new()
    {
        { "Linear_reference_passes", Ops.Linear },
        { "Linear_in_place_add_on_the_product_passes", (x, w, b) => x.matmul(w).add_(b) },
    };

    [Theory, MemberData(nameof(LinearRightAnswers))]
    public void Linear_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor, Tensor> right) => Passes(Checks.Linear(right), answer);

    /// <summary>Wrong answers to Linear, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>, string> LinearMistakes => new()
    {
        { "Linear_transposed_w_fails", (x, w, b) => x.matmul(w.T) + b, "without transposing w" },
        { "Linear_missing_bias_fails", (x, w, b) => x.matmul(w), "missing bias" },
        { "Linear_bias_before_matmul_fails", (x, w, b) => (x + b).matmul(w), "add b after the matrix product" },
        { "Linear_with_torch_functional_linear_fails_with_the_layout_hint", (x, w, b) => torch.nn.functional.linear(x, w, b), "torch.nn.functional.linear(x, w, b), which expects nn.Linear's [n_out, n_in]" },
        { "Linear_einsum_without_ellipsis_fails_with_the_2d_hint", (x, w, b) => torch.einsum("ti,io->to", x, w) + b, "einsum equation without" },
        { "Linear_element_wise_product_fails_with_the_broadcast_hint", (x, w, b) => x * w + b, "it is not the matrix product" },
        { "Linear_bias_subtracted_fails", (x, w, b) => x.matmul(w) - b, "do not subtract it" },
        { "Linear_bias_add_in_place_into_b_gets_the_in_place_hint", (x, w, b) => b.add_(torch.einsum("ij,jk->ik", x, w)), "writes its result into the tensor it is called on" },
        { "Linear_bmm_gets_a_hint", (x, w, b) => torch.bmm(x, w) + b, "torch.bmm works on 3-D batches" },
        { "Linear_einsum_with_the_operands_swapped_names_the_order", (x, w, b) => torch.einsum("ij,jk->ik", w, x) + b, "your product is w @ x" },
        { "Linear_einsum_reading_x_transposed_names_the_product", (x, w, b) => torch.einsum("ji,jk->ik", x, w) + b, "your product is x.T @ w" },
        { "Linear_checked_w_times_x_names_the_order", (x, w, b) => Ops.MatMul(w, x) + b, "your product is w @ x" },
    };

    [Theory, MemberData(nameof(LinearMistakes))]
    public void Linear_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.Linear(wrong), hint, mistake);

    [Fact]
    public void Linear_w_times_x_fails_with_shape_hint()
    {
        // mm, not matmul: TorchSharp 0.107's matmul aborts the process on mismatched shapes instead of throwing
        var r = Checks.Linear((x, w, b) => w.mm(x) + b);
        FailsWith(r, "your product is w @ x");
        Assert.Contains("x [n_seq, n_in] comes first and w [n_in, n_out] second", r.Hint);
        Assert.Contains("threw", r.Message);
    }

    // ---------------------------------------------------------------- linear with loops

    /// <summary>A learner's loops: out[t, j] = Σ_i x[t, i] · w[i, j] + b[j], with one typical mistake switched on.</summary>
    static double[,] Loops(double[,] x, double[,] w, double[] b, string mistake = "")
    {
        int nSeq = x.GetLength(0), nIn = x.GetLength(1), nOut = w.GetLength(1);
        var y = new double[nSeq, nOut];
        double carried = 0;
        for (int t = 0; t < nSeq; t++)
        {
            double row = 0;
            for (int j = 0; j < nOut; j++)
            {
                double sum = mistake == "sum per row" ? row : mistake == "sum never reset" ? carried : 0;
                for (int i = 0; i < nIn; i++)
                {
                    sum += mistake switch
                    {
                        "w[j, i]" => x[t, i] * w[j, i],
                        "x[i, t]" => x[i, t] * w[i, j],
                        _ => x[t, i] * w[i, j],
                    };
                    if (mistake == "bias in the loop") sum += b[j];
                }
                row = carried = sum;
                y[t, j] = mistake is "no bias" or "bias in the loop" ? sum : sum + b[j];
                if (mistake is "sum per row" or "sum never reset") y[t, j] = sum + b[j];
            }
        }
        return y;
    }

    [Fact]
    public void LinearLoops_learner_loops_pass() => Passes(Checks.LinearLoops((x, w, b) => Loops(x, w, b)));

    /// <summary>Wrong answers to LinearLoops, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<double[,], double[,], double[], double[,]>, string> LinearLoopsMistakes => new()
    {
        { "LinearLoops_bias_inside_the_sum_fails", (x, w, b) => Loops(x, w, b, "bias in the loop"), "n_in times" },
        { "LinearLoops_missing_bias_fails", (x, w, b) => Loops(x, w, b, "no bias"), "missing bias" },
        { "LinearLoops_sum_never_reset_fails", (x, w, b) => Loops(x, w, b, "sum never reset"), "previous outputs and tokens" },
        { "LinearLoops_w_indexed_the_other_way_fails", (x, w, b) => Loops(x, w, b, "w[j, i]"), "not w[j, i]" },
        { "LinearLoops_x_indexed_the_other_way_fails", (x, w, b) => Loops(x, w, b, "x[i, t]"), "not x[i, t]" },
        { "LinearLoops_output_of_the_wrong_size_fails_with_a_hint", (x, w, b) =>
            {
                var y = new double[x.GetLength(0), x.GetLength(1)];                  // [n_seq, n_in] instead of [n_seq, n_out]
                for (int t = 0; t < x.GetLength(0); t++)
                    for (int j = 0; j < w.GetLength(1); j++)
                    {
                        double sum = b[j];
                        for (int i = 0; i < x.GetLength(1); i++) sum += x[t, i] * w[i, j];
                        y[t, j] = sum;
                    }
                return y;
            }, "new double[x.GetLength(0), w.GetLength(1)]" },
        { "LinearLoops_bias_indexed_by_token_fails", (x, w, b) =>
            {
                int n = x.GetLength(0), nIn = x.GetLength(1), nOut = w.GetLength(1);
                var y = new double[n, nOut];
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < nOut; j++)
                    {
                        double sum = 0;
                        for (int i = 0; i < nIn; i++) sum += x[t, i] * w[i, j];
                        y[t, j] = sum + b[t];
                    }
                return y;
            }, "add b[j], not b[t]" },
        { "LinearLoops_sum_from_one_fails", (x, w, b) => LoopsFrom(x, w, b, from: 1), "you started at i = 1" },
        { "LinearLoops_n_in_taken_from_the_width_of_w_fails", (x, w, b) => LoopsFrom(x, w, b, nInFromW1: true), "which is n_out" },
    };

    [Theory, MemberData(nameof(LinearLoopsMistakes))]
    public void LinearLoops_mistake_fails_with_its_hint(string mistake, Func<double[,], double[,], double[], double[,]> wrong, string hint) => FailsWith(Checks.LinearLoops(wrong), hint, mistake);

    [Fact]
    public void LinearLoops_sum_declared_per_row_fails() =>
        FailsWith(Checks.LinearLoops((x, w, b) => Loops(x, w, b, "sum per row")), "carries on from the previous output)");

    [Fact]
    public void LinearLoops_stub_is_not_implemented()
    {
        var r = Checks.LinearLoops((x, w, b) => throw new NotImplementedException());
        Assert.True(r.NotImplemented, r.ToPlainText());
    }

    // ---------------------------------------------------------------- nn.Linear layout

    /// <summary>Right answers to NnLinear: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>> NnLinearRightAnswers => new()
    {
        { "NnLinear_reference_passes", (x, w, b) => x.matmul(w.T) + b },
        { "NnLinear_module_passes", (x, weight, bias) =>
            {
                using var layer = torch.nn.Linear(weight.shape[1], weight.shape[0], dtype: weight.dtype);
                using (torch.no_grad()) { layer.weight!.copy_(weight); layer.bias!.copy_(bias); }
                return layer.forward(x).detach();
            } },
    };

    [Theory, MemberData(nameof(NnLinearRightAnswers))]
    public void NnLinear_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor, Tensor> right) => Passes(Checks.NnLinear(right), answer);

    /// <summary>Wrong answers to NnLinear, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>, string> NnLinearMistakes => new()
    {
        { "NnLinear_without_transpose_fails", (x, w, b) => x.mm(w) + b, "without the .T" },
        { "NnLinear_missing_bias_fails", (x, w, b) => x.mm(w.T), "missing bias" },
        { "NnLinear_weight_times_x_fails", (x, w, b) => w.mm(x.T) + b, "weight @ x.T is its transpose" },
        { "NnLinear_textbook_w_times_x_fails", (x, w, b) => w.mm(x) + b, "one column vector x" },
        { "NnLinear_bias_before_fails", (x, w, b) => (x + b).mm(w.T), "add the bias after" },
    };

    [Theory, MemberData(nameof(NnLinearMistakes))]
    public void NnLinear_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.NnLinear(wrong), hint, mistake);

    [Fact]
    public void NnLinear_mm_on_a_batch_fails_with_a_shape_hint()
    {
        // mm multiplies matrices only; matmul broadcasts over the batch dimensions
        var r = Checks.NnLinear((x, w, b) => x.mm(w.T) + b);
        FailsWith(r, "x.matmul(weight.T)");
        Assert.Contains("batch x [2, 3, 8]", r.Message);
        Assert.Contains("threw", r.Message);
    }

    [Fact]
    public void NnLinear_stub_is_not_implemented() => Assert.True(Checks.NnLinear((x, w, b) => throw new NotImplementedException()).NotImplemented);

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void LinearLoops_output_filled_transposed_fails()
    {
        var r = Checks.LinearLoops((x, w, b) =>
        {
            int n = x.GetLength(0), nIn = x.GetLength(1), nOut = w.GetLength(1);
            var y = new double[nOut, n];                                             // [n_out, n_seq]
            for (int t = 0; t < n; t++)
                for (int j = 0; j < nOut; j++)
                {
                    double sum = 0;
                    for (int i = 0; i < nIn; i++) sum += x[t, i] * w[i, j];
                    y[j, t] = sum + b[j];
                }
            return y;
        });
        FailsWith(r, "you filled y[j, t], the transpose");
    }

    [Fact]
    public void Linear_mm_on_a_batch_fails_with_the_2d_hint()
    {
        var r = Checks.Linear((x, w, b) => torch.mm(x, w) + b);
        FailsWith(r, "2-D matrices only");
        Assert.Contains("use x.matmul(w)", r.Hint);
        Assert.Contains("batch x [2, 3, 8]", r.Message);
    }

    [Fact]
    public void Linear_bias_unsqueezed_fails_with_the_broadcast_hint()
    {
        var r = Checks.Linear((x, w, b) => x.matmul(w) + b.unsqueeze(1));          // [2, 3] + [3, 1]
        FailsWith(r, "adds to every row as it is (no unsqueeze)");
        Assert.DoesNotContain("not x @ w.T", r.Hint);                               // the product was right
    }

    // ---------------------------------------------------------------- in place, sign and dtype

    [Fact]
    public void Linear_computed_in_float32_gets_the_dtype_hint()
    {
        var r = Checks.Linear((x, w, b) => x.to(ScalarType.Float32).matmul(w.to(ScalarType.Float32)) + b.to(ScalarType.Float32));
        FailsWith(r, "the result must keep the inputs' dtype (float64), yours is float32");
        Assert.Contains(".to(x.dtype)", r.Hint);
    }

    [Fact]
    public void NnLinear_in_place_on_x_fails()
    {
        var r = Checks.NnLinear((x, weight, bias) => { var y = x.matmul(weight.T); x.zero_(); return y + bias; });
        FailsWith(r, "write into the tensor they are called on");
        Assert.Contains("changed its 1st argument in place", r.Message);
    }

    static double[,] LoopsFrom(double[,] x, double[,] w, double[] b, int from = 0, bool nInFromW1 = false)
    {
        int nSeq = x.GetLength(0), nIn = nInFromW1 ? w.GetLength(1) : x.GetLength(1), nOut = w.GetLength(1);
        var y = new double[nSeq, nOut];
        for (int t = 0; t < nSeq; t++)
            for (int j = 0; j < nOut; j++)
            {
                double sum = 0;
                for (int i = from; i < nIn; i++) sum += x[t, i] * w[i, j];
                y[t, j] = sum + b[j];
            }
        return y;
    }

}
