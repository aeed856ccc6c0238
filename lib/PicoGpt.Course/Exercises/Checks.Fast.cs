using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

public static partial class Checks
{
    // ---------------------------------------------------------------- notebook 14: int8 quantization

    const string ColumnAxis = "an output channel of GPT-2's Conv1D weight W [n_in, n_out] is a COLUMN (y = x @ W: output j = Σ_i x_i W[i, j]): " +
                              "take the max over the rows, w.abs().amax(new long[] { 0 }), which gives one scale per output, [n_out]";

    /// <summary>Weights [n_in, n_out] (float32, n_in ≠ n_out so that the axis shows) for the quantization checks.</summary>
    static Tensor QuantWeight(int seed, long nIn, long nOut, double std, bool zeroColumn = false, bool outliers = false)
    {
        var w = R(seed, Float32, nIn, nOut) * std;                                      // [n_in, n_out]
        if (outliers) { w[1, 0].fill_(-8 * std); w[nIn - 1, nOut - 1].fill_(6 * std); }   // one large |w| in two columns, one of them negative
        if (zeroColumn) w[.., 1].fill_(0.0);
        return w;
    }

    static IReadOnlyList<Case<Tensor>> QuantCases(double tol) =>
    [
        new() { Name = "W [6, 4] (float32), one large negative weight in column 0", Tol = tol, Inputs = () => QuantWeight(1401, 6, 4, 0.05, outliers: true) },
        new() { Name = "W [48, 192] like a small c_fc (std 0.02)", Tol = tol, Inputs = () => QuantWeight(1402, 48, 192, 0.02) },
        new() { Name = "W [5, 3] whose column 1 is all zeros (max|w| = 0)", Tol = tol, Inputs = () => QuantWeight(1403, 5, 3, 0.1, zeroColumn: true) },
        new() { Name = "W [192, 48] like a small c_proj, with outliers", Tol = tol, Inputs = () => QuantWeight(1404, 192, 48, 0.02, outliers: true) },
    ];

