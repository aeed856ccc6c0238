using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/02-softmax.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- softmax

    const string RowMaxHint = "subtract each row's max (x.amax(new long[] { -1 }, keepdim: true)), not the max of the whole tensor: ";
    const string AminHint = "subtract each row's max (x.amax(new long[] { -1 }, keepdim: true)), not its min (amin): only with the max is the largest exponent exp(0) = 1; after subtracting the min ";
    const string KeepdimBroadcast = "a row max or row sum taken without keepdim: true has lost the last axis and does not broadcast against x: " +
                                    "keep it with keepdim: true, so it has shape [..., 1]";

    const string SumOfZero = "you divided by the sum of the whole tensor as a byte (a whole number from 0 to 255): in C# a literal 0 becomes a dtype, so e.sum(0) is " +
        "e.sum(ScalarType.Byte), not a sum over axis 0 (the kernel warns with a ⚠ under the cell); sum each row over the last axis: e.sum(-1, keepdim: true)";

    static readonly Mistakes.Way NoMax = new("softmax overflows for large logits such as [1000, 1001] (exp(1000) is inf): subtract the max first, softmax(x) = softmax(x - max(x)), with each row's max x.amax(new long[] { -1 }, keepdim: true)");
    static readonly Mistakes.Way GlobalMax = new(RowMaxHint + "rows far below it underflow to 0/0 = NaN");
    static readonly Mistakes.Way MaxNoKeepdim = new("take the row max with keepdim: true, x.amax(new long[] { -1 }, keepdim: true); without keepdim it is one value per row laid out along the last axis, so it is subtracted column by column instead of row by row");
    static readonly Mistakes.Way MaxAxis0 = new("take the max over the last axis, each row's own max: x.amax(new long[] { -1 }, keepdim: true); over axis 0 you took the max of each column");
    static readonly Mistakes.Step SoftmaxMax = new(NoMax, GlobalMax, MaxNoKeepdim, MaxAxis0);
    static readonly Mistakes.Way SumNoKeepdim = new("sum with keepdim: true (e.sum(-1, keepdim: true)), so each row is divided by its own sum; without keepdim the row sums are laid out along the last axis and divide the columns");
    static readonly Mistakes.Way SumWhole = new("divide by the sum over the last axis (e.sum(-1, keepdim: true)), not by the sum of the whole tensor");
    static readonly Mistakes.Way SumAxis0 = new("sum over the last axis, each row's own sum: e.sum(-1, keepdim: true); over axis 0 you summed each column");
    static readonly Mistakes.Step SoftmaxSum = new(SumNoKeepdim, SumWhole, SumAxis0);

    /// <summary>softmax over the last axis, stable for large logits.</summary>
    public static CheckResult Softmax(Func<Tensor, Tensor> softmax)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        return new CheckEngine<Tensor>
        {
            Name = "softmax",
            Deterministic = true,
            Reference = Ops.Softmax,
            ReferenceName = "Ops.Softmax",
            Learner = softmax,
            Cases =
            [
                C("published [[2, 100], [-5, 0]] → [[2.74878501e-43, 1], [6.69285092e-03, 9.93307149e-01]] (float64)", F64, () => T([[2, 100], [-5, 0]])),
                C("random [3, 4, 5], softmax over the last axis (float32)", F32, () => R(11, Float32, 3, 4, 5)),
                C("large logits [1000, 1001] → [0.2689, 0.7311] (float32, whose steps near 1000 are 6e-5)", 1e-4, () => T1([1000, 1001]).to(Float32)),
                C("rows far apart [[1000, 1001], [-1000, -999]] (float64)", F64, () => T([[1000, 1001], [-1000, -999]])),
                C("random [2, 7] scaled by 10 (float64)", F64, () => R(12, Float64, 2, 7) * 10),
                C("a widely spread row [-2000, 0, 600] → [0, 2.6e-261, 1] (float64)", F64, () => T1([-2000, 0, 600])),
            ],
            Traps =
            [
                // before the combinations: max and sum over axis 0 together are this mistake written out, and this hint says it plainly
                new("softmax over the wrong axis: normalise over the last axis (dim -1), the one that sums to 1", x => x.softmax(0)),
                new("softmax over the wrong axis: normalise over the last axis (dim -1), the one that sums to 1", x => x.softmax(-2)),
                // the max to subtract (none, global, without keepdim, over axis 0) × the sum to divide by (without keepdim, whole tensor, over axis 0)
                .. Mistakes.Combine<Tensor>([SoftmaxMax, SoftmaxSum], (c, x) =>
                {
                    var e = c.Took(NoMax) ? x.exp()
                        : c.Took(GlobalMax) ? (x - x.max()).exp()
                        : c.Took(MaxNoKeepdim) ? (x - x.amax([-1])).exp()
                        : c.Took(MaxAxis0) ? (x - x.amax([0], keepdim: true)).exp()
                        : (x - x.amax([-1], keepdim: true)).exp();
                    return e / (c.Took(SumNoKeepdim) ? e.sum(-1) : c.Took(SumWhole) ? e.sum() : c.Took(SumAxis0) ? e.sum(0, keepdim: true) : e.sum(-1, keepdim: true));
                }),
                new("subtract the max in the denominator too: with e = exp(x - m), softmax = e / e.sum(-1, keepdim: true); you divided exp(x - m) by the sum of exp(x)",
                    x => { var m = x.amax([-1], keepdim: true); return (x - m).exp() / x.exp().sum(-1, keepdim: true); }),
                new("subtract each row's max, not its mean: only with the max is the largest exponent exp(0) = 1; after subtracting the mean a widely spread row still overflows (exp(1066) is inf)",
                    x => { var e = (x - x.mean([-1], keepdim: true)).exp(); return e / e.sum(-1, keepdim: true); }),
                new(AminHint + "exp(600 - (-2000)) = exp(2600) is inf, and inf / inf is NaN",
                    x => { var e = (x - x.amin([-1], keepdim: true)).exp(); return e / e.sum(-1, keepdim: true); }),
                new(SumOfZero, x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.sum(ScalarType.Byte); }),
                new(SumOfZero, x => { var e = x.exp(); return e / e.sum(ScalarType.Byte); }),
                new("divide by each row's sum, e.sum(-1, keepdim: true), not by its max: divided by the max, the largest entry is 1 and the row sums to more than 1",
                    x => { var e = (x - x.amax([-1], keepdim: true)).exp(); return e / e.amax([-1], keepdim: true); }),
            ],
            InputsUnchanged = true,
            ExceptionHint = e => e.Message.Contains("must match the size") ? KeepdimBroadcast : InPlaceShape(e),
            Diagnose = (x, expected, got) => HasNonFinite(got) && !HasNonFinite(expected)
                ? "NaN or inf for large logits: subtract the max first, softmax(x) = softmax(x - max(x)) over the last axis"
                : null,
        }.Run();
    }

    // ---------------------------------------------------------------- log-softmax

    const string LsmFormula_ = "x - m - log Σ exp(x - m), with m each row's max";
    static readonly Mistakes.Way LsmNoMax = new("exp overflows for large logits such as [1000, 1001] (exp(1000) is inf): subtract each row's max m first, log Σ exp(x) = m + log Σ exp(x - m)");
    static readonly Mistakes.Way LsmGlobalMax = new(RowMaxHint + "for a row far below it every exp underflows to 0, and log(0) = -inf");
    static readonly Mistakes.Step LsmMax = new(LsmNoMax, LsmGlobalMax);
    static readonly Mistakes.Way LogOfSoftmax = new($"log(softmax(x)) is not stable: a probability that underflows to 0 gives log(0) = -inf (for [0, 1000] the answer is [-1000, 0]); compute it directly as {LsmFormula_}");
    static readonly Mistakes.Way MaxNotAddedBack = new($"add the max back: log Σ exp(x) = m + log Σ exp(x - m), so log_softmax(x) = {LsmFormula_}, not x - log Σ exp(x - m)");
    static readonly Mistakes.Way LseAdded = new($"subtract the log-sum-exp, do not add it: log_softmax(x) = {LsmFormula_} (every value is ≤ 0)");
    static readonly Mistakes.Way LogOfMean = new("take the log of the sum Σ exp(x - m), not of the mean (the mean divides by n, so every value is off by log n)");
    static readonly Mistakes.Step LsmFormula = new(LogOfSoftmax, MaxNotAddedBack, LseAdded, LogOfMean);
    static readonly Mistakes.Way LsmSumNoKeepdim = new("sum with keepdim: true (sum(-1, keepdim: true)), so each row subtracts its own log-sum-exp");
    static readonly Mistakes.Way LsmSumWhole = new("sum over the last axis, one log-sum-exp per row (sum(-1, keepdim: true)): a sum over the whole tensor " +
        "(sum() without an axis, or Math.Log of one .item()) gives every row the same number, right only when there is one row");
    static readonly Mistakes.Step LsmSum = new(LsmSumNoKeepdim, LsmSumWhole);

    /// <summary>log(softmax(x)) over the last axis, computed stably with the log-sum-exp trick.</summary>
    public static CheckResult LogSoftmax(Func<Tensor, Tensor> logSoftmax)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> x) => new() { Name = name, Tol = tol, Inputs = x };
        const string Formula = "x - m - log Σ exp(x - m), with m each row's max";
        return new CheckEngine<Tensor>
        {
            Name = "log_softmax",
            Deterministic = true,
            Reference = CourseOps.LogSoftmax,
            ReferenceName = "CourseOps.LogSoftmax",
            Learner = logSoftmax,
            Cases =
            [
                C("published log_softmax([1, 2, 3]) = [-2.40760596, -1.40760596, -0.40760596] (float64)", F64, () => T1([1, 2, 3])),
                C("random [3, 4, 5], over the last axis (float32)", F32, () => R(13, Float32, 3, 4, 5)),
                C("large gap [0, 1000] → [-1000, 0], where softmax underflows to 0 (float64)", F64, () => T1([0, 1000])),
                C("large logits [1000, 1001] → [-1.3132617, -0.3132617] (float32, whose steps near 1000 are 6e-5)", 1e-4, () => T1([1000, 1001]).to(Float32)),
                C("rows far apart [[1000, 1001], [-1000, -999]] (float64)", F64, () => T([[1000, 1001], [-1000, -999]])),
                C("random [2, 7] scaled by 10 (float64)", F64, () => R(14, Float64, 2, 7) * 10),
                C("a widely spread row [-2000, 0, 600] → [-2600, -600, 0] (float64)", F64, () => T1([-2000, 0, 600])),
            ],
            Traps =
            [
                // the max (none, global) × the formula (log of softmax, max not added back, sign, mean) × the sum (without keepdim)
                .. Mistakes.Combine<Tensor>([LsmMax, LsmFormula, LsmSum], (c, x) =>
                    {
                        var s = c.Took(LsmNoMax) ? x : c.Took(LsmGlobalMax) ? x - x.max() : x - x.amax([-1], keepdim: true);
                        Tensor Sum(Tensor t) => c.Took(LsmSumNoKeepdim) ? t.sum(-1) : c.Took(LsmSumWhole) ? t.sum() : t.sum(-1, keepdim: true);
                        return c.Took(LogOfSoftmax) ? (s.exp() / Sum(s.exp())).log()
                            : c.Took(MaxNotAddedBack) ? x - Sum(s.exp()).log()
                            : c.Took(LseAdded) ? s + Sum(s.exp()).log()
                            : c.Took(LogOfMean) ? s - (c.Took(LsmSumNoKeepdim) ? s.exp().mean([-1]) : c.Took(LsmSumWhole) ? s.exp().mean() : s.exp().mean([-1], keepdim: true)).log()
                            : s - Sum(s.exp()).log();
                    },
                    distinct: c => !(c.Took(LsmNoMax) && c.Took(MaxNotAddedBack))),  // without a max there is nothing to add back
                new($"you computed -log_softmax(x) (the negative log-likelihood that a loss adds up); log_softmax itself is ≤ 0: {Formula}",
                    x => { var m = x.amax([-1], keepdim: true); return m + (x - m).exp().sum(-1, keepdim: true).log() - x; }),
                new($"you returned the probabilities softmax(x); log_softmax returns their logarithm, computed stably as {Formula}", x => Ops.Softmax(x)),
                new("log_softmax over the wrong axis: normalise over the last axis (dim -1)", x => x.log_softmax(0)),
                new($"shift the sum too: you subtracted m but took log Σ exp(x) instead of log Σ exp(x - m); log_softmax(x) = {Formula}",
                    x => { var m = x.amax([-1], keepdim: true); return x - m - x.exp().sum(-1, keepdim: true).log(); }),
                new($"the log here is the natural logarithm, t.log() (ln), not log10: {Formula}",
                    x => { var m = x.amax([-1], keepdim: true); return x - m - (x - m).exp().sum(-1, keepdim: true).log10(); }),
                new($"subtract each row's max, not its mean: only with the max is the largest exponent exp(0) = 1; after subtracting the mean a widely spread row still overflows. {Formula}",
                    x => { var m = x.mean([-1], keepdim: true); return x - m - (x - m).exp().sum(-1, keepdim: true).log(); }),
            ],
            InputsUnchanged = true,
            ExceptionHint = e => e.Message.Contains("must match the size") ? KeepdimBroadcast : InPlaceShape(e),
            Diagnose = (x, expected, got) => HasNonFinite(got) && !HasNonFinite(expected)
                ? $"NaN or ±inf where the answer is finite: exp overflowed (subtract each row's max first) or a probability underflowed to 0 before the log (log(0) = -inf); compute {Formula}"
                : null,
        }.Run();
    }
}
