using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 11: they accept right answers and reject typical wrong ones with the right hint.</summary>
public class GradientsCheckTests
{
    // ---- the learner's numerical gradient, written as a loop with one thing changed

    static Tensor Fd(Func<Tensor, Tensor> f, Tensor x, double h, Func<double, double, double, double, double> formula, bool restore = true, bool inPlace = false)
    {
        var grad = torch.zeros_like(x);
        var work = inPlace ? x : x.clone();
        for (long i = 0; i < x.numel(); i++)
        {
            double old = work.view(-1)[i].item<double>();
            work.view(-1)[i] = torch.tensor(old + h, dtype: x.dtype);
            double plus = f(work).item<double>();
            work.view(-1)[i] = torch.tensor(old - h, dtype: x.dtype);
            double minus = f(work).item<double>();
            work.view(-1)[i] = torch.tensor(old, dtype: x.dtype);
            double center = f(work).item<double>();
            if (!restore) work.view(-1)[i] = torch.tensor(old + h, dtype: x.dtype);
            grad.view(-1)[i] = torch.tensor(formula(plus, minus, center, h), dtype: x.dtype);
        }
        return grad;
    }

    [Fact]
    public void NumericalGradient_central_difference_passes() =>
        Passes(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - m) / (2 * h))));

    [Fact]
    public void NumericalGradient_that_restores_x_in_place_passes() =>
        Passes(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - m) / (2 * h), inPlace: true)));

    [Fact]
    public void NumericalGradient_forward_difference_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - c) / h)), "forward difference");

    [Fact]
    public void NumericalGradient_divided_by_h_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - m) / h)), "divide by 2h");

    [Fact]
    public void NumericalGradient_operator_precedence_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - m) / 2 * h)), "write / (2 * h)");

    [Fact]
    public void NumericalGradient_sign_swapped_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (m - p) / (2 * h))), "sign is swapped");

    [Fact]
    public void NumericalGradient_one_sided_over_2h_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - c) / (2 * h))), "move both ways");

    [Fact]
    public void NumericalGradient_that_leaves_x_changed_fails() =>
        FailsWith(Checks.NumericalGradient((f, x, h) => Fd(f, x, h, (p, m, c, h) => (p - m) / (2 * h), restore: false, inPlace: true)), "write into the tensor they are called on");

    [Fact]
    public void NumericalGradient_that_never_resets_fails()
    {
        // the learner moves a running copy and never puts the element back
        var r = Checks.NumericalGradient((f, x, h) =>
        {
            var g = torch.zeros_like(x);
            var xp = x.clone();
            for (long i = 0; i < x.numel(); i++)
            {
                var e = torch.zeros_like(x); e.view(-1)[i] = torch.tensor(h, dtype: x.dtype);
                xp = xp + e;
                g.view(-1)[i] = (f(xp) - f(xp - 2 * e)) / (2 * h);
            }
            return g;
        });
        FailsWith(r, "put each element back");
    }

    [Fact]
    public void NumericalGradient_stub_is_not_implemented() =>
        NotImplemented(Checks.NumericalGradient((f, x, h) => throw new NotImplementedException()));

    // ---- linear backward

    static (Tensor, Tensor, Tensor) Right(Tensor x, Tensor w, Tensor b, Tensor dy)
    {
        using var _ = torch.no_grad();
        return (Ops.MatMul(dy, w.T), Ops.MatMul(x.T, dy), dy.sum(dim: 0));
    }

    [Fact]
    public void LinearBackward_right_answer_passes() => Passes(Checks.LinearBackward(Right));

    [Fact]
    public void LinearBackward_with_detach_passes() =>
        Passes(Checks.LinearBackward((x, w, b, dy) => (Ops.MatMul(dy, w.T).detach(), Ops.MatMul(x.T, dy).detach(), dy.sum(dim: 0).detach())));

    [Fact]
    public void LinearBackward_dx_with_W_not_transposed_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (_, dW, db) = Right(x, w, b, dy); return (Ops.MatMul(dy, w), dW, db); }), "W's transpose");

    [Fact]
    public void LinearBackward_transposed_dW_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, _, db) = Right(x, w, b, dy); return (dx, Ops.MatMul(dy.T, x), db); }), "its transpose");

    [Fact]
    public void LinearBackward_bias_not_summed_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, dW, _) = Right(x, w, b, dy); return (dx, dW, dy.clone()); }), "yours is dy itself");

    [Fact]
    public void LinearBackward_bias_summed_over_the_wrong_axis_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, dW, _) = Right(x, w, b, dy); return (dx, dW, dy.sum(dim: 1)); }), "dim: 0 (the rows)");

    [Fact]
    public void LinearBackward_bias_mean_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, dW, _) = Right(x, w, b, dy); return (dx, dW, dy.mean([0])); }), "not the mean");

    [Fact]
    public void LinearBackward_bias_summed_to_a_number_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, dW, _) = Right(x, w, b, dy); return (dx, dW, dy.sum()); }), "dy.sum() adds everything");

    [Fact]
    public void LinearBackward_divided_by_N_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var n = x.shape[0]; return (Ops.MatMul(dy, w.T) / n, Ops.MatMul(x.T, dy) / n, dy.sum(dim: 0) / n); }), "do not divide by N again");

    [Fact]
    public void LinearBackward_with_autograd_inside_fails()
    {
        var r = Checks.LinearBackward((x, w, b, dy) =>
        {
            x.requires_grad_(); w.requires_grad_(); b.requires_grad_();
            using var _ = torch.enable_grad();
            (Ops.MatMul(x, w) + b).backward([dy]);
            return (x.grad!, w.grad!, b.grad!);
        });
        FailsWith(r, "backward pass written by hand");
    }

    [Fact]
    public void LinearBackward_result_that_requires_grad_fails() =>
        FailsWith(Checks.LinearBackward((x, w, b, dy) => (Ops.MatMul(dy, w.T), Ops.MatMul(x.T, dy), dy.sum(dim: 0))), "torch.no_grad()");

    [Fact]
    public void LinearBackward_dx_transposed_gets_a_hint() =>
        // W @ dyᵀ is dxᵀ: shaped [n_in, N]
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (_, dW, db) = Right(x, w, b, dy); return (Ops.MatMul(w, dy.T), dW, db); }), "yours is its transpose (W @ dyᵀ)");

    [Fact]
    public void LinearBackward_shape_mistake_gets_a_hint() =>
        // dW = x @ dy: [N, n_in] @ [N, n_out] fits only when n_in = N (the first case); the second case has x [5, 3], dy [5, 6]
        FailsWith(Checks.LinearBackward((x, w, b, dy) => { var (dx, _, db) = Right(x, w, b, dy); return (dx, Ops.MatMul(x, dy), db); }), "line the shapes up");

    [Fact]
    public void LinearBackward_stub_is_not_implemented() =>
        NotImplemented(Checks.LinearBackward((x, w, b, dy) => throw new NotImplementedException()));

    // ---- softmax + cross-entropy backward

    static Tensor OneHot(Tensor logits, Tensor targets) => torch.nn.functional.one_hot(targets, logits.shape[1]).to(logits.dtype);

    static Tensor RightCe(Tensor logits, Tensor targets)
    {
        using var _ = torch.no_grad();
        return (logits.softmax(-1) - OneHot(logits, targets)) / logits.shape[0];
    }

    [Fact]
    public void CrossEntropyBackward_right_answer_passes() => Passes(Checks.CrossEntropyBackward(RightCe));

    [Fact]
    public void CrossEntropyBackward_with_an_explicit_stable_softmax_passes() =>
        Passes(Checks.CrossEntropyBackward((l, t) =>
        {
            using var _ = torch.no_grad();
            var e = (l - l.amax([-1], keepdim: true)).exp();
            return (e / e.sum(-1, keepdim: true) - OneHot(l, t)) / l.shape[0];
        }));

    [Fact]
    public void CrossEntropyBackward_without_1_over_N_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return l.softmax(-1) - OneHot(l, t); }), "divide by N");

    [Fact]
    public void CrossEntropyBackward_sign_swapped_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return (OneHot(l, t) - l.softmax(-1)) / l.shape[0]; }), "sign is swapped");

    [Fact]
    public void CrossEntropyBackward_log_softmax_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return (l.log_softmax(-1) - OneHot(l, t)) / l.shape[0]; }), "not log-softmax");

    [Fact]
    public void CrossEntropyBackward_predicted_class_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return (l.softmax(-1) - OneHot(l, l.argmax(-1))) / l.shape[0]; }), "TARGET class");

    [Fact]
    public void CrossEntropyBackward_mean_over_every_element_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return (l.softmax(-1) - OneHot(l, t)) / l.numel(); }), "not by N·V");

    [Fact]
    public void CrossEntropyBackward_sign_and_no_mean_names_both() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return OneHot(l, t) - l.softmax(-1); }), "two mistakes at once");

    [Fact]
    public void CrossEntropyBackward_without_max_shift_fails_on_large_logits() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) =>
        {
            using var _ = torch.no_grad();
            var e = l.exp();
            return (e / e.sum(-1, keepdim: true) - OneHot(l, t)) / l.shape[0];
        }), "subtract each row's max");

    [Fact]
    public void CrossEntropyBackward_in_float32_fails_with_a_dtype_hint() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => RightCe(l, t).to(ScalarType.Float32)), "keep the inputs' dtype");

    [Fact]
    public void CrossEntropyBackward_in_place_max_shift_fails() =>
        // softmax does not change when each row is shifted, so the values are right: only the changed input gives it away
        FailsWith(Checks.CrossEntropyBackward((l, t) =>
        {
            using var _ = torch.no_grad();
            l.sub_(l.amax([-1], keepdim: true));
            return (l.softmax(-1) - OneHot(l, t)) / l.shape[0];
        }), "ops ending in _");

    [Fact]
    public void CrossEntropyBackward_with_autograd_inside_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) =>
        {
            using var _ = torch.enable_grad();
            if (!l.requires_grad) l.requires_grad_();
            torch.nn.functional.cross_entropy(l, t).backward();
            return l.grad!.detach().clone();
        }), "backward pass written by hand");

    [Fact]
    public void CrossEntropyBackward_result_that_requires_grad_fails() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => (l.softmax(-1) - OneHot(l, t)) / l.shape[0]), "torch.no_grad()");

    [Fact]
    public void CrossEntropyBackward_mean_over_the_rows_gets_a_hint() =>
        FailsWith(Checks.CrossEntropyBackward((l, t) => { using var _ = torch.no_grad(); return (l.softmax(-1) - OneHot(l, t)).mean([0]); }), "instead of averaging over the rows");

    [Fact]
    public void CrossEntropyBackward_stub_is_not_implemented() =>
        NotImplemented(Checks.CrossEntropyBackward((l, t) => throw new NotImplementedException()));
}
