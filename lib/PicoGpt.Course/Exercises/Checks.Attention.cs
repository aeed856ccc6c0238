using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/05-attention.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- causal mask

    /// <summary>The additive causal mask: 0 on and below the diagonal (visible), -1e10 above it (the future).</summary>
    public static CheckResult CausalMask(Func<long, ScalarType, Tensor> causalMask)
    {
        Case<(long N, ScalarType Dtype)> C(string name, long n, ScalarType dtype) => new() { Name = name, Tol = 0, Inputs = () => (n, dtype) };
        static Tensor Ones(long n, ScalarType dt) => torch.ones(n, n, dtype: dt);
        const double Big = 1e10;
        const string Where = "mask the future: entry [i, j] is -1e10 where j > i (above the diagonal) and 0 where j ≤ i";
        return new CheckEngine<(long N, ScalarType Dtype)>
        {
            Name = "causal_mask",
            Reference = i => Ops.CausalMask(i.N, i.Dtype),
            ReferenceName = "Ops.CausalMask",
            Learner = i => causalMask(i.N, i.Dtype),
            Cases =
            [
                C("n_seq 4 (float64)", 4, Float64),
                C("n_seq 6 (float32)", 6, Float32),
                C("n_seq 1: one position, it sees itself (float64)", 1, Float64),
                C("n_seq 9 (float64)", 9, Float64),
            ],
            Traps =
            [
                new("you masked the past (below the diagonal) instead of the future: " + Where + ", e.g. (1 - torch.tril(ones)) * -1e10",
                    i => torch.tril(Ones(i.N, i.Dtype), -1) * -Big),
                new("the diagonal is masked too: a position may see itself (j = i), so only j > i gets -1e10 (torch.triu(ones, 1) or 1 - torch.tril(ones))",
                    i => torch.triu(Ones(i.N, i.Dtype)) * -Big),
                new("the mask is upside down and covers the diagonal: tril and triu are swapped; " + Where,
                    i => torch.tril(Ones(i.N, i.Dtype)) * -Big),
                new("this is a 0/1 (true/false) keep-mask, made for multiplying; attention's mask is added to the scores: 0 where visible, -1e10 where masked: (1 - torch.tril(ones)) * -1e10",
                    i => torch.tril(Ones(i.N, i.Dtype))),
                new("this marks the future with 1; the additive mask puts -1e10 there (and 0 elsewhere): multiply by -1e10",
                    i => torch.triu(Ones(i.N, i.Dtype), 1)),
                new("the masked entries must be large and NEGATIVE: +1e10 makes the future the most attended position; use -1e10",
                    i => torch.triu(Ones(i.N, i.Dtype), 1) * Big),
                new("0 × -inf is NaN, so multiplying a 0/1 matrix by -inf puts NaN on the visible entries; multiply by -1e10 instead (or fill with torch.where / masked_fill)",
                    i => (1 - torch.tril(Ones(i.N, i.Dtype))) * double.NegativeInfinity),
                new("0 × -inf is NaN, so multiplying a 0/1 matrix by -inf puts NaN on the visible entries; multiply by -1e10 instead (or fill with torch.where / masked_fill)",
                    i => torch.triu(Ones(i.N, i.Dtype), 1) * double.NegativeInfinity),
                new("the visible entries must be 0, but yours are 1: you filled the future of torch.tril(ones) and kept its ones; " +
                    "fill a matrix of zeros instead, torch.zeros(nSeq, nSeq, dtype: dtype).masked_fill(future, -1e10), or compute (1 - torch.tril(ones)) * -1e10",
                    i => torch.tril(Ones(i.N, i.Dtype)) + torch.triu(Ones(i.N, i.Dtype), 1) * -Big),
            ],
            Accept = (i, expected, got) =>
                expected.dtype == got.dtype && CheckEngine<int>.Matches(expected, torch.where(got <= -1e9, -Big, got), 0)
                    ? "matches Ops.CausalMask with the masked value ≤ -1e9 (e.g. -inf) instead of -1e10: fine for a causal mask, where every row keeps its diagonal; -1e10 also stays finite when a whole row is masked"
                    : null,
            Diagnose = (i, expected, got) =>
                !expected.shape.SequenceEqual(got.shape) ? $"the mask is [n_seq, n_seq] = [{i.N}, {i.N}]: create it with torch.ones(nSeq, nSeq, dtype: dtype) and torch.tril / torch.triu"
                : expected.dtype != got.dtype ? $"create the mask in the dtype asked for ({i.Dtype.ToString().ToLowerInvariant()}): torch.ones(nSeq, nSeq, dtype: dtype); a mask of another dtype cannot be added to the scores (or changes their dtype)"
                : (got < 0 & got > -1e9).any().item<bool>() && got.min().item<double>() <= -1e3
                    ? "-10000 (BERT's value) hides the future only while every score stays far above it, and in float32 adding it costs the scores their last digits; " +
                      "the course and picoGPT use -1e10, which no score can overcome (-inf works too)"
                : (got < 0 & got > -1e9).any().item<bool>() ? "the masked value is too weak: exp(-100) is small but not 0, so the future still leaks in; use -1e10"
                : WrongDiagonal(got),
        }.Run();
    }

    /// <summary>
    /// For a mask of 0 and masked entries: the first entry on the wrong side of the diagonal, with the diagonal offset to use
    /// (triu(ones, 1) masks j > i; an offset of 0 or -1 also masks the diagonal or the past, tril(ones, 1) lets j = i + 1 through).
    /// </summary>
    static string? WrongDiagonal(Tensor got)
    {
        if (got.dim() != 2) return null;
        long n = got.shape[0];
        var masked = got <= -1e9;
        if (!(masked | got == 0).all().item<bool>()) return null;
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++)
                if (masked[i, j].item<bool>() != (j > i))
                    return j > i
                        ? $"entry [{i}, {j}] (j > i, a future position) is not masked: only j ≤ i is visible, so mask every entry above the diagonal, torch.triu(ones, 1) (diagonal offset 1)"
                        : $"entry [{i}, {j}] (j ≤ i, {(j == i ? "the position itself" : "a past position")}) is masked: only j > i is the future; torch.triu(ones, 1) masks exactly that (diagonal offset 1: it starts one above the diagonal)";
        return null;
    }

    // ---------------------------------------------------------------- attention

    /// <summary>attention(q, k, v, mask) = softmax(q kᵀ / √d_k + mask) v, with picoGPT's additive mask.</summary>
    public static CheckResult Attention(Func<Tensor, Tensor, Tensor, Tensor, Tensor> attention)
    {
        Case<(Tensor Q, Tensor K, Tensor V, Tensor M)> C(string name, double tol, Func<(Tensor, Tensor, Tensor, Tensor)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor Q, Tensor K, Tensor V, Tensor M)>
        {
            Name = "attention",
            Reference = i => Ops.Attention(i.Q, i.K, i.V, i.M),
            ReferenceName = "Ops.Attention",
            Learner = i => attention(i.Q, i.K, i.V, i.M),
            Cases =
            [
                C("q, k, v [4, 4] (n_seq = d_k) with the causal mask [4, 4] (float64)", F64,
                    () => (R(41, Float64, 4, 4) * 2, R(42, Float64, 4, 4) * 2, R(43, Float64, 4, 4), Ops.CausalMask(4, Float64))),
                C("q, k, v [4, 8] with the causal mask [4, 4] (float64)", F64,
                    () => (R(53, Float64, 4, 8) * 2, R(54, Float64, 4, 8) * 2, R(55, Float64, 4, 8), Ops.CausalMask(4, Float64))),
                C("q, k [5, 16], v [5, 6] (d_v ≠ d_k), causal mask (float32)", F32,
                    () => (R(44, Float32, 5, 16) * 2, R(45, Float32, 5, 16) * 2, R(46, Float32, 5, 6), Ops.CausalMask(5, Float32))),
                C("batch q, k, v [2, 4, 8] with a [4, 4] causal mask (float64)", F64,
                    () => (R(47, Float64, 2, 4, 8) * 2, R(48, Float64, 2, 4, 8) * 2, R(49, Float64, 2, 4, 8), Ops.CausalMask(4, Float64))),
                C("3 queries, 5 keys, zero mask [3, 5] (float64)", F64,
                    () => (R(50, Float64, 3, 8) * 2, R(51, Float64, 5, 8) * 2, R(52, Float64, 5, 4), torch.zeros(3, 5, dtype: Float64))),
            ],
            Traps =
            [
                .. Mistakes.Combine<(Tensor Q, Tensor K, Tensor V, Tensor M)>(AttentionSteps, WrongAttention),
                new("the output is weights @ v ([n_q, n_k] @ [n_k, d_v]): each row of the weights averages the rows of v; you multiplied v @ weights",
                    i => Ops.MatMul(i.V, Ops.Softmax(Ops.MatMul(i.Q, i.K.transpose(-2, -1)) / Math.Sqrt(i.Q.shape[^1]) + i.M))),
                new("the scores are q @ kᵀ (row i is query i, column j is key j), not k @ qᵀ, their transpose",
                    i => Ops.MatMul(Ops.Softmax(Ops.MatMul(i.K, i.Q.transpose(-2, -1)) / Math.Sqrt(i.Q.shape[^1]) + i.M), i.V)),
                new("you returned the attention weights softmax(q·kᵀ/√d_k + mask), [n_q, n_k]; the output is those weights times the values: weights @ v, [n_q, d_v]",
                    i => Ops.Softmax(Ops.MatMul(i.Q, i.K.transpose(-2, -1)) / Math.Sqrt(i.Q.shape[^1]) + i.M)),
                new("your function ignores its mask argument: is_causal: true builds its own causal mask, which is wrong here (this mask is all zeros, and n_q ≠ n_k); " +
                    "use the mask you are given: add it to the scores, or pass it as attn_mask",
                    i => torch.nn.functional.scaled_dot_product_attention(i.Q, i.K, i.V, null, 0, true)),
            ],
            InputsUnchanged = true,
            ExceptionHint = e =>
                e.Message.Contains("must be a 3D tensor")
                    ? "torch.bmm works on 3-D batches [B, n, m] only, and q, k, v may be 2-D [n_seq, d_k]: use matmul (or Ops.MatMul), which takes any number of leading batch dimensions"
                : e.Message.Contains("only supports boolean masks")
                    ? "masked_fill needs a boolean mask, and this mask is additive (0 where visible, -1e10 in the future): add it to the scores, scores + mask " +
                      "(or, with masked_fill, select the future with mask < 0)"
                : e.Message.Contains("must match the size")
                    ? "an element-wise op got shapes that do not broadcast: the scores q @ kᵀ are [..., n_q, n_k] and the mask you are given is [n_q, n_k] already, so add it as it is " +
                      "(a causal mask of your own, CausalMask(n_q), is [n_q, n_q] and does not fit 3 queries and 5 keys)"
                : MatMulShapes(e) is ({ Length: >= 3 } a, { Length: >= 3 } b) && b[0] == a[^1] && b[^1] == a[0]
                    ? $"the scores are q @ kᵀ with kᵀ = k.transpose(-2, -1), which swaps only the last two axes; k.T reverses ALL the axes of a batched k (here [{string.Join(", ", Enumerable.Reverse(b))}] became [{string.Join(", ", b)}])"
                : ShapeError(e)
                    ? "the scores are q @ kᵀ: q [..., n_q, d_k] matmul k.transpose(-2, -1) [..., d_k, n_k] gives [..., n_q, n_k], then @ v (matmul and transpose(-2, -1) also work with leading batch dimensions; mm and .T do not)"
                : null,
            Probe = () => FutureLeaks(
                v => attention(R(41, Float64, 4, 4) * 2, R(42, Float64, 4, 4) * 2, v, Ops.CausalMask(4, Float64)),
                () => R(43, Float64, 4, 4)),
        }.Run();
    }

    /// <summary>The steps of softmax(q kᵀ / √d_k + mask) v that learners get wrong, alone and two at a time.</summary>
    static readonly Mistakes.Step[] AttentionSteps =
    [
        new("no 1/sqrt(d_k) scaling: divide q·kᵀ by √d_k (d_k = q.shape[^1]) before the softmax " +     // 1: none, 2: 1/d_k, 3: √n_q, 4: √d_v, 5: after the softmax, 6: times √d_k, 7: times 0
            "(in C# Math.Pow(d_k, 1 / 2) is Math.Pow(d_k, 0) = 1, since 1 / 2 is integer division: use Math.Sqrt)",
            "scale by 1/sqrt(d_k), not 1/d_k",
            "d_k is the LAST axis of q, q.shape[^1]: you divided by √n_seq (q.shape[0] without a batch axis, q.shape[1] with one)",
            "scale by √d_k, the width of q and k (q.shape[^1]), not by the width of v",
            "divide the scores q·kᵀ by √d_k BEFORE the softmax: dividing the weights after it only shrinks every row to sum to 1/√d_k",
            "divide the scores by √d_k, do not multiply: q·kᵀ / Math.Sqrt(d_k)",
            "every score became 0, so each row attends evenly to what it sees: q.shape[^1] is a long, and 1 / d_k with integers is 0 in C#; divide by Math.Sqrt(d_k) instead"),
        new(FutureVisible,                                                                         // 1: no mask, 2: added after the softmax, 3: zeroed after, 4: multiplied, 5: subtracted, 6: masked_fill(mask == 0)
            FutureVisible,
            "apply the mask before the softmax: zeroing the future weights afterwards leaves rows that no longer sum to 1",
            "the mask is additive: add it to the scores (0 keeps a position, -1e10 removes it); do not multiply",
            "add the mask, scores + mask: subtracting it adds +1e10 to the future, which then takes all the attention",
            "the mask is additive, 0 where visible and -1e10 in the future: masked_fill(mask == 0, ...) fills the VISIBLE positions; add it, scores + mask (or masked_fill(mask < 0, -1e10))"),
        new("softmax over the keys: the last axis of the scores q·kᵀ"),
        new("transpose k: the scores are q @ k.transpose(-2, -1), [n_q, n_k]"),
    ];

    /// <summary>Attention with the mistakes chosen in c (0 = right): scale, mask, softmax axis, k transposed.</summary>
    static Tensor WrongAttention(int[] c, (Tensor Q, Tensor K, Tensor V, Tensor M) i)
    {
        var s = Ops.MatMul(i.Q, c[3] == 0 ? i.K.transpose(-2, -1) : i.K);             // [..., n_q, n_k]
        s = c[0] switch
        {
            1 or 5 => s, 2 => s / i.Q.shape[^1], 3 => s / Math.Sqrt(i.Q.shape[^2]), 4 => s / Math.Sqrt(i.V.shape[^1]),
            6 => s * Math.Sqrt(i.Q.shape[^1]), 7 => s * 0, _ => s / Math.Sqrt(i.Q.shape[^1]),
        };
        if (c[1] == 0) s = s + i.M;
        if (c[1] == 4) s = s * i.M;
        if (c[1] == 5) s = s - i.M;
        if (c[1] == 6) s = s.masked_fill(i.M == 0, -1e10);
        var w = s.softmax(c[2] == 0 ? -1 : -2);                                        // [..., n_q, n_k]
        if (c[0] == 5) w = w / Math.Sqrt(i.Q.shape[^1]);
        if (c[1] == 2) w = w + i.M;
        if (c[1] == 3) w = w * (i.M == 0);
        return Ops.MatMul(w, i.V);
    }

    /// <summary>
    /// A hint when a linear layer's weight was used the wrong way round: x.matmul(W.T) (the kernel's guard reports the
    /// shapes) or nn.functional.linear(x, W, b), which expects PyTorch's [n_out, n_in]. GPT-2's weights are [n_in, n_out].
    /// </summary>
    static string? TransposedWeight(Exception e, string weights)
    {
        bool transposed = MatMulShapes(e) is (long[] a, long[] b) && b.Length == 2 && a.Length >= 1 && b[1] == a[^1] && b[0] != a[^1];
        bool linear = e.Message.Contains("mat1 and mat2 shapes cannot be multiplied");
        return transposed || linear
            ? $"GPT-2 stores its weights as [n_in, n_out] (Conv1D): {weights}, so x @ W needs no .T (and nn.functional.linear, which expects [n_out, n_in], does not fit); use Ops.Linear(x, W, b)"
            : null;
    }

    /// <summary>The operand shapes of a failed matmul, from Ops.MatMul's message "[2, 4, 8] @ [8, 4, 2]" (the kernel's guard), or null.</summary>
    static (long[] A, long[] B)? MatMulShapes(Exception e)
    {
        var m = Regex.Match(e.Message, @"\[([0-9, ]*)\] @ \[([0-9, ]*)\]");
        if (!m.Success) return null;
        static long[] Parse(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        return (Parse(m.Groups[1].Value), Parse(m.Groups[2].Value));
    }
}
