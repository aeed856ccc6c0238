using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;
// tuples, so that the check engine sees the input tensors (and fails an answer that changes them in place)
using FdIn = (System.Func<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> F, TorchSharp.torch.Tensor X, double H);
using LinIn = (TorchSharp.torch.Tensor X, TorchSharp.torch.Tensor W, TorchSharp.torch.Tensor B, TorchSharp.torch.Tensor Dy, bool Fd);
using CeIn = (TorchSharp.torch.Tensor Logits, TorchSharp.torch.Tensor Targets, bool Fd);

namespace PicoGpt.Exercises;

// The checks of notebooks/11-gradients.ipynb: gradients written by hand, each compared with TorchSharp's autograd and
// with a central finite difference in float64.
public static partial class Checks
{
    // ---------------------------------------------------------------- helpers for answers with several parts

    /// <summary>
    /// Runs the checks of the parts of one answer in turn (dx, then dW, then db, then the answer's properties), stops at
    /// the first part that does not pass and reports them as one result named <paramref name="name"/>.
    /// </summary>
    static CheckResult Parts(string name, string passed, params Func<CheckResult>[] parts)
    {
        var details = new List<string>();
        foreach (var part in parts)
        {
            var r = part();
            details.AddRange(r.Details);
            if (!r.Passed) return new CheckResult(name, false, r.NotImplemented, r.Message, r.Hint, details);
        }
        return new CheckResult(name, true, false, passed, null, details);
    }

    /// <summary>A part that checks a property of the answer: null when it holds, else (case, problem, hint).</summary>
    static Func<CheckResult> Property(string name, string caseName, string ok, Func<(string Problem, string Hint)?> check) => () =>
    {
        (string Problem, string Hint)? failure;
        try
        {
            using var scope = torch.NewDisposeScope();
            failure = check();
        }
        catch (Exception e) when (CheckEngine.IsNotImplemented(e)) { return new CheckResult(name, false, true, "your function still throws NotImplementedException: replace the stub with your code", null, []); }
        catch (Exception e) { failure = ($"your function threw {e.GetType().Name}: {CheckEngine.FirstLine(e.Message)}", "run it on the inputs of the cases above: it passed them"); }
        return failure is { } f
            ? new CheckResult(name, false, false, $"case '{caseName}': {f.Problem}. Hint: {f.Hint}", f.Hint, [$"✗ {caseName}: {f.Problem}"])
            : new CheckResult(name, true, false, ok, null, [$"✓ {caseName}: {ok}"]);
    };

    /// <summary>
    /// The central difference (f(x + h·e_i) - f(x - h·e_i)) / 2h for every element i of x: the gradient of the scalar
    /// function f, numerically. Works on copies: x is not changed.
    /// </summary>
    internal static Tensor CentralDifference(Func<Tensor, Tensor> f, Tensor x, double h) // x: [...] -> [...]
    {
        var grad = torch.zeros_like(x);
        var flat = grad.view(-1);
        for (long i = 0; i < x.numel(); i++)
        {
            var plus = x.detach().clone(); plus.view(-1)[i] += h;
            var minus = x.detach().clone(); minus.view(-1)[i] -= h;
            flat[i] = (f(plus) - f(minus)) / (2 * h);
        }
        return grad;
    }

    const string UseAutogradHint = "this exercise is the backward pass written by hand: autograd (requires_grad_, backward, .grad) is what the check " +
        "compares your formulas with; compute the gradients from the inputs with matmuls, sums and softmax";

    const string NoGraphHint = "a gradient is a plain tensor: compute it inside `using (torch.no_grad()) { ... }` (or call .detach() on the result), " +
        "otherwise autograd records every op on the parameters and the gradient drags that graph along";

    // ---------------------------------------------------------------- numerical gradient