    /// <summary>
    /// quantize(w): w [n_in, n_out] (GPT-2's Conv1D layout) -> (q int8 [n_in, n_out], scale [n_out] in w's dtype),
    /// against <see cref="QuantOps.QuantizeInt8"/>. Checks the scale first (its axis and formula; a column of zeros may
    /// have any scale above 0), then the codes: equal to the reference's, or another rounding that still keeps every
    /// weight within half a step (|q * scale - w| ≤ scale / 2).
    /// </summary>
    public static CheckResult QuantizeInt8(Func<Tensor, (Tensor Q, Tensor Scale)> quantize)
    {
        const string name = "quantize_int8";
        var perRow = new Mistakes.Way(ColumnAxis + "; amax(1) gives one scale per input (a row)");
        var perTensor = new Mistakes.Way("one scale per output channel (column), not one for the whole tensor (per-tensor): a single large weight would then coarsen every column");
        var mean = new Mistakes.Way("the scale comes from the LARGEST |w| of the column (amax), not the mean |w|: with the mean most weights land outside ±127 and are clamped");
        var noAbs = new Mistakes.Way("take the max of |w| (w.abs()), not of w: the largest magnitude can be a negative weight, and without abs it is missed (or the scale is negative)");
        var by128 = new Mistakes.Way("divide by 127, not 128: int8's symmetric range is -127..127, and with 128 the largest weight rounds to 128, which int8 cannot hold (it wraps to -128)");
        var by255 = new Mistakes.Way("divide by 127, not 255: 255 is uint8's range; a signed code has 127 steps on each side, so /255 wastes half of them");
        var inverse = new Mistakes.Way("the scale is max|w| / 127 (the size of one step), not 127 / max|w| (its inverse)");
        var zeroScale = new Mistakes.Way("a column of zeros has max|w| = 0, so scale 0, and then w / scale = 0 / 0 = NaN: give such a column a scale above 0 " +
                "(torch.where(max > 0, max / 127, torch.ones_like(max))); its codes are all 0 either way");
        var scaleSteps = new Mistakes.Step[] { new(perRow, perTensor), new(mean, noAbs), new(by128, by255, inverse), new(zeroScale) };
        var scaleTraps = Mistakes.Combine<Tensor>(scaleSteps, (c, w) =>
        {
            var source = c.Took(noAbs) ? w : w.abs();                                 // the max of w, without abs
            Tensor Stat(long? dim) => c.Took(mean)
                ? (dim is long d ? source.mean(new long[] { d }) : source.mean())                   // the mean |w|
                : (dim is long e ? source.amax(new long[] { e }) : source.max());
            var max = c.Took(perRow) ? Stat(1) : c.Took(perTensor) ? Stat(null) : Stat(0);   // [n_in], [] or [n_out]
            var scale = c.Took(by128) ? max / 128 : c.Took(by255) ? max / 255 : c.Took(inverse) ? 127 / max : max / 127;
            return c.Took(zeroScale) ? scale : torch.where(max > 0, scale, torch.ones_like(scale));
        });
        // the per-tensor scale repeated for every column, as a learner who read "one per column" might write it
        scaleTraps.Add(new("one scale per output channel (column), each from ITS largest |w|: yours is the same number in every column (the whole tensor's max)",
            w => (w.abs().max() / 127).expand(w.shape[1]).contiguous()));

        var scaleEngine = new CheckEngine<Tensor>
        {
            Name = name,
            Reference = w => QuantOps.QuantizeInt8(w).Scale,
            ReferenceName = "QuantOps.QuantizeInt8 (the scale)",
            Learner = w => quantize(w).Scale,
            Cases = QuantCases(1e-7).Select(c => new Case<Tensor> { Name = c.Name + ": the scale", Tol = c.Tol, Inputs = c.Inputs }).ToArray(),
            Traps = scaleTraps,
            Accept = (w, expected, got) =>
            {
                var zero = w.abs().amax(new long[] { 0 }) == 0;                                           // [n_out]
                if (!zero.any().item<bool>() || got.dtype != expected.dtype || !got.shape.SequenceEqual(expected.shape)) return null;
                bool othersRight = CheckEngine<Tensor>.Matches(got.masked_fill(zero, 1), expected, 1e-7);
                bool positive = (got.masked_select(zero) > 0).all().item<bool>() && got.masked_select(zero).isfinite().all().item<bool>();
                return othersRight && positive ? "every scale matches, and the column of zeros has a scale above 0 (its codes are 0 whatever it is)" : null;
            },
            ExceptionHint = e => ShapeError(e) || e.Message.Contains("must match")
                ? ColumnAxis + "; then w / scale lines the [n_out] scales up with the columns by itself (a scale per row, [n_in], does not fit the last axis)"
                : null,
            Diagnose = (w, expected, got) =>
                got.dim() == 2 && got.shape[0] == 1 && got.shape[1] == w.shape[1] ? null                  // keepdim: the engine's axis-of-one hint
                : got.shape.SequenceEqual(expected.shape) && !HasNonFinite(got) && ScaleFormula(w, got) is { } formula ? formula
                : got.numel() == w.shape[0] && w.shape[0] != w.shape[1] ? ColumnAxis + "; yours has one scale per input (row), [n_in]"
                : got.numel() == 1 ? "one scale per output channel (column), not one for the whole tensor (per-tensor): a single large weight would then coarsen every column"
                : got.shape.SequenceEqual(w.shape) ? "return the scales, one per column ([n_out]), not a tensor shaped like the weight"
                : HasNonFinite(got) ? "a scale is NaN or infinite: a column of zeros has max|w| = 0; give it a scale above 0 (torch.where(max > 0, max / 127, torch.ones_like(max)))"
                : null,
        };
        var scales = scaleEngine.Run();
        if (!scales.Passed) return scales;

        var codeEngine = new CheckEngine<Tensor>
        {
            Name = name,
            Reference = w => QuantOps.QuantizeInt8(w).Q,
            ReferenceName = "QuantOps.QuantizeInt8 (the codes q)",
            Learner = w => quantize(w).Q,
            Cases = QuantCases(0).Select(c => new Case<Tensor> { Name = c.Name + ": the codes q", Tol = c.Tol, Inputs = c.Inputs }).ToArray(),
            Traps =
            [
                new("round to the nearest code, (w / scale).round(), before converting: .to(ScalarType.Int8) alone truncates toward zero (2.7 → 2), which doubles the worst error",
                    w => (w / QuantOps.QuantizeInt8(w).Scale).trunc().to(Int8)),
                new("round to the nearest code, (w / scale).round(), not floor: floor moves every weight down, up to a whole step",
                    w => (w / QuantOps.QuantizeInt8(w).Scale).floor().to(Int8)),
                new("round to the nearest code, (w / scale).round(), not ceil: ceil moves every weight up, up to a whole step",
                    w => (w / QuantOps.QuantizeInt8(w).Scale).ceil().to(Int8)),
                new("you lost the sign: q = round(w / scale) keeps it (a negative weight gets a negative code); round |w| / scale and every code is positive",
                    w => (w.abs() / QuantOps.QuantizeInt8(w).Scale).round().to(Int8)),
                new("divide by the scale, q = round(w / scale): the scale is the size of one step, and w * scale makes almost every code 0",
                    w => (w * QuantOps.QuantizeInt8(w).Scale).round().to(Int8)),
                new("keep the weight's layout [n_in, n_out]: your codes are transposed",
                    w => QuantOps.QuantizeInt8(w).Q.T.contiguous()),
            ],
            Accept = (w, expected, got) =>
            {
                if (got.dtype != Int8 || !got.shape.SequenceEqual(expected.shape)) return null;
                var scale = QuantOps.QuantizeInt8(w).Scale;                                  // [n_out]
                var err = ((got.to(Float64) * scale.to(Float64) - w.to(Float64)).abs() / scale.to(Float64)).max().item<double>();
                bool inRange = got.to(ScalarType.Int64).abs().max().item<long>() <= 127;
                return inRange && err <= 0.5 + 1e-4
                    ? $"another rounding at a tie: every weight is still within half a step (largest |q * scale - w| / scale = {CheckEngine<Tensor>.Num(err)})"
                    : null;
            },
            Diagnose = (w, expected, got) =>
            {
                if (got.dtype == Int8) return null;
                if (got.is_floating_point() && got.shape.SequenceEqual(expected.shape)
                    && CheckEngine<Tensor>.Matches(got.to(Float64), QuantOps.DequantizeInt8(expected, QuantOps.QuantizeInt8(w).Scale).to(Float64), 1e-6))
                    return "return the int8 codes q, not q * scale (turning codes back into weights is DequantizeInt8's job)";
                if (got.dtype == ScalarType.Byte)
                    return "q must be signed, ScalarType.Int8 (sbyte): uint8 (ScalarType.Byte) cannot hold negative codes, -3 becomes 253";
                return $"the codes must be int8 (ScalarType.Int8), one byte each: that is the point of int8; yours are {got.dtype.ToString().ToLowerInvariant()}: convert with .to(ScalarType.Int8) after rounding";
            },
        };
        var codes = codeEngine.Run();
        if (!codes.Passed) return codes;

        // the round trip, reported: at most half a step per weight
        var bounds = new List<string>();
        foreach (var c in QuantCases(0))
        {
            using var scope = torch.NewDisposeScope();
            var w = c.Inputs();
            var (q, s) = quantize(w);
            var err = ((q.to(Float64) * s.to(Float64) - w.to(Float64)).abs() / QuantOps.QuantizeInt8(w).Scale.to(Float64)).max().item<double>();
            bounds.Add($"✓ {c.Name}: round trip, largest |q * scale - w| / scale = {CheckEngine<Tensor>.Num(err)} (at most 0.5)");
        }
        return new CheckResult(name, true, false,
            $"the scales and the codes of all {QuantCases(0).Count} cases match QuantOps.QuantizeInt8; every weight comes back within half a step",
            null, [.. scales.Details, .. codes.Details, .. bounds]);
    }

