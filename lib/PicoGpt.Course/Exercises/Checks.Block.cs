using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/07-transformer-block.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- feed-forward

    /// <summary>The MLP: c_fc up to 4·n_embd, GELU, c_proj back down.</summary>
    public static CheckResult FeedForward(Func<Tensor, FeedForwardParams, Tensor> ffn)
    {
        Case<(Tensor X, FeedForwardParams P)> C(string name, double tol, Func<(Tensor, FeedForwardParams)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, FeedForwardParams P)>
        {
            Name = "feed_forward",
            Deterministic = true,
            Reference = i => Ops.FeedForward(i.X, i.P),
            ReferenceName = "Ops.FeedForward",
            Learner = i => ffn(i.X, i.P),
            Cases =
            [
                C("n_embd 4, 3 tokens (float64)", F64, () => (R(71, Float64, 3, 4) * 2, Mlp(72, 4, Float64))),
                C("n_embd 8, 5 tokens (float32)", F32, () => (R(73, Float32, 5, 8) * 2, Mlp(74, 8, Float32))),
                C("batch [2, 3, 4] (float64)", F64, () => (R(75, Float64, 2, 3, 4) * 2, Mlp(76, 4, Float64))),
            ],
            Traps = Mistakes.Combine<(Tensor X, FeedForwardParams P)>(FfnSteps, (c, i) => WrongFfn(c, i.X, i.P),
                distinct: c => !(c.Took(NoActivation) && !c.Right(GeluPlace))),                  // without GELU, where it goes does not matter
            ExceptionHint = e =>
            {
                var transposed = TransposedWeight(e, "c_fc.W is [n_embd, 4·n_embd] and c_proj.W [4·n_embd, n_embd]");
                bool projFirst = MatMulShapes(e) is (long[] a, long[] b) && b.Length == 2 && b[0] == 4 * a[^1] && b[1] == a[^1];
                return transposed != null && projFirst      // [..., n_embd] @ [4·n_embd, n_embd]: c_fc.W transposed, or c_proj.W first
                    ? transposed + ". Or you started with c_proj: go up first, x @ c_fc.W + b ([..., 4·n_embd]), GELU, then @ c_proj.W + b"
                    : transposed ?? (ShapeError(e) ? "c_fc.W is [n_embd, 4·n_embd] and c_proj.W is [4·n_embd, n_embd]: x @ c_fc.W first, then @ c_proj.W" : null);
            },
        }.Run();
    }

    // the steps of the MLP that learners get wrong, alone and two at a time
    static readonly Mistakes.Way Relu = new("this uses ReLU; GPT-2's MLP uses GELU with the tanh approximation (Ops.Gelu)");
    static readonly Mistakes.Way ErfGelu = new("this is the exact erf GELU; GPT-2 uses the tanh approximation");
    static readonly Mistakes.Way NoActivation = new("apply GELU between the two projections: c_proj(gelu(c_fc(x)))");
    static readonly Mistakes.Step Activation = new(Relu, ErfGelu, NoActivation);
    static readonly Mistakes.Way GeluAfterProj = new("apply GELU after c_fc (the projection up to 4·n_embd), not after c_proj");
    static readonly Mistakes.Way GeluTwice = new("apply GELU once, after c_fc: the MLP ends with the projection c_proj, c_proj(gelu(c_fc(x))), no GELU after it");
    static readonly Mistakes.Step GeluPlace = new(GeluAfterProj, GeluTwice);
    static readonly Mistakes.Way NoBiases = new("add the biases: Ops.Linear(x, W, b) = x @ W + b, for c_fc and for c_proj");
    static readonly Mistakes.Step[] FfnSteps = [Activation, GeluPlace, new(NoBiases)];

    /// <summary>The MLP with the mistakes chosen in c (ways of <see cref="FfnSteps"/>).</summary>
    static Tensor WrongFfn(Mistakes.Choice c, Tensor x, FeedForwardParams p)
    {
        Tensor Lin(Tensor h, LinearParams l) => c.Took(NoBiases) ? Ops.MatMul(h, l.W) : Ops.Linear(h, l.W, l.B);
        Tensor Act(Tensor h) => c.Took(Relu) ? h.relu() : c.Took(ErfGelu) ? CourseOps.GeluExact(h) : c.Took(NoActivation) ? h : Ops.Gelu(h);
        return c.Took(GeluAfterProj) ? Act(Lin(Lin(x, p.CFc), p.CProj))
            : c.Took(GeluTwice) ? Act(Lin(Act(Lin(x, p.CFc)), p.CProj))
            : Lin(Act(Lin(x, p.CFc)), p.CProj);
    }

    // ---------------------------------------------------------------- dropout

    /// <summary>
    /// Inverted dropout with the generator passed in. Exact comparison with CourseOps.Dropout (same draws: u = torch.rand in x's
    /// dtype, kept where u >= p); another recipe passes when it is a valid dropout: every value 0 or x/(1-p), the dropped
    /// fraction within 5 standard deviations of p, the same output for the same generator seed and another for another.
    /// </summary>
    public static CheckResult Dropout(Func<Tensor, double, bool, Generator, Tensor> dropout)
    {
        Case<(Tensor X, double P, bool Training, Generator G, ulong Seed)> C(string name, double tol, Func<Tensor> x, double p, bool training, ulong seed) =>
            new() { Name = name, Tol = tol, Inputs = () => (x(), p, training, new Generator(seed), seed) };
        static Tensor U((Tensor X, double P, bool Training, Generator G, ulong Seed) i) => torch.rand(i.X.shape, dtype: i.X.dtype, generator: i.G);
        static Func<(Tensor X, double P, bool Training, Generator G, ulong Seed), Tensor> Wrong(
            Func<(Tensor X, double P, bool Training, Generator G, ulong Seed), Tensor> train, Func<(Tensor X, double P, bool Training, Generator G, ulong Seed), Tensor>? eval = null) =>
            i => i.Training ? train(i) : eval != null ? eval(i) : i.X;
        return new CheckEngine<(Tensor X, double P, bool Training, Generator G, ulong Seed)>
        {
            Name = "dropout",
            Reference = i => CourseOps.Dropout(i.X, i.P, i.Training, i.G),
            InputsUnchanged = true,
            ReferenceName = "CourseOps.Dropout",
            Learner = i => dropout(i.X, i.P, i.Training, i.G),
            Cases =
            [
                C("p = 0.5, training, x [32, 32] (float64)", F64, () => R(121, Float64, 32, 32), 0.5, true, 1),
                C("p = 0.1, training, batch x [2, 16, 32] (float32)", F32, () => R(122, Float32, 2, 16, 32), 0.1, true, 2),
                C("p = 0.5, eval (training false): x comes back unchanged (float64)", F64, () => R(123, Float64, 4, 8), 0.5, false, 3),
                C("p = 0.9, training, x [32, 32] (float64)", F64, () => R(124, Float64, 32, 32), 0.9, true, 4),
                C("p = 0, training: nothing is dropped (float32)", F32, () => R(125, Float32, 4, 8), 0.0, true, 5),
            ],
            Traps =
            [
                new(DropoutNoScale, Wrong(i => i.X * (U(i) >= i.P))),
                new(DropoutScaleMul, Wrong(i => i.X * (U(i) >= i.P) * (1 - i.P))),
                new(DropoutSwapped, Wrong(i => i.X * (U(i) < i.P) / i.P)),
                new(DropoutSwapped, Wrong(i => i.X * (U(i) < i.P) / (1 - i.P))),
                new(DropoutDivP, Wrong(i => i.X * (U(i) >= i.P) / i.P)),
                new(DropoutInEval, Wrong(i => CourseOps.Dropout(i.X, i.P, true, i.G), i => CourseOps.Dropout(i.X, i.P, true, i.G))),
                new(DropoutEvalScaled, Wrong(i => CourseOps.Dropout(i.X, i.P, true, i.G), i => i.X * (1 - i.P))),
                new(DropoutFlagSwapped, Wrong(i => i.X, i => CourseOps.Dropout(i.X, i.P, true, i.G))),
                new(DropoutFlagSwapped, Wrong(i => i.X)),
                new("multiply x by the mask: return x * keep / (1 - p); you returned the scaled mask itself",
                    Wrong(i => (U(i) >= i.P).to(i.X.dtype) / (1 - i.P))),
            ],
            Accept = (i, expected, got) => i.Training && i.P > 0 && DropoutProperties(i.X, i.P, got, Tol(i.X)) is { Valid: true } d && !SharedMask(got)
                && Rerun(dropout, i, i.Seed) is { } same && (same == got).all().item<bool>()
                && Rerun(dropout, i, i.Seed + 1000) is { } other && !(other == got).all().item<bool>()
                    ? $"another valid dropout (other random draws than CourseOps.Dropout): {d.Dropped:P1} dropped for p = {i.P}, kept values × 1/(1-p), the same output for the same generator seed"
                    : null,
            Diagnose = (i, expected, got) => DropoutDiagnosis(dropout, i, got),
        }.Run();
    }

    const string DropoutNoScale = "scale the kept values by 1/(1-p) (inverted dropout): without it the expected output in training is (1-p)·x, smaller than in eval";
    const string DropoutScaleMul = "divide the kept values by (1-p), don't multiply: inverted dropout scales them UP, so the expected output stays x";
    const string DropoutSwapped = "p is the probability to DROP an element: keep it where u >= p (probability 1 - p), and divide by 1 - p";
    const string DropoutDivP = "divide by the keep probability 1 - p, not by p";
    const string DropoutInEval = "in eval (training = false) dropout does nothing: return x unchanged";
    const string DropoutEvalScaled = "in eval return x unchanged: inverted dropout already scaled by 1/(1-p) in training (multiplying by (1-p) at test time is the original 2014 dropout, not GPT-2's)";
    const string DropoutFlagSwapped = "nothing was dropped in training: drop when training is true, return x when it is false";
    const string DropoutGenerator = "this looks like a correct dropout, but it does not use the generator passed in (another run with the same seed gave other zeros): draw with torch.rand(x.shape, dtype: x.dtype, generator: generator)";

    const string DropoutSharedMask = "every row got the same zeros: draw one random number per element, torch.rand(x.shape, ...); a mask drawn for fewer axes "
        + "(e.g. torch.rand(x.shape[^1])) is broadcast, so it drops the same features of every token";

    static double Tol(Tensor x) => x.dtype == Float32 ? F32 : F64;

    /// <summary>Are the zeros of a dropout the same along some axis (a mask drawn for fewer axes and broadcast)?</summary>
    static bool SharedMask(Tensor got)
    {
        var zero = got == 0;
        if (!zero.any().item<bool>() || zero.all().item<bool>()) return false;
        for (int d = 0; d < got.dim(); d++)
            if (got.shape[d] > 1 && (zero == zero.narrow(d, 0, 1)).all().item<bool>()) return true;
        return false;
    }

    static Tensor? Rerun(Func<Tensor, double, bool, Generator, Tensor> dropout, (Tensor X, double P, bool Training, Generator G, ulong Seed) i, ulong seed)
    {
        try { return dropout(i.X, i.P, i.Training, new Generator(seed)); }
        catch (Exception) { return null; }
    }

    /// <summary>What an output says about a dropout: fraction of zeros, the ratio got/x of the kept values, and whether it is a valid dropout.</summary>
    static (bool Valid, double Dropped, double Ratio) DropoutProperties(Tensor x, double p, Tensor got, double tol)
    {
        if (!got.shape.SequenceEqual(x.shape) || got.dtype != x.dtype) return (false, double.NaN, double.NaN);
        var g = got.to(Float64); var xs = x.to(Float64);
        var zero = g == 0;
        long n = x.numel();
        double dropped = zero.to(Float64).mean().item<double>();
        var kept = zero.logical_not();
        double ratio = kept.any().item<bool>() ? (g / xs).masked_select(kept).median().item<double>() : double.NaN;
        bool valuesOk = ((g - xs / (1 - p)).abs() <= tol * (1 + (xs / (1 - p)).abs()) | zero).all().item<bool>();
        bool fractionOk = Math.Abs(dropped - p) <= 5 * Math.Sqrt(p * (1 - p) / n) + 1.0 / n;
        return (valuesOk && fractionOk, dropped, ratio);
    }

    static string? DropoutDiagnosis(Func<Tensor, double, bool, Generator, Tensor> dropout, (Tensor X, double P, bool Training, Generator G, ulong Seed) i, Tensor got)
    {
        static bool Near(double a, double b) => Math.Abs(a - b) <= 1e-4 * Math.Max(1, Math.Abs(b));
        var (x, p) = (i.X, i.P);
        if (!got.shape.SequenceEqual(x.shape)) return "dropout keeps the shape: return a tensor shaped like x";
        if (!i.Training)
            return CheckEngine.Matches(got, x * (1 - p), 1e-6) ? DropoutEvalScaled : DropoutInEval;
        if (CheckEngine.Matches(got, x, 1e-9)) return DropoutFlagSwapped;
        var d = DropoutProperties(x, p, got, Tol(x));
        if (SharedMask(got)) return DropoutSharedMask;
        if (d.Valid) return DropoutGenerator;
        double sigma = 5 * Math.Sqrt(p * (1 - p) / x.numel());
        if (Math.Abs(p - 0.5) > 2 * sigma && Math.Abs(d.Dropped - (1 - p)) <= sigma) return DropoutSwapped;
        if (Math.Abs(d.Dropped - p) > sigma + 1.0 / x.numel())
            return $"you dropped {d.Dropped:P1} of the values for p = {p}: drop where u < p with u uniform in [0, 1), torch.rand(x.shape, dtype: x.dtype, generator: generator) "
                + "(torch.randn draws from a normal distribution, which is below p far more often)";
        if (Near(d.Ratio, 1)) return DropoutNoScale;
        if (Near(d.Ratio, 1 - p)) return DropoutScaleMul;
        if (p > 0 && Near(d.Ratio, 1 / p)) return DropoutDivP;
        return null;
    }

    // ---------------------------------------------------------------- transformer block

    const string NormedResidual = "add the branch to x itself, not to the normalised x: x = x + attn(ln_1(x)). Writing x = ln_1(x) first "
        + "(so x = ln_1(x) + attn(ln_1(x))) normalises the residual stream in every block, which pre-norm never does: only the branch's input is normalised";

    // the steps of the pre-norm block that learners get wrong, alone and two at a time
    static readonly Mistakes.Way NoResiduals = new("keep the residual connections: add each branch's output to x (x = x + ...)");
    static readonly Mistakes.Way NormedResidualBoth = new(NormedResidual);
    static readonly Mistakes.Way NormedResidualFirst = new(NormedResidual);
    static readonly Mistakes.Way NormedResidualSecond = new(NormedResidual);
    static readonly Mistakes.Way PostNorm = new("GPT-2 is pre-norm: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)); the norm goes inside each residual branch");
    static readonly Mistakes.Way PostNormMlp = new("your MLP branch is post-norm, ln_2(x + mlp(x)), as in the 2017 Transformer (your attention branch is right): " +
        "GPT-2 is pre-norm in both branches, x = x + mlp(ln_2(x)); the norm goes on the branch's input, and the residual stream x is never normalised inside a block");
    static readonly Mistakes.Way PostNormAttn = new("your attention branch is post-norm, ln_1(x + attn(x)), as in the 2017 Transformer (your MLP branch is right): " +
        "GPT-2 is pre-norm in both branches, x = x + attn(ln_1(x)); the norm goes on the branch's input, and the residual stream x is never normalised inside a block");
    static readonly Mistakes.Way BlockNoNorm = new("normalise with ln_1 before attention and ln_2 before the MLP");
    static readonly Mistakes.Way Ln1BeforeMlp = new("use ln_2 (not ln_1) before the MLP");
    static readonly Mistakes.Way Parallel = new("the MLP works on the attention step's result: x = x + attn(ln_1(x)); then x = x + mlp(ln_2(x)) with the new x");
    static readonly Mistakes.Step Residual = new(NoResiduals, NormedResidualBoth, NormedResidualFirst, NormedResidualSecond);
    static readonly Mistakes.Step[] BlockSteps = [Residual, new(PostNorm, PostNormMlp, PostNormAttn, BlockNoNorm), new(Ln1BeforeMlp), new(Parallel)];

    /// <summary>
    /// The block with the mistakes chosen in c (ways of <see cref="BlockSteps"/>): residual (none, added to the normalised
    /// x in both, the first or the second branch), norm (post-norm, none), ln_1 before the MLP, and the MLP reading the
    /// block's input (parallel).
    /// </summary>
    static Tensor WrongBlock(Mistakes.Choice c, (Tensor X, BlockParams P, int H) i)
    {
        var ln2 = c.Took(Ln1BeforeMlp) ? i.P.Ln1 : i.P.Ln2;
        bool noResidual = c.Took(NoResiduals);
        // one residual branch: rest is what the branch is added to, input what it reads; post-norm in both branches or in one
        Tensor Branch(Tensor rest, Tensor input, LayerNormParams norm, Func<Tensor, Tensor> f, bool normedResidual, bool postNorm)
        {
            Tensor N(Tensor t) => Ops.LayerNorm(t, norm.G, norm.B);
            return postNorm ? (noResidual ? N(f(input)) : N(rest + f(input)))
                : c.Took(BlockNoNorm) ? (noResidual ? f(input) : rest + f(input))
                : noResidual ? f(N(input))
                : (normedResidual ? N(rest) : rest) + f(N(input));                         // pre-norm
        }
        var x = Branch(i.X, i.X, i.P.Ln1, h => Ops.MultiHeadAttention(h, i.P.Attn, i.H), c.TookAny(NormedResidualBoth, NormedResidualFirst),
            c.TookAny(PostNorm, PostNormAttn));
        return Branch(x, c.Took(Parallel) ? i.X : x, ln2, h => Ops.FeedForward(h, i.P.Mlp), c.TookAny(NormedResidualBoth, NormedResidualSecond),
            c.TookAny(PostNorm, PostNormMlp));
    }

    /// <summary>The pre-norm block with another MLP.</summary>
    static Tensor RightBlock((Tensor X, BlockParams P, int H) i, Func<Tensor, FeedForwardParams, Tensor> mlp)
    {
        var x = i.X + Ops.MultiHeadAttention(Ops.LayerNorm(i.X, i.P.Ln1.G, i.P.Ln1.B), i.P.Attn, i.H);
        return x + mlp(Ops.LayerNorm(x, i.P.Ln2.G, i.P.Ln2.B), i.P.Mlp);
    }

    /// <summary>No layer norm at all (empty parameters): marks a missing norm for <see cref="OtherBlock"/>.</summary>
    static LayerNormParams NoNorm() => new(torch.zeros(0), torch.zeros(0));

    /// <summary>The pre-norm block with other norms, the MLP first, or a residual connection left out (a norm with empty tensors: none).</summary>
    static Tensor OtherBlock((Tensor X, BlockParams P, int H) i, LayerNormParams? ln1 = null, LayerNormParams? ln2 = null,
        bool mlpFirst = false, bool attnResidual = true, bool mlpResidual = true, double eps = 1e-5)
    {
        Tensor N(Tensor t, LayerNormParams n) => n.G.numel() == 0 ? t : Ops.LayerNorm(t, n.G, n.B, eps);
        Tensor Attn(Tensor x) => (attnResidual ? x : 0) + Ops.MultiHeadAttention(N(x, ln1 ?? i.P.Ln1), i.P.Attn, i.H);
        Tensor Mlp(Tensor x) => (mlpResidual ? x : 0) + Ops.FeedForward(N(x, ln2 ?? i.P.Ln2), i.P.Mlp);
        return mlpFirst ? Attn(Mlp(i.X)) : Mlp(Attn(i.X));
    }

    /// <summary>
    /// The known wrong blocks (pre-norm done wrong, post-norm in one branch or both, a wrong MLP, norms swapped, ...), each
    /// with its hint: the TransformerBlock check's traps, and the Gpt2 check's for a learner who writes the blocks inline.
    /// </summary>
    static List<Trap<(Tensor X, BlockParams P, int H)>> BlockTraps() =>
    [
            .. Mistakes.Combine<(Tensor X, BlockParams P, int H)>(BlockSteps, WrongBlock,
                distinct: c => !(c.TookAny(NormedResidualBoth, NormedResidualFirst, NormedResidualSecond) && !c.Right(BlockSteps[1]))),        // a normalised residual needs pre-norm to mean anything
            // the right block around a FeedForward that fails its own check (the learner's, called from the block)
            .. Mistakes.Combine<(Tensor X, BlockParams P, int H)>(FfnSteps, (c, i) => RightBlock(i, (h, p) => WrongFfn(c, h, p)), maxMistakes: 1)
                .Select(t => new Trap<(Tensor X, BlockParams P, int H)>("the block is right, but its MLP is not Ops.FeedForward: make your FeedForward pass its check first ("
                    + t.Hint + ")", t.Wrong)),
            new("do not normalise the block's output: pre-norm leaves the residual stream as it is (GPT-2 normalises it once, with ln_f, after the last block)",
                i => Ops.LayerNorm(Ops.TransformerBlock(i.X, i.P, i.H), i.P.Ln2.G, i.P.Ln2.B)),
            new("attention comes first, then the MLP: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))",
                i => OtherBlock(i, mlpFirst: true)),
            new("ln_1 goes before attention and ln_2 before the MLP: you swapped them", i => OtherBlock(i, ln1: i.P.Ln2, ln2: i.P.Ln1)),
            new("keep both residual connections: add the attention's output to x too, x = x + attn(ln_1(x))", i => OtherBlock(i, attnResidual: false)),
            new("keep both residual connections: add the MLP's output to x too, x = x + mlp(ln_2(x))", i => OtherBlock(i, mlpResidual: false)),
            new("normalise the attention's input too: x = x + attn(ln_1(x))", i => OtherBlock(i, ln1: NoNorm())),
            new("normalise the MLP's input too: x = x + mlp(ln_2(x))", i => OtherBlock(i, ln2: NoNorm())),
            new("Ops.LayerNorm(x, g, b) takes the gain first, then the shift: Ops.LayerNorm(x, p.Ln1.G, p.Ln1.B)",
                i => OtherBlock(i, ln1: new(i.P.Ln1.B, i.P.Ln1.G), ln2: new(i.P.Ln2.B, i.P.Ln2.G))),
            new("GPT-2's layer norm uses eps = 1e-5 (Ops.LayerNorm's default, layer_norm_epsilon in its config); 1e-12 is BERT's",
                i => OtherBlock(i, eps: 1e-12)),
    ];

    /// <summary>Pre-norm block: x + mha(ln_1(x)), then x + ffn(ln_2(x)).</summary>
    public static CheckResult TransformerBlock(Func<Tensor, BlockParams, int, Tensor> block)
    {
        Case<(Tensor X, BlockParams P, int H)> C(string name, double tol, Func<(Tensor, BlockParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, BlockParams P, int H)>
        {
            Name = "transformer_block",
            Deterministic = true,
            Reference = i => Ops.TransformerBlock(i.X, i.P, i.H),
            ReferenceName = "Ops.TransformerBlock",
            Learner = i => block(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(81, Float64, 5, 8), Block(82, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32Deep, () => (R(83, Float32, 4, 12), Block(84, 12, Float32), 3)),
                C("batch [2, 4, 8], 2 heads (float64)", F64, () => (R(85, Float64, 2, 4, 8), Block(86, 8, Float64), 2)),
            ],
            Traps = BlockTraps(),
            Probe = () => FutureLeaks(x => block(x, Block(82, 8, Float64), 2), () => R(81, Float64, 5, 8)),
        }.Run();
    }
}