    /// <summary>
    /// numerical_gradient(f, x, h): the central difference (f(x + h·e_i) - f(x - h·e_i)) / 2h for every element of x,
    /// shaped like x, against <see cref="CentralDifference"/>; x must not change.
    /// </summary>
    public static CheckResult NumericalGradient(Func<Func<Tensor, Tensor>, Tensor, double, Tensor> grad)
    {
        Case<FdIn> C(string name, Func<FdIn> inputs) => new() { Name = name, Tol = 1e-9, Inputs = inputs };
        static Tensor Cube(Tensor x) => x.pow(3).sum();
        static Tensor SinSquare(Tensor x) => (x.sin() * x * x).sum();
        static Tensor MatrixLoss(Tensor w) => Ops.MatMul(T([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), w).pow(2).mean();
        // the learner's loop with one thing changed
        static Tensor Wrong(FdIn i, Func<Func<Tensor, Tensor>, Tensor, Tensor, double, double> diff, bool cumulative = false)
        {
            var g = torch.zeros_like(i.X); var x = i.X.detach().clone();
            for (long k = 0; k < i.X.numel(); k++)
            {
                var basis = torch.zeros_like(i.X); basis.view(-1)[k] = torch.tensor(i.H, dtype: i.X.dtype);
                if (cumulative) x = x + basis;                                             // x + h·e_0 + h·e_1 + ...: never reset
                g.view(-1)[k] = torch.tensor(diff(i.F, cumulative ? x - basis : i.X, basis, i.H), dtype: i.X.dtype);
            }
            return g;
        }
        static double V(Tensor t) => t.to(Float64).item<double>();
        return new CheckEngine<FdIn>
        {
            Name = "numerical_gradient",
            Reference = i => CentralDifference(i.F, i.X, i.H),
            ReferenceName = "the central difference",
            Learner = i => grad(i.F, i.X, i.H),
            InputsUnchanged = true,
            Cases =
            [
                C("f(x) = Σ x³ at x = [1, 2, -0.5], h = 1e-3 (float64) → ≈ 3x² = [3, 12, 0.75]", () => (Cube, T1([1, 2, -0.5]), 1e-3)),
                C("f(x) = Σ sin(x)·x² at a random x [3, 4], h = 1e-4 (float64)", () => (SinSquare, R(301, Float64, 3, 4), 1e-4)),
                C("f(W) = mean((a @ W)²) at a random W [3, 2], h = 1e-5 (float64)", () => (MatrixLoss, R(302, Float64, 3, 2), 1e-5)),
            ],
            Traps =
            [
                new("that is the forward difference (f(x + h) - f(x)) / h, whose error shrinks like h; the central difference (f(x + h) - f(x - h)) / 2h is symmetric and its error shrinks like h²",
                    i => Wrong(i, (f, x, e, h) => (V(f(x + e)) - V(f(x))) / h)),
                new("that is the backward difference (f(x) - f(x - h)) / h; use the central difference (f(x + h) - f(x - h)) / 2h",
                    i => Wrong(i, (f, x, e, h) => (V(f(x)) - V(f(x - e))) / h)),
                new("divide by 2h: the two points x + h and x - h are 2h apart",
                    i => Wrong(i, (f, x, e, h) => (V(f(x + e)) - V(f(x - e))) / h)),
                new("divide by 2h, not 2: C# reads 2 * h / ... and ... / 2 * h differently; write / (2 * h)",
                    i => Wrong(i, (f, x, e, h) => (V(f(x + e)) - V(f(x - e))) / 2 * h)),
                new("the sign is swapped: f(x + h) - f(x - h), the value ahead minus the value behind",
                    i => Wrong(i, (f, x, e, h) => (V(f(x - e)) - V(f(x + e))) / (2 * h))),
                new("with only one point moved, the difference is (f(x + h) - f(x)) / h, not / 2h: move both ways, f(x + h) and f(x - h)",
                    i => Wrong(i, (f, x, e, h) => (V(f(x + e)) - V(f(x))) / (2 * h))),
                new("put each element back before moving the next one: your x + h·e_0 was still there while you moved element 1 (work on a fresh x.clone() for each element, or restore the old value)",
                    i => Wrong(i, (f, x, e, h) => (V(f(x + e)) - V(f(x - e))) / (2 * h), cumulative: true)),
            ],
            Diagnose = (i, expected, got) => got.numel() == 1 && expected.numel() > 1
                ? "return one partial derivative per element of x (a tensor shaped like x): move one element at a time, torch.zeros_like(x) to collect them" : null,
        }.Run();
    }


    // ---------------------------------------------------------------- linear backward

    /// <summary>dx, dW and db of y = x @ W + b for the upstream gradient dy, by autograd (or by central differences when i.Fd).</summary>
    static (Tensor Dx, Tensor DW, Tensor Db) LinearGrads(LinIn i)
    {
        if (i.Fd)
        {
            Tensor L(Tensor x, Tensor w, Tensor b) => (Ops.Linear(x, w, b) * i.Dy).sum();      // dL/dy = dy
            return (CentralDifference(x => L(x, i.W, i.B), i.X, 1e-6), CentralDifference(w => L(i.X, w, i.B), i.W, 1e-6), CentralDifference(b => L(i.X, i.W, b), i.B, 1e-6));
        }
        using var grad = torch.enable_grad();
        var (xr, wr, br) = (i.X.detach().clone().requires_grad_(), i.W.detach().clone().requires_grad_(), i.B.detach().clone().requires_grad_());
        Ops.Linear(xr, wr, br).backward([i.Dy]);                                                // y.backward(dy): the chain rule from dy
        return (xr.grad!.detach(), wr.grad!.detach(), br.grad!.detach());
    }

    static LinIn LinCase(int seed, ScalarType dt, long n, long nIn, long nOut, bool fd = false) =>
        (R(seed, dt, n, nIn), R(seed + 1, dt, nIn, nOut) / Math.Sqrt(nIn), R(seed + 2, dt, nOut) * 0.1, R(seed + 3, dt, n, nOut), fd);

    /// <summary>
    /// linear_backward(x, W, b, dy): the gradients of y = x @ W + b ([N, n_in] @ [n_in, n_out] + [n_out]) given dy = dL/dy
    /// [N, n_out]: dx = dy @ Wᵀ [N, n_in], dW = xᵀ @ dy [n_in, n_out], db = dy summed over the batch [n_out]. Each is
    /// compared with autograd (y.backward(dy)) and, in float64, with central differences; then the answer must not use
    /// autograd itself, nor return tensors that still require grad when W and b are parameters.
    /// </summary>
    public static CheckResult LinearBackward(Func<Tensor, Tensor, Tensor, Tensor, (Tensor dx, Tensor dW, Tensor db)> backward)
    {
        const string Name = "linear_backward";
        Case<LinIn> C(string part, string name, double tol, Func<LinIn> inputs) => new() { Name = $"{part}, {name}", Tol = tol, Inputs = inputs };
        Case<LinIn>[] Cases(string part) =>
        [
            C(part, "x [4, 4], W [4, 4], dy [4, 4], against autograd (float64)", F64, () => LinCase(311, Float64, 4, 4, 4)),
            C(part, "x [5, 3], W [3, 6], dy [5, 6], against autograd (float64)", F64, () => LinCase(315, Float64, 5, 3, 6)),
            C(part, "x [8, 6], W [6, 2], against autograd (float32)", F32, () => LinCase(319, Float32, 8, 6, 2)),
            C(part, "x [3, 2], W [2, 4], against central differences, h = 1e-6 (float64)", 1e-7, () => LinCase(323, Float64, 3, 2, 4, fd: true)),
        ];
        string? Shapes(Exception e) => ShapeError(e)
            ? "line the shapes up: x is [N, n_in], W [n_in, n_out], dy [N, n_out]; dx = dy @ Wᵀ is [N, n_in] like x, dW = xᵀ @ dy is [n_in, n_out] like W, db = dy.sum(dim: 0) is [n_out] like b"
            : null;
        const string NoMean = "dy is already the gradient of the loss (it carries the loss's 1/N): the chain rule multiplies by it, nothing more; do not divide by N again";
        static Tensor N(LinIn i) => torch.tensor((double)i.X.shape[0], dtype: i.X.dtype);
        CheckResult Part(string part, Func<(Tensor dx, Tensor dW, Tensor db), Tensor> pick, Func<LinIn, Tensor> reference, IReadOnlyList<Trap<LinIn>> traps,
            Func<LinIn, Tensor, Tensor, string?> diagnose) => new CheckEngine<LinIn>
        {
            Name = Name,
            Reference = reference,
            ReferenceName = "autograd",
            Learner = i => pick(backward(i.X, i.W, i.B, i.Dy)),
            InputsUnchanged = true,
            Cases = Cases(part),
            Traps = traps,
            ExceptionHint = e => Shapes(e) ?? InPlaceShape(e),
            Diagnose = diagnose,
        }.Run();
        return Parts(Name, "dx, dW and db match autograd and central differences (float64 and float32), without autograd in your function",
            () => Part("dx", r => r.dx, i => LinearGrads(i).Dx,
            [
                new("dx = dy @ Wᵀ (W.T): y = x @ W sends x through W, so the gradient goes back through W's transpose; dy @ W only fits when W is square", i => Ops.MatMul(i.Dy, i.W)),
                new(NoMean, i => LinearGrads(i).Dx / N(i)),
                new("the bias does not change dx: dx = dy @ Wᵀ, nothing added", i => LinearGrads(i).Dx + i.B.sum()),
                new("that is dW's formula: dx = dy @ Wᵀ (shaped like x)", i => Ops.MatMul(i.X.T, i.Dy)),
            ], (i, e, g) => g.shape.SequenceEqual(e.shape.Reverse()) && CheckEngine.Matches(g.T, e, 1e-6)
                ? "dx is shaped like x, [N, n_in]: dy @ Wᵀ; yours is its transpose (W @ dyᵀ)" : null),
            () => Part("dW", r => r.dW, i => LinearGrads(i).DW,
            [
                new("dW = xᵀ @ dy is [n_in, n_out] like W; dyᵀ @ x is its transpose", i => Ops.MatMul(i.Dy.T, i.X)),
                new(NoMean, i => LinearGrads(i).DW / N(i)),
                new("dW = xᵀ @ dy: the inputs x, not the gradient dx, multiply dy", i => Ops.MatMul(Ops.MatMul(i.Dy, i.W.T).T, i.Dy)),
                new("dW sums over the batch through the matmul, xᵀ @ dy: every row of x meets its own row of dy (x.sum(0) times dy.sum(0) mixes rows)",
                    i => i.X.sum(dim: 0).unsqueeze(1) * i.Dy.sum(dim: 0).unsqueeze(0)),
            ], (i, e, g) => g.shape.SequenceEqual(e.shape.Reverse()) && CheckEngine.Matches(g.T, e, 1e-6)
                ? "dW is shaped like W, [n_in, n_out]: xᵀ @ dy; yours is its transpose (dyᵀ @ x)" : null),
            () => Part("db", r => r.db, i => LinearGrads(i).Db,
            [
                new("b is added to every row of the batch, so its gradient sums dy over the batch: db = dy.sum(dim: 0), not the mean", i => i.Dy.mean([0])),
                new("sum over the batch axis, dim: 0 (the rows): dy.sum(dim: 1) sums each row's n_out values", i => i.Dy.sum(dim: 1)),
                new(NoMean, i => i.Dy.sum(dim: 0) / N(i)),
            ], (i, e, g) =>
                g.shape.SequenceEqual(i.Dy.shape) ? "b is added to every row of the batch, so db sums dy over the batch: db = dy.sum(dim: 0), shaped like b [n_out]; yours is dy itself"
                : g.dim() == 0 ? "sum over the batch axis only, dy.sum(dim: 0): db has one value per output, shaped like b [n_out]; dy.sum() adds everything into one number"
                : null),
            Property(Name, "W and b are parameters (requires_grad), x [4, 3]: the gradients must be plain tensors", "none of dx, dW, db requires grad; the inputs have no .grad", () =>
            {
                var i = LinCase(331, Float64, 4, 3, 5);
                var (x, w, b) = (i.X, i.W.requires_grad_(), i.B.requires_grad_());
                var (dx, dW, db) = backward(x, w, b, i.Dy);
                if (x.requires_grad || x.grad is not null || w.grad is not null || b.grad is not null)
                    return ("your function used autograd (an input has requires_grad or a .grad after it ran)", UseAutogradHint);
                foreach (var (n, t) in new[] { ("dx", dx), ("dW", dW), ("db", db) })
                    if (t.requires_grad) return ($"your {n} still requires grad", NoGraphHint);
                return null;
            }));
    }

    // ---------------------------------------------------------------- softmax + cross-entropy backward

    /// <summary>d(mean cross-entropy)/d(logits), by autograd (or by central differences when i.Fd).</summary>
    static Tensor CeGrad(CeIn i)
    {
        Tensor Loss(Tensor l) => torch.nn.functional.cross_entropy(l, i.Targets);
        if (i.Fd) return CentralDifference(Loss, i.Logits, 1e-5);
        using var grad = torch.enable_grad();
        var l = i.Logits.detach().clone().requires_grad_();
        Loss(l).backward();
        return l.grad!.detach();
    }

    static readonly Mistakes.Way CeLogSoftmax = new("use the probabilities softmax(logits), not log-softmax: the gradient of -log p_target through log-softmax is softmax - one_hot");
    static readonly Mistakes.Way CeExpNotNormalised = new("divide exp(logits) by each row's sum: the probabilities softmax(logits) = e / e.sum(-1, keepdim: true)");
    static readonly Mistakes.Way CeSoftmaxAxis0 = new("take the softmax over the classes, the last axis (softmax(-1)): dim 0 runs over the batch");
    static readonly Mistakes.Way CeLogits = new("subtract the one-hot from the probabilities softmax(logits), not from the logits");
    static readonly Mistakes.Way CeOneHotOfPrediction = new("the one-hot marks each row's TARGET class, one_hot(targets, V): yours marks the class the model predicts (argmax of the logits)");
    static readonly Mistakes.Way CeNoOneHot = new("subtract the one-hot of the targets: the gradient is softmax - one_hot(targets), a target's probability pulled towards 1");
    static readonly Mistakes.Way CeSign = new("the sign is swapped: the gradient is softmax - one_hot (p - y), positive where the model gives too much probability; gradient descent then subtracts it");
    static readonly Mistakes.Way CeNoMean = new("divide by N, the number of rows: the loss is the mean over N rows, so each row's gradient is (p - y) / N");
    static readonly Mistakes.Way CeByNV = new("divide by N, the number of rows, not by N·V: the loss averages over the rows, each row's loss sums over its classes through the softmax");
    static readonly Mistakes.Way CeByV = new("divide by N, the number of rows, not by V: the mean is over the rows of the batch");

    static readonly Mistakes.Step[] CeSteps =
    [
        new(CeLogSoftmax, CeExpNotNormalised, CeSoftmaxAxis0, CeLogits),
        new(CeOneHotOfPrediction, CeNoOneHot),
        new(CeSign),
        new(CeNoMean, CeByNV, CeByV),
    ];

    static Tensor WrongCe(Mistakes.Choice c, CeIn i)
    {
        var (l, t) = (i.Logits, i.Targets);
        long n = l.shape[0], v = l.shape[1];
        var p = c.Took(CeLogSoftmax) ? l.log_softmax(-1)
            : c.Took(CeExpNotNormalised) ? l.exp()
            : c.Took(CeSoftmaxAxis0) ? l.softmax(0)
            : c.Took(CeLogits) ? l
            : l.softmax(-1);
        var y = c.Took(CeOneHotOfPrediction) ? torch.nn.functional.one_hot(l.argmax(-1), v).to(l.dtype)
            : c.Took(CeNoOneHot) ? torch.zeros_like(l)
            : torch.nn.functional.one_hot(t, v).to(l.dtype);
        var g = c.Took(CeSign) ? y - p : p - y;
        return c.Took(CeNoMean) ? g : c.Took(CeByNV) ? g / (n * v) : c.Took(CeByV) ? g / v : g / n;
    }

    /// <summary>
    /// cross_entropy_backward(logits, targets): the gradient of the mean cross-entropy over N rows with respect to the
    /// logits [N, V], (softmax(logits) - one_hot(targets)) / N, against autograd of cross_entropy and, in float64, central
    /// differences; stable for large logits; no autograd inside, no graph in the result.
    /// </summary>
    public static CheckResult CrossEntropyBackward(Func<Tensor, Tensor, Tensor> backward)
    {
        const string Name = "cross_entropy_backward";
        Case<CeIn> C(string name, double tol, Func<CeIn> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return Parts(Name, "dlogits matches autograd and central differences, also for logits near ±1000, without autograd in your function",
            () => new CheckEngine<CeIn>
            {
                Name = Name,
                Reference = CeGrad,
                ReferenceName = "autograd of cross_entropy",
                Learner = i => backward(i.Logits, i.Targets),
                InputsUnchanged = true,
                Cases =
                [
                    C("logits [4, 4], targets [0, 3, 1, 1], against autograd (float64)", F64, () => (R(341, Float64, 4, 4) * 2, Ids([0, 3, 1, 1]), false)),
                    C("logits [6, 9], random targets, against autograd (float64)", F64, () => (R(342, Float64, 6, 9) * 2, Ids([8, 0, 4, 4, 2, 7]), false)),
                    C("logits [5, 65] (a character vocabulary), against autograd (float32)", F32, () => (R(343, Float32, 5, 65) * 3, Ids([1, 64, 30, 0, 12]), false)),
                    C("logits [3, 5], against central differences, h = 1e-5 (float64)", 1e-7, () => (R(344, Float64, 3, 5), Ids([2, 0, 4]), true)),
                    C("large logits around ±1000, [2, 3] (float64): exp(1000) overflows", F64, () => (T([[1000, 998, -1000], [-1000, 999, 1000]]), Ids([1, 2]), false)),
                ],
                Traps =
                [
                    .. Mistakes.Combine<CeIn>(CeSteps, WrongCe, distinct: c => !(c.Took(CeNoOneHot) && c.Took(CeSign))),
                    new("one row at a time: the targets index the rows' classes (one_hot(targets, V) is [N, V]); a one-hot of the wrong shape broadcasts over the batch",
                        i => (i.Logits.softmax(-1) - torch.nn.functional.one_hot(i.Targets, i.Logits.shape[1]).to(i.Logits.dtype).T) / i.Logits.shape[0]),
                ],
                ExceptionHint = e => ShapeError(e) || e.Message.Contains("broadcast")
                    ? "the gradient is shaped like the logits [N, V]: one_hot(targets, V) is [N, V] too (pass the number of classes, logits.shape[1])"
                    : e.Message.Contains("one_hot") || e.Message.Contains("Long") || e.Message.Contains("Int64")
                    ? "torch.nn.functional.one_hot takes the int64 targets and the number of classes, one_hot(targets, V), and gives int64: convert it with .to(logits.dtype) before subtracting"
                    : InPlaceShape(e),
                Diagnose = (i, expected, got) =>
                    HasNonFinite(got) && !HasNonFinite(expected)
                        ? "your gradient has NaN or infinities on large logits: exp(1000) overflows to inf and inf / inf is NaN; subtract each row's max first, " +
                          "e = (logits - logits.amax(new long[] { -1 }, keepdim: true)).exp() (or use softmax(-1), which does it)"
                    : got.dim() == 0 ? "return the gradient with respect to every logit, shaped like the logits [N, V], not the loss"
                    : got.dim() == 1 && got.shape[0] == i.Logits.shape[1] ? "the gradient has one row per row of the logits, [N, V]: divide (p - y) by N instead of averaging over the rows (mean(0) adds the rows together)"
                    : null,
            }.Run(),
            Property(Name, "logits that require grad (as in a model), [3, 4]: the gradient must be a plain tensor", "the gradient does not require grad; the logits have no .grad", () =>
            {
                var logits = (R(351, Float64, 3, 4) * 2).requires_grad_();
                var g = backward(logits, Ids([0, 2, 3]));
                if (logits.grad is not null) return ("your function used autograd (the logits have a .grad after it ran)", UseAutogradHint);
                if (g.requires_grad) return ("your gradient still requires grad", NoGraphHint);
                return null;
            }));
    }
}