    /// <summary>
    /// What a wrong per-column scale is proportional to, when it is: max|w| with another divisor than 127 (/127.5, /126),
    /// the range max - min (the asymmetric scale of uint8 quantization), or the standard deviation. Null otherwise.
    /// </summary>
    static string? ScaleFormula(Tensor w, Tensor got) // [n_in, n_out], [n_out]
    {
        var x = w.to(Float64);
        var g = got.to(Float64);
        if (ConstantRatio(g, x.abs().amax(new long[] { 0 })) is { } r && Math.Abs(1 / r - 127) > 1e-3)    // at 127 the values are right (another dtype)
            return $"your scale is max|w| / {Divisor(1 / r)}: divide by exactly 127, the largest int8 code, so that the largest |w| of a column becomes ±127 " +
                   "(a smaller divisor makes it round past 127, a larger one wastes codes)";
        if (ConstantRatio(g, x.amax(new long[] { 0 }) - x.amin(new long[] { 0 })) is { } range)
            return $"your scale is (max - min) / {Divisor(1 / range)}, the asymmetric scale of uint8 quantization with a zero point: here the codes are symmetric int8, " +
                   "-127..127 around 0 with no zero point, so scale = max|w| / 127 (max of the absolute values, w.abs().amax(new long[] { 0 }))";
        foreach (var unbiased in new[] { true, false })
            if (ConstantRatio(g, x.std(new long[] { 0 }, unbiased: unbiased)) is { } s)
                return $"your scale is {Divisor(s * 127)} × std / 127, from each column's standard deviation: the scale comes from the LARGEST |w| of the column, " +
                       "max|w| / 127, so that no weight falls outside ±127 and gets clipped; a rare large weight (this case has one) is exactly what a scale from the std clips";
        return null;
    }

