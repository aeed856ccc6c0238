using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/01-linear.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- linear

    /// <summary>linear(x, w, b) = x @ w + b with w in GPT-2's [n_in, n_out] layout.</summary>
    public static CheckResult Linear(Func<Tensor, Tensor, Tensor, Tensor> linear)
    {
        Case<(Tensor X, Tensor W, Tensor B)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, Tensor W, Tensor B)>
        {
            Name = "linear",
            Deterministic = true,
            Reference = i => Ops.Linear(i.X, i.W, i.B),
            ReferenceName = "Ops.Linear",
            Learner = i => linear(i.X, i.W, i.B),
            Cases =
            [
                C("fixed x [2, 3], square w [3, 3], b [3] (float64)", F64, () => (
                    T([[1, 2, 3], [4, 5, 6]]), T([[1, 0, 2], [0, 1, 0], [3, -1, 1]]), T1([0.5, -1, 2]))),
                C("random x [5, 8], w [8, 16], b [16] (float32)", F32, () => (R(1, Float32, 5, 8), R(2, Float32, 8, 16), R(3, Float32, 16))),
                C("batch x [2, 3, 8], w [8, 4], b [4] (float64)", F64, () => (R(4, Float64, 2, 3, 8), R(5, Float64, 8, 4), R(6, Float64, 4))),
                C("one vector x [8], w [8, 4], b [4] (float32)", F32, () => (R(7, Float32, 8), R(8, Float32, 8, 4), R(9, Float32, 4))),
            ],
            Traps =
            [
                new("w is [n_in, n_out] (GPT-2's Conv1D layout): compute x @ w + b, without transposing w " +
                    "(x @ w.T transposes it, and so does torch.nn.functional.linear(x, w, b), which expects nn.Linear's [n_out, n_in])", i => Ops.MatMul(i.X, i.W.T) + i.B),
                new("missing bias: add b after the matrix product, x @ w + b", i => i.X.matmul(i.W)),
                new("add b after the matrix product: x @ w + b, not (x + b) @ w", i => Ops.MatMul(i.X + i.B, i.W)),
                new("add the bias, do not subtract it: x @ w + b", i => Ops.MatMul(i.X, i.W) - i.B),
            ],
            InputsUnchanged = true,
            ExceptionHint = e => MatrixOnly(e, "x.matmul(w)") ?? ElementWise(e, "x @ w") ?? InPlaceShape(e)
                ?? (ShapeError(e) || e.Message.Contains("einsum") ? CheckEngine.SafeHint(() => ProductOrder(linear)) : null)
                ?? (ShapeError(e) ? "the shapes do not line up: x is [..., n_in] and w is [n_in, n_out] (GPT-2's Conv1D layout), so compute x @ w (not x @ w.T or w @ x)" : null),
        }.Run();
    }

    /// <summary>
    /// After a shape error: runs the learner's linear on square x, w [3, 3] (where every product of the two fits, so it
    /// cannot fail on shapes) and names the product it computes when that is x and w in another order or transposed.
    /// </summary>
    static string? ProductOrder(Func<Tensor, Tensor, Tensor, Tensor> linear)
    {
        using var scope = torch.NewDisposeScope();
        var (x, w, b) = (R(61, Float64, 3, 3), R(62, Float64, 3, 3), R(63, Float64, 3));
        var got = linear(x, w, b);
        const string Right = "x [n_seq, n_in] comes first and w [n_in, n_out] second: x.matmul(w), or torch.einsum(\"ij,jk->ik\", x, w) " +
                             "(einsum takes its operands in the order of the equation's terms, so the letters ij are x's axes)";
        (Tensor Product, string Name)[] orders =
        [
            (Ops.MatMul(w, x), "w @ x (w.matmul(x), or einsum(\"ij,jk->ik\", w, x))"),
            (Ops.MatMul(x.T, w), "x.T @ w"),
            (Ops.MatMul(w.T, x), "w.T @ x"),
            (Ops.MatMul(w, x.T), "w @ x.T"),
            (Ops.MatMul(x.T, w.T), "x.T @ w.T"),
        ];
        foreach (var (product, name) in orders)
            if (CheckEngine.Matches(got, product + b, 1e-9))
                return $"your product is {name}: with square x and w [3, 3], where every order fits, your function computes that instead of x @ w; {Right}";
        return null;
    }

    /// <summary>A hint when the learner used a 2-D-only product (mm, einsum without "...") on an input with batch dimensions.</summary>
    static string? MatrixOnly(Exception e, string product) =>
        e.Message.Contains("must be a matrix") || e.Message.Contains("expects a tensor with <= 2 dimensions")
            ? $"torch.mm (and .t()) work on 2-D matrices only, and x may have leading batch dimensions such as [B, n_seq, n_in]: use {product}, which broadcasts over them"
        : e.Message.Contains("must be a 3D tensor")
            ? $"torch.bmm works on 3-D batches [B, n, m] only, and the inputs here may be 2-D (or have more axes): use {product}, which takes any number of leading batch dimensions"
        : e.Message.Contains("einsum") && e.Message.Contains("no ellipsis")
            ? $"an einsum equation without \"...\" fits one number of dimensions only, and x may have leading batch dimensions: use {product}"
        : null;

    /// <summary>A hint when an element-wise + or * failed to broadcast: the bias added the wrong way, or * used for the matrix product.</summary>
    static string? ElementWise(Exception e, string product) =>
        e.Message.Contains("must match the size")
            ? $"an element-wise + or * got shapes that do not broadcast: {product} is [..., n_out] and the bias [n_out] adds to every row as it is (no unsqueeze); " +
              "and * multiplies element by element, it is not the matrix product (use matmul)"
            : null;

    // ---------------------------------------------------------------- linear, written as loops

    /// <summary>
    /// linear(x, w, b) on plain arrays, out[t, j] = Σ_i x[t, i] · w[i, j] + b[j] (w in GPT-2's [n_in, n_out] layout),
    /// compared with Ops.Linear in float64.
    /// </summary>
    public static CheckResult LinearLoops(Func<double[,], double[,], double[], double[,]> linear)
    {
        Case<(Tensor X, Tensor W, Tensor B)> C(string name, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = F64, Inputs = inputs };
        static Tensor CumSumFlat(Tensor xw) => xw.flatten().cumsum(0).reshape(xw.shape);   // a sum never reset
        return new CheckEngine<(Tensor X, Tensor W, Tensor B)>
        {
            Name = "linear with loops",
            Reference = i => Ops.Linear(i.X, i.W, i.B),
            ReferenceName = "Ops.Linear",
            Learner = i => FromArray(linear(ToArray2(i.X), ToArray2(i.W), i.B.data<double>().ToArray())),
            Cases =
            [
                C("square x [3, 3] and w [3, 3] of small integers, b [3]", () => (
                    T([[1, 2, 0], [0, 1, 3], [2, 0, 1]]), T([[1, 0, 2], [0, 1, 0], [3, -1, 1]]), T1([0.5, -1, 2]))),
                C("x [2, 3], w [3, 2], b [2]: the example above, [[14, 25], [20, 31]]", () => (
                    T([[1, 2, 3], [4, 5, 6]]), T([[1, 0], [0, 1], [1, 1]]), T1([10, 20]))),
                C("random x [4, 5], w [5, 3], b [3]", () => (R(24, Float64, 4, 5), R(25, Float64, 5, 3), R(26, Float64, 3))),
                C("one token x [1, 6], w [6, 4], b [4]", () => (R(27, Float64, 1, 6), R(28, Float64, 6, 4), R(29, Float64, 4))),
                C("one input feature x [3, 1], w [1, 2], b [2]", () => (R(30, Float64, 3, 1), R(31, Float64, 1, 2), R(32, Float64, 2))),
            ],
            Traps =
            [
                new("add b[j] once per output, after the sum over i: you added it inside the loop over i (n_in times)",
                    i => Ops.MatMul(i.X, i.W) + i.W.shape[0] * i.B),
                new("missing bias: out[t, j] = Σ_i x[t, i] · w[i, j] + b[j]", i => Ops.MatMul(i.X, i.W)),
                new("start every output's sum at 0: declare the sum inside the loop over j (yours carries on from the previous output)",
                    i => Ops.MatMul(i.X, i.W).cumsum(1) + i.B),
                new("start every output's sum at 0: declare the sum inside the loop over j (yours carries on from the previous outputs and tokens)",
                    i => CumSumFlat(Ops.MatMul(i.X, i.W)) + i.B),
                new("the weight from input i to output j is w[i, j] (w is [n_in, n_out]), not w[j, i]",
                    i => Ops.MatMul(i.X, i.W.T) + i.B),
                new("input i of token t is x[t, i] (x is [n_seq, n_in]), not x[i, t]",
                    i => Ops.MatMul(i.X.T, i.W) + i.B),
                new("the output is y[t, j], row t for token t and column j for output j: you filled y[j, t], the transpose (new double[n_seq, n_out], then y[t, j] = ...)",
                    i => (Ops.MatMul(i.X, i.W) + i.B).T),
                new("the bias belongs to the output feature: add b[j], not b[t]",
                    i => Ops.MatMul(i.X, i.W) + i.B.unsqueeze(1)),
                new("sum over all n_in inputs, i from 0: you started at i = 1 and left out x[t, 0] · w[0, j]",
                    i => Ops.MatMul(i.X.narrow(1, 1, i.X.shape[1] - 1), i.W.narrow(0, 1, i.W.shape[0] - 1)) + i.B),
                new("the sum runs over the n_in inputs, n_in = x.GetLength(1) (= w.GetLength(0)); you stopped at w.GetLength(1), which is n_out",
                    i => Ops.MatMul(i.X.narrow(1, 0, i.W.shape[1]), i.W.narrow(0, 0, i.W.shape[1])) + i.B),
            ],
            ExceptionHint = e => e is IndexOutOfRangeException
                ? "an index ran past an array's end: the output is new double[n_seq, n_out]; loop t over n_seq = x.GetLength(0), j over n_out = w.GetLength(1) and i over n_in = x.GetLength(1) (= w.GetLength(0))"
                : null,
            Diagnose = (i, expected, got) => got.shape.SequenceEqual(expected.shape) ? null
                : "the output is [n_seq, n_out], one row per token and one column per output feature: new double[x.GetLength(0), w.GetLength(1)]",
        }.Run();
    }

    static double[,] ToArray2(Tensor t) // [rows, cols] float64
    {
        var (rows, cols) = ((int)t.shape[0], (int)t.shape[1]);
        var flat = t.contiguous().data<double>().ToArray();
        var a = new double[rows, cols];
        Buffer.BlockCopy(flat, 0, a, 0, flat.Length * sizeof(double));
        return a;
    }

    static Tensor FromArray(double[,] a) // -> [rows, cols] float64
    {
        if (a is null) return null!;
        var flat = new double[a.Length];
        Buffer.BlockCopy(a, 0, flat, 0, a.Length * sizeof(double));
        return torch.tensor(flat, [a.GetLength(0), a.GetLength(1)], dtype: Float64);
    }

    // ---------------------------------------------------------------- linear in nn.Linear's layout

    /// <summary>
    /// linear(x, weight, bias) with weight in PyTorch's / TorchSharp's nn.Linear layout [n_out, n_in]: x @ weightᵀ + bias,
    /// compared with torch.nn.functional.linear.
    /// </summary>
    public static CheckResult NnLinear(Func<Tensor, Tensor, Tensor, Tensor> linear)
    {
        Case<(Tensor X, Tensor W, Tensor B)> C(string name, double tol, Func<(Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, Tensor W, Tensor B)>
        {
            Name = "linear (nn.Linear layout)",
            Reference = i => torch.nn.functional.linear(i.X, i.W, i.B),
            ReferenceName = "torch.nn.functional.linear",
            Learner = i => linear(i.X, i.W, i.B),
            Cases =
            [
                C("square x [3, 3], weight [3, 3], bias [3] (float64)", F64, () => (R(41, Float64, 3, 3), R(42, Float64, 3, 3), R(43, Float64, 3))),
                C("x [2, 3], weight [2, 3] (the example above in nn.Linear's layout), bias [2] (float64)", F64, () => (
                    T([[1, 2, 3], [4, 5, 6]]), T([[1, 0, 1], [0, 1, 1]]), T1([10, 20]))),
                C("random x [5, 8], weight [16, 8], bias [16] (float32)", F32, () => (R(44, Float32, 5, 8), R(45, Float32, 16, 8), R(46, Float32, 16))),
                C("batch x [2, 3, 8], weight [4, 8], bias [4] (float64)", F64, () => (R(47, Float64, 2, 3, 8), R(48, Float64, 4, 8), R(49, Float64, 4))),
                C("one vector x [8], weight [4, 8], bias [4] (float32)", F32, () => (R(50, Float32, 8), R(51, Float32, 4, 8), R(52, Float32, 4))),
            ],
            Traps =
            [
                new("you used weight as if it were GPT-2's [n_in, n_out], but it is [n_out, n_in] (nn.Linear's layout): either x @ weight.T + bias (without the .T it reads as [n_in, n_out]), " +
                    "or torch.nn.functional.linear(x, weight, bias) with weight as it is (linear transposes it itself, so linear(x, weight.T, bias) transposes twice)",
                    i => Ops.MatMul(i.X, i.W) + i.B),
                new("missing bias: x @ weight.T + bias", i => Ops.MatMul(i.X, i.W.T)),
                new("rows of the output are tokens: x @ weight.T is [n_seq, n_out]; weight @ x.T is its transpose [n_out, n_seq]",
                    i => Ops.MatMul(i.W, i.X.T) + i.B),
                new("the textbook's y = W x + b is for one column vector x; with one token per row of x it is x @ weight.T + bias",
                    i => Ops.MatMul(i.W, i.X) + i.B),
                new("add the bias after the matrix product: x @ weight.T + bias, not (x + bias) @ weight.T",
                    i => Ops.MatMul(i.X + i.B, i.W.T)),
            ],
            InputsUnchanged = true,
            ExceptionHint = e => MatrixOnly(e, "x.matmul(weight.T)") ?? ElementWise(e, "x @ weight.T") ?? InPlaceShape(e)
                ?? (ShapeError(e) ? "the shapes do not line up: x is [..., n_in] and weight is [n_out, n_in] (nn.Linear's layout), so compute x @ weight.T (x.matmul(weight.T))" : null),
        }.Run();
    }
}