    /// <summary>A factor computed in float32, as the learner wrote it: 254, not 253.999996; 127.5 stays 127.5.</summary>
    static string Divisor(double d)
    {
        var near = Math.Round(d, 2);
        return CheckEngine.Num(Math.Abs(d - near) <= 1e-5 * Math.Abs(d) ? near : d);
    }

    /// <summary>got / basis when it is one number for every element whose basis is above 0 (at least two of them), else null.</summary>
    static double? ConstantRatio(Tensor got, Tensor basis)
    {
        var keep = basis > 0;
        if (keep.sum().item<long>() < 2 || !got.shape.SequenceEqual(basis.shape)) return null;
        var ratio = (got / basis).masked_select(keep);
        double lo = ratio.min().item<double>(), hi = ratio.max().item<double>();
        return double.IsFinite(lo) && double.IsFinite(hi) && hi - lo <= 1e-5 * Math.Abs(hi) && hi != 0 ? (lo + hi) / 2 : null;
    }

    /// <summary>
    /// dequantize(q, scale): int8 codes [n_in, n_out] and one scale per column [n_out] -> the weights q * scale
    /// [n_in, n_out] in the scale's dtype, against <see cref="QuantOps.DequantizeInt8"/>.
    /// </summary>
    public static CheckResult DequantizeInt8(Func<Tensor, Tensor, Tensor> dequantize)
    {
        static Case<(Tensor Q, Tensor Scale)> C(string name, int seed, long nIn, long nOut) => new()
        {
            Name = name, Tol = 1e-7,
            Inputs = () => QuantOps.QuantizeInt8(QuantWeight(seed, nIn, nOut, 0.05, outliers: true)),
        };
        return new CheckEngine<(Tensor Q, Tensor Scale)>
        {
            Name = "dequantize_int8",
            Reference = i => QuantOps.DequantizeInt8(i.Q, i.Scale),
            ReferenceName = "QuantOps.DequantizeInt8",
            Learner = i => dequantize(i.Q, i.Scale),
            Cases =
            [
                C("q [4, 4] and scale [4] (square, so every axis fits)", 1411, 4, 4),
                C("q [6, 3] and scale [3]", 1412, 6, 3),
                C("q [48, 192] and scale [192]", 1413, 48, 192),
            ],
            Traps =
            [
                new("multiply: w ≈ q * scale (the scale is the size of one step); q / scale divides by it",
                    i => i.Q.to(Float32) / i.Scale),
                new("each COLUMN has its scale: q * scale broadcasts scale [n_out] along the last axis as it is; scale.unsqueeze(1) (or a [n_out, 1] view) scales the rows",
                    i => i.Q.to(Float32) * i.Scale.unsqueeze(1)),
                new("each COLUMN has its scale: q * scale as it is, without transposing q (q.T * scale scales the rows and returns [n_out, n_in])",
                    i => i.Q.to(Float32).T * i.Scale),
                new("multiply by the scale: the codes alone are in steps, not in the weights' units",
                    i => i.Q.to(Float32)),
                new("q is signed: converting it through uint8 (ScalarType.Byte) turns -3 into 253; convert with q.to(scale.dtype)",
                    i => i.Q.to(ScalarType.Byte).to(Float32) * i.Scale),
                new("the scale already holds the 1/127 (scale = max|w| / 127): w ≈ q * scale, with no further / 127",
                    i => i.Q.to(Float32) * i.Scale / 127),
                new("the scale already holds the 1/127 (scale = max|w| / 127): w ≈ q * scale, with no further * 127",
                    i => i.Q.to(Float32) * i.Scale * 127),
            ],
            ExceptionHint = e => ShapeError(e) || e.Message.Contains("must match")
                ? "each COLUMN has its scale: q [n_in, n_out] * scale [n_out] broadcasts along the last axis as it is (no unsqueeze, no transpose)"
                : null,
            Diagnose = (i, expected, got) =>
            {
                if (!got.shape.SequenceEqual(expected.shape)) return null;
                if (!got.is_floating_point())
                    return $"return the weights as floating-point numbers in the scale's dtype ({expected.dtype.ToString().ToLowerInvariant()}): q.to(scale.dtype) * scale; " +
                           $"as {got.dtype.ToString().ToLowerInvariant()} every weight, most of them between -1 and 1, is cut to a whole number";
                var g = got.to(Float64); var e = expected.to(Float64);
                if ((g == g.round()).all().item<bool>() && !(e == e.round()).all().item<bool>())
                    return "do not round the weights: they are small fractions (q * scale is well below 1 here), and rounding makes almost all of them 0; " +
                           "the rounding happened once, in QuantizeInt8, and dequantizing only multiplies: q * scale";
                if (CheckEngine.Matches(g, i.Q.to(Float64) + i.Scale.to(Float64), 1e-4))          // float32 sums near 127 round to 1e-5
                    return "multiply the codes by their column's scale, w ≈ q * scale: the scale is the size of one step, and q + scale only shifts every code by a small number";
                if (ConstantRatio(g.flatten(), e.flatten()) is { } r && Math.Abs(r - 1) > 1e-6 && CheckEngine.Matches(g, e * r, 1e-6))   // the ratio over the positive weights holds for all
                    return $"your weights are {(r > 1 ? $"{Divisor(r)} × q * scale" : $"q * scale / {Divisor(1 / r)}")}: w ≈ q * scale exactly, with no further factor (the scale already is max|w| / 127, the size of one step)";
                return null;
            },
            InputsUnchanged = true,
        }.Run();
    }

    // ---------------------------------------------------------------- notebook 14: top-1 agreement

    internal sealed record AgreementIn(Tensor A, Tensor B);

    /// <summary>Logits [B, T, V] and a copy with small changes everywhere (top tokens kept) and the top token moved at <paramref name="moved"/> positions.</summary>
    static AgreementIn AgreementCase(int seed, long b, long t, long v, int moved, bool exactCopies = false)
    {
        var a = R(seed, Float32, b, t, v) * 2;                                                // [B, T, V]
        var noise = R(seed + 1, Float32, b, t, v) * 1e-3;
        var copy = exactCopies ? a.clone() : a + noise;
        if (!exactCopies)
        {
            for (long k = 0; k < b * t; k += 3)                                                // every third position unchanged, exactly
                copy[k / t, k % t] = a[k / t, k % t];
        }
        var rng = new Random(seed);
        var positions = Enumerable.Range(0, (int)(b * t)).OrderBy(_ => rng.Next()).Take(moved);
        foreach (var k in positions)
        {
            long i = k / t, j = k % t;
            var top = a[i, j].argmax().item<long>();
            copy[i, j, (top + 1) % v] = a[i, j, top] + 1;                                      // another token is now on top
        }
        return new(a, copy);
    }

    /// <summary>
    /// agreement(a, b): two models' logits [B, T, n_vocab] -> the fraction of the B·T positions whose top tokens
    /// (argmax over the vocabulary) are equal, against <see cref="QuantOps.Top1Agreement"/>.
    /// </summary>
    public static CheckResult Top1Agreement(Func<Tensor, Tensor, double> agreement)
    {
        static Case<AgreementIn> C(string name, Func<AgreementIn> inputs) => new() { Name = name, Tol = F64, Inputs = inputs };
        static Tensor Num(double v) => torch.tensor(v, dtype: Float64);
        return new CheckEngine<AgreementIn>
        {
            Name = "top1_agreement",
            Reference = i => Num(QuantOps.Top1Agreement(i.A, i.B)),
            ReferenceName = "QuantOps.Top1Agreement",
            Learner = i => Num(agreement(i.A, i.B)),
            Cases =
            [
                // every mistake below gives another number here (the first sequence alone 2/3, the last positions 1, the first ones 1/2, equal logits 1/3 ...)
                C("logits [2, 3, 4] written out: the top token moved at 1 of 6 positions (in the first sequence), small changes at 3 others (agreement 5/6)", () => new(
                    torch.tensor(new float[] { 3, 8, -9, 0, -5, 9, -9, 5, -5, -9, -8, 4, -1, -6, 3, 8, -5, 1, -7, 0, -4, -5, -1, 6 }, new long[] { 2, 3, 4 }),
                    torch.tensor(new float[] { 3, 8, 9, 0, -5, 9.5f, -9, 5, -5, -9, -8.5f, 4, -1, -6, 3.5f, 8.25f, -5, 1, -7, 0, -4, -5, -1, 6 }, new long[] { 2, 3, 4 }))),
                C("logits [1, 12, 5]: small changes everywhere, the top token moved at 3 of 12 positions (agreement 0.75)", () => AgreementCase(1421, 1, 12, 5, 3)),
                C("logits [2, 10, 7]: the top token moved at 6 of 20 positions (agreement 0.7)", () => AgreementCase(1422, 2, 10, 7, 6)),
                C("logits [3, 4, 65]: the same logits twice (agreement 1)", () => AgreementCase(1423, 3, 4, 65, 0, exactCopies: true)),
                C("logits [2, 9, 6]: the top token moved at every position (agreement 0)", () => AgreementCase(1424, 2, 9, 6, 18)),
            ],
            Traps =
            [
                new("compare the top tokens, a.argmax(-1) == b.argmax(-1), not the logits themselves: int8 weights change every logit a little, so equal logits say little",
                    i => Num((i.A == i.B).to(Float64).mean().item<double>())),
                new("compare the top tokens, a.argmax(-1) == b.argmax(-1), not the logits themselves (all of a position's logits equal is far stricter than the same top token)",
                    i => Num((i.A == i.B).all(-1).to(Float64).mean().item<double>())),
                new("take the argmax over the last axis, the vocabulary (argmax(-1)): argmax(1) picks a position, not a token",
                    i => Num((i.A.argmax(1) == i.B.argmax(1)).to(Float64).mean().item<double>())),
                new("take the argmax over the last axis, the vocabulary (argmax(-1)): argmax(0) picks a sequence of the batch, not a token",
                    i => Num((i.A.argmax(0) == i.B.argmax(0)).to(Float64).mean().item<double>())),
                new("argmax() without an axis flattens the whole tensor: one top token for everything; use argmax(-1), one per position",
                    i => Num(i.A.argmax().item<long>() == i.B.argmax().item<long>() ? 1 : 0)),
                new("return the fraction of positions that agree (mean, or the count divided by B·T), not the count",
                    i => Num((i.A.argmax(-1) == i.B.argmax(-1)).sum().item<long>())),
                new("the count divided by the number of positions in integers is integer division (C# rounds 15 / 20 down to 0): divide as double, or take .mean() of a float tensor",
                    i => Num((i.A.argmax(-1) == i.B.argmax(-1)).sum().item<long>() / (i.A.numel() / i.A.shape[^1]))),
                new("agreement is where the top tokens are equal (==), not where they differ",
                    i => Num(1 - QuantOps.Top1Agreement(i.A, i.B))),
                new("divide by the number of positions (B·T), not the number of logits (B·T·n_vocab)",
                    i => Num((i.A.argmax(-1) == i.B.argmax(-1)).sum().item<long>() / (double)i.A.numel())),
                new("divide by the number of positions, B·T (every sequence of the batch), not by T alone",
                    i => Num((i.A.argmax(-1) == i.B.argmax(-1)).sum().item<long>() / (double)i.A.shape[^2])),
                new("divide by the number of positions, B·T, not by B alone (the batch size)",
                    i => Num((i.A.argmax(-1) == i.B.argmax(-1)).sum().item<long>() / (double)i.A.shape[0])),
                new("return a fraction in [0, 1], not a percentage: no × 100 (the notebook prints it as a percentage itself)",
                    i => Num(100 * QuantOps.Top1Agreement(i.A, i.B))),
                new("count every sequence of the batch: you compared only the first one (a[0], b[0]); a.argmax(-1) == b.argmax(-1) is [B, T], and the agreement is the mean over all B·T positions",
                    i => Num(QuantOps.Top1Agreement(i.A[0].unsqueeze(0), i.B[0].unsqueeze(0)))),
                new("count every position: you compared only the last position of each sequence (a[.., -1], the one generation samples from); " +
                    "a.argmax(-1) == b.argmax(-1) is [B, T], and the agreement is the mean over all B·T positions",
                    i => Num(QuantOps.Top1Agreement(i.A[.., -1].unsqueeze(1), i.B[.., -1].unsqueeze(1)))),
                new("count every position: you compared only the first position of each sequence (a[.., 0]); a.argmax(-1) == b.argmax(-1) is [B, T], and the agreement is the mean over all B·T positions",
                    i => Num(QuantOps.Top1Agreement(i.A[.., 0].unsqueeze(1), i.B[.., 0].unsqueeze(1)))),
            ],
            Diagnose = (i, expected, got) =>
            {
                var g = got.item<double>();
                return double.IsNaN(g) ? "your agreement is NaN: a mean over no positions? take (a.argmax(-1) == b.argmax(-1)) over all B·T positions"
                    : g < 0 || g > 1 ? $"an agreement is a fraction in [0, 1]; yours is {CheckEngine<Tensor>.Num(g)}"
                    : null;
            },
            ExceptionHint = e => e.Message.Contains("bool") || e.Message.Contains("Bool")
                ? "a comparison gives a bool tensor: convert it before averaging, (a.argmax(-1) == b.argmax(-1)).to(ScalarType.Float64).mean()"
                : null,
            InputsUnchanged = true,
            RecheckAmbiguousTraps = true,                       // one number per case: e.g. the last positions only and a flattened argmax both give 1 on the first case
        }.Run();
    }
}
