using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/06-multi-head-attention.ipynb.
public static partial class Checks
{
    const string LeadingAxes = "the check passes x with and without a batch ([n_seq, n_embd] and [B, n_seq, n_embd]): keep the leading axes, whatever they are, "
        + "e.g. x.reshape([.. x.shape[..^1], nHead, hs]), and count axes from the end (transpose(-3, -2))";

    // ---------------------------------------------------------------- split and merge heads

    /// <summary>[..., n_seq, n_embd] -> [..., n_head, n_seq, n_embd/n_head]: head h gets columns h*hs .. (h+1)*hs - 1.</summary>
    public static CheckResult SplitHeads(Func<Tensor, int, Tensor> splitHeads)
    {
        Case<(Tensor X, int H)> C(string name, double tol, Func<(Tensor, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Numbered(ScalarType dt, params long[] shape) => torch.arange(shape.Aggregate(1L, (a, b) => a * b), dtype: dt).reshape(shape);
        static long[] Lead(Tensor x) => x.shape[..^2];
        static Tensor Cut(Tensor x, int h) => x.reshape([.. x.shape[..^1], h, x.shape[^1] / h]);   // [..., n_seq, n_head, hs]
        return new CheckEngine<(Tensor X, int H)>
        {
            Name = "split_heads",
            Reference = i => CourseOps.SplitHeads(i.X, i.H),
            ReferenceName = "CourseOps.SplitHeads",
            Learner = i => splitHeads(i.X, i.H),
            Cases =
            [
                C("x [4, 6] holding 0, 1, ..., 23; 2 heads of size 3 (float64)", 0, () => (Numbered(Float64, 4, 6), 2)),
                C("x [5, 12], 3 heads (float32)", 0, () => (R(101, Float32, 5, 12), 3)),
                C("batch x [2, 3, 8] holding 0, 1, ..., 47; 4 heads (float64)", 0, () => (Numbered(Float64, 2, 3, 8), 4)),
                C("x [3, 4], 1 head: only a new axis (float64)", 0, () => (R(102, Float64, 3, 4), 1)),
                C("x [2, 4], 4 heads of size 1 (float64)", 0, () => (R(103, Float64, 2, 4), 4)),
            ],
            Traps =
            [
                new("you have [n_seq, n_head, hs]: transpose(-3, -2) to bring the head axis in front of the positions",
                    i => Cut(i.X, i.H)),
                new(NoTransposeSplit, i => i.X.reshape([.. Lead(i.X), i.H, i.X.shape[^2], i.X.shape[^1] / i.H])),
                new("swap the n_seq and n_head axes: transpose(-3, -2), not transpose(-2, -1)", i => Cut(i.X, i.H).transpose(-2, -1)),
                new("head h owns the contiguous columns h·hs .. (h+1)·hs - 1: cut the last axis as [n_head, hs], not [hs, n_head]",
                    i => i.X.reshape([.. i.X.shape[..^1], i.X.shape[^1] / i.H, i.H]).transpose(-1, -2).transpose(-3, -2)),
                new("transpose(0, 1) swaps the batch axis with n_seq when there is a batch: count from the end, transpose(-3, -2)",
                    i => Cut(i.X, i.H).transpose(0, 1)),
                new("torch.stack(heads) puts the head axis in front of everything, also in front of a batch axis: stack at dim: -3, torch.stack(x.chunk(nHead, dim: -1), dim: -3)",
                    i => torch.stack(i.X.chunk(i.H, dim: -1))),
                new("your heads are [..., n_head, hs, n_seq]: the positions come before the head size, [..., n_head, n_seq, hs]; after the reshape, transpose(-3, -2) only (no transpose(-2, -1))",
                    i => Cut(i.X, i.H).transpose(-3, -2).transpose(-2, -1)),
                new("you made n_embd/n_head heads of size n_head: there are nHead heads of hs = n_embd / nHead numbers, x.reshape([.. x.shape[..^1], nHead, hs]), then transpose(-3, -2)",
                    i => i.X.reshape([.. i.X.shape[..^1], i.X.shape[^1] / i.H, i.H]).transpose(-3, -2)),
            ],
            ExceptionHint = e => ReshapeError(e) ? LeadingAxes : PermuteError(e) ? PermuteAxes : UnflattenError(e) ? UnflattenNegative : null,
            Diagnose = (i, expected, got) => i.X.dim() > 2 && !got.shape.SequenceEqual(expected.shape) ? LeadingAxes : null,
        }.Run();
    }

    /// <summary>[..., n_head, n_seq, hs] -> [..., n_seq, n_head*hs]: the heads side by side again, head 0's columns first.</summary>
    public static CheckResult MergeHeads(Func<Tensor, Tensor> mergeHeads)
    {
        Case<Tensor> C(string name, double tol, Func<Tensor> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Numbered(ScalarType dt, params long[] shape) => torch.arange(shape.Aggregate(1L, (a, b) => a * b), dtype: dt).reshape(shape);
        static long[] Out(Tensor x) => [.. x.shape[..^3], x.shape[^2], x.shape[^3] * x.shape[^1]];
        return new CheckEngine<Tensor>
        {
            Name = "merge_heads",
            Reference = CourseOps.MergeHeads,
            ReferenceName = "CourseOps.MergeHeads",
            Learner = mergeHeads,
            Cases =
            [
                C("heads [2, 4, 3] holding 0, 1, ..., 23: 2 heads, 4 tokens, head size 3 (float64)", 0, () => Numbered(Float64, 2, 4, 3)),
                C("heads [3, 5, 4] (float32)", 0, () => R(111, Float32, 3, 5, 4)),
                C("batch heads [2, 4, 3, 2] holding 0, 1, ..., 47 (float64)", 0, () => Numbered(Float64, 2, 4, 3, 2)),
                C("1 head [1, 3, 4] (float64)", 0, () => R(112, Float64, 1, 3, 4)),
            ],
            Traps =
            [
                new(NoTransposeMerge, x => x.reshape(Out(x))),
                new("transpose(-3, -2) (n_head and n_seq), not transpose(-2, -1), before the reshape", x => x.transpose(-2, -1).reshape(Out(x))),
                new("put the heads side by side: head 0's hs columns, then head 1's, ...; the reshape after transpose(-3, -2) does that (you interleaved them)",
                    x => x.permute([.. Enumerable.Range(0, (int)x.dim() - 3).Select(d => (long)d), x.dim() - 2, x.dim() - 1, x.dim() - 3]).reshape(Out(x))),
                new("transpose(0, 1) swaps the batch axis with n_head when there is a batch: count from the end, transpose(-3, -2)",
                    x => x.transpose(0, 1).reshape(Out(x))),
                new("after transpose(-3, -2) you have [..., n_seq, n_head, hs]: reshape it to [..., n_seq, n_head·hs]", x => x.transpose(-3, -2)),
                new(MergeKeepBatch, x => x.transpose(-3, -2).reshape(x.shape[^2], -1)),
                new("flatten(-2) joins the last two axes, n_seq and hs: transpose(-3, -2) first, so that n_head and hs are the last two, then flatten(-2) or reshape",
                    x => x.flatten(-2)),
                new("unbind(0) takes the tensor apart along its first axis, which is the batch when there is one: take the heads apart along the head axis, counted from the end, torch.cat(x.unbind(-3), dim: -1)",
                    x => torch.cat(x.unbind(0), dim: -1)),
                new(MergeSideBySide, x => torch.cat(x.unbind(-3), dim: -2)),
                new(MergeSideBySide, x => torch.cat(x.unbind(0), dim: 0)),
                new("concatenate the heads, don't add them up or average them: each head's hs numbers get hs columns of their own, [..., n_seq, n_head·hs]",
                    x => x.sum(-3)),
                new("concatenate the heads, don't add them up or average them: each head's hs numbers get hs columns of their own, [..., n_seq, n_head·hs]",
                    x => x.mean([-3])),
                new("x.T reverses ALL the axes (to [hs, n_seq, n_head]): swap only n_head and n_seq, x.transpose(-3, -2), then reshape",
                    x => x.permute([.. Enumerable.Range(0, (int)x.dim()).Reverse().Select(d => (long)d)]).reshape(Out(x))),
            ],
            ExceptionHint = e => ReshapeError(e) ? MergeKeepBatch : ViewError(e) ? ViewAfterTranspose : PermuteError(e) ? PermuteAxes : null,
            Diagnose = (x, expected, got) => !got.shape.SequenceEqual(expected.shape)
                ? "the check passes heads with and without a batch ([n_head, n_seq, hs] and [B, n_head, n_seq, hs]): count axes from the end, t = x.transpose(-3, -2), "
                  + "and keep the leading axes, t.reshape([.. t.shape[..^2], n_head * hs])"
                : null,
        }.Run();
    }

    const string NoTransposeSplit = "x.reshape(n_head, n_seq, hs) cuts the numbers in memory order, so each \"head\" gets whole tokens, not a slice of every token: "
        + "reshape to [..., n_seq, n_head, hs] first (each token's n_embd numbers cut into n_head slices), then transpose(-3, -2) to [..., n_head, n_seq, hs]";
    const string NoTransposeMerge = "reshaping [n_head, n_seq, hs] straight to [n_seq, n_embd] mixes the tokens: transpose(-3, -2) first (to [..., n_seq, n_head, hs]), then reshape";

    const string MergeSideBySide = "put the heads side by side along the last axis (torch.cat(heads, dim: -1), picoGPT's np.hstack), not one below the other "
        + "(dim: -2 or 0, np.vstack): each token keeps one row of n_head·hs numbers";
    const string MergeKeepBatch = "keep the leading (batch) axes: after t = x.transpose(-3, -2), reshape to [.. t.shape[..^2], n_head * hs]";
    const string ViewAfterTranspose = "view cannot regroup a transposed tensor (transpose only swaps the strides; the numbers stay where they were in memory): "
        + "use reshape, which copies when it must (nanoGPT writes .transpose(1, 2).contiguous().view(B, T, C))";
    const string PermuteAxes = "permute needs one axis number for every axis, and the check passes inputs with and without a batch axis: "
        + "use transpose(-3, -2), which counts from the end and works for both";

    const string UnflattenNegative = "TorchSharp's unflatten does not take a negative dim: write x.unflatten(x.dim() - 1, [nHead, hs]), or x.reshape([.. x.shape[..^1], nHead, hs])";

    static bool UnflattenError(Exception e) => e.Message.Contains("Invalid 'dim' argument");
    static bool ReshapeError(Exception e) => e.Message.Contains("is invalid for input of size");
    static bool ViewError(Exception e) => e.Message.Contains("view size is not compatible");
    static bool PermuteError(Exception e) => e.Message.Contains("permute") && e.Message.Contains("does not match");

    // ---------------------------------------------------------------- multi-head attention

    /// <summary>Causal multi-head self-attention with GPT-2's c_attn / c_proj weights.</summary>
    public static CheckResult MultiHeadAttention(Func<Tensor, AttentionParams, int, Tensor> mha)
    {
        Case<(Tensor X, AttentionParams P, int H)> C(string name, double tol, Func<(Tensor, AttentionParams, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        return new CheckEngine<(Tensor X, AttentionParams P, int H)>
        {
            Name = "multi_head_attention",
            Reference = i => Ops.MultiHeadAttention(i.X, i.P, i.H),
            ReferenceName = "Ops.MultiHeadAttention",
            Learner = i => mha(i.X, i.P, i.H),
            Cases =
            [
                C("n_embd 8, 2 heads, 5 tokens (float64)", F64, () => (R(61, Float64, 5, 8), Attn(62, 8, Float64), 2)),
                C("n_embd 12, 3 heads, 4 tokens (float32)", F32, () => (R(63, Float32, 4, 12), Attn(64, 12, Float32), 3)),
                C("n_embd 8, 4 heads, 6 tokens (float64)", F64, () => (R(65, Float64, 6, 8), Attn(66, 8, Float64), 4)),
                C("batch [2, 5, 8], 2 heads (float64)", F64, () => (R(67, Float64, 2, 5, 8), Attn(68, 8, Float64), 2)),
            ],
            Traps =
            [
                .. Mistakes.Combine<(Tensor X, AttentionParams P, int H)>(MhaSteps, WrongMha),
                new("cut c_attn's output into q, k and v first (chunk(3, dim: -1)), then split each into heads: splitting [q | k | v] into heads "
                    + "and chunking each head gives every head a mix of q, k and v columns", SplitBeforeChunk),
                new("MultiHeadAttention returns only the attention's output, c_proj(merged heads): the residual x + ... is added by the transformer block (notebook 07)",
                    i => i.X + Ops.MultiHeadAttention(i.X, i.P, i.H)),
                new("take the softmax over the last axis (dim: -1, the keys): each query's weights must add up to 1; softmax over dim -2 normalises over the queries, which lets later tokens change earlier outputs",
                    i => MhaWith(i, (q, k, v) => Ops.MatMul((Scores(q, k) + Ops.CausalMask(q.shape[^2], q.dtype)).softmax(-2), v))),
                new("c_proj.W is stored [in, out] like every GPT-2 weight: x @ W + b (Ops.Linear). You multiplied by Wᵀ, the [out, in] layout of torch.nn.Linear and F.linear (which computes x @ Wᵀ); c_proj is square, so no shape error warned you",
                    i => MhaWith(i, projT: true)),
                new("add c_attn's bias: q, k and v come from x @ c_attn.W + c_attn.B (Ops.Linear(x, W, b))", i => MhaWith(i, attnBias: false)),
                new("add c_proj's bias at the end: Ops.Linear(merged heads, c_proj.W, c_proj.B)", i => MhaWith(i, projBias: false)),
                new(DiagonalMasked, i => MhaWith(i, (q, k, v) => Ops.MatMul(Scores(q, k).masked_fill(Upper(q, 0), double.NegativeInfinity).softmax(-1), v))),
                new(DiagonalMasked, i => MhaWith(i, (q, k, v) => Ops.MatMul((Scores(q, k) + Upper(q, 0).to(q.dtype) * -1e10).softmax(-1), v))),
                new("your mask hides the past and shows the future: the -1e10 (or -inf) goes above the diagonal, where the key comes after the query (j > i): torch.triu(ones, diagonal: 1), not torch.tril",
                    i => MhaWith(i, (q, k, v) => Ops.MatMul((Scores(q, k) + Upper(q, 1).logical_not().tril(-1).to(q.dtype) * -1e10).softmax(-1), v))),
                new("multiplying the scores by a 0/1 mask hides nothing: a score of 0 still gets e⁰ = 1 in the softmax; add -1e10 (or -inf) above the diagonal, scores + Ops.CausalMask(n_seq)",
                    i => MhaWith(i, (q, k, v) => Ops.MatMul((Scores(q, k) * Upper(q, 1).logical_not().to(q.dtype)).softmax(-1), v))),
                new("mask before the softmax: zeroing the weights after it leaves rows that no longer add up to 1, and the future scores still went into the softmax's sum; add the mask to the scores, then take the softmax",
                    i => MhaWith(i, (q, k, v) => Ops.MatMul(Scores(q, k).softmax(-1) * Upper(q, 1).logical_not().to(q.dtype), v))),
                new("scale the scores before the softmax, softmax(q·kᵀ / √hs) @ v: the scale keeps the scores from saturating the softmax; dividing the weights or the output by √hs afterwards only shrinks the output",
                    i => MhaWith(i, (q, k, v) => Ops.MatMul((Ops.MatMul(q, k.transpose(-2, -1)) + Ops.CausalMask(q.shape[^2], q.dtype)).softmax(-1), v) / Math.Sqrt(q.shape[^1]))),
            ],
            ExceptionHint = e => MhaExceptionHint(e),
            Diagnose = (i, expected, got) => got.dim() == expected.dim() + 1 && got.shape[^3] == i.H && got.shape[^2] == expected.shape[^2]
                ? "you returned the heads, [..., n_head, n_seq, hs]: join them with MergeHeads to [..., n_seq, n_embd], then project with c_proj" : null,
            Probe = () => FutureLeaks(x => mha(x, Attn(62, 8, Float64), 2), () => R(61, Float64, 5, 8)),
        }.Run();
    }

    /// <summary>The steps of multi-head attention that learners get wrong, alone and two at a time.</summary>
    static readonly Mistakes.Step[] MhaSteps =
    [
        new("the heads are missing: split q, k and v into n_head parts of n_embd/n_head along the last axis, attend per head, then concatenate"),
        new("future positions are visible: give every head the causal mask (Ops.CausalMask(n_seq)) before the softmax"),
        new("project the concatenated heads with c_proj at the end"),
        new("scale each head by 1/sqrt(head size) = 1/sqrt(n_embd/n_head), not 1/sqrt(n_embd)",      // 1: the full width
            "divide each head's scores by sqrt(head size) = sqrt(n_embd/n_head) before the softmax", // 2: no scale at all
            "the scale is 1/sqrt(head size) with head size = n_embd/n_head: Math.Sqrt(nEmbd / nHead) (divide first, then the root), not Math.Sqrt(nEmbd) / nHead"), // 3: √n_embd / n_head
        new("c_attn's output is [q | k | v] along the last axis, in that order",                    // 1: q and k swapped
            "c_attn's output is [q | k | v] along the last axis, in that order: the second third is k, the last is v"), // 2: k and v swapped
        new("splitting the heads: " + NoTransposeSplit,                                 // 1: split and merge without transpose
            "splitting the heads: " + NoTransposeSplit,                                 // 2: the split only
            "merging the heads: " + NoTransposeMerge),                                  // 3: the merge only
    ];

    /// <summary>Multi-head attention with the mistakes chosen in c (0 = right), in the order of <see cref="MhaSteps"/>.</summary>
    static Tensor WrongMha(int[] c, (Tensor X, AttentionParams P, int H) i) =>
        MhaVariant((i.X, i.P, c[0] == 1 ? 1 : i.H), mask: c[1] == 0, project: c[2] == 0, scale: c[3], swap: c[4],
            splitNoTranspose: c[5] is 1 or 2, mergeNoTranspose: c[5] is 1 or 3);

    /// <summary>Multi-head attention in the batched form ([..., n_head, n_seq, hs]) with switches for typical mistakes.</summary>
    /// <summary>scale: 0 = 1/sqrt(hs), 1 = 1/sqrt(n_embd), 2 = none, 3 = n_head/sqrt(n_embd); swap: 0 = none, 1 = q and k, 2 = k and v.</summary>
    static Tensor MhaVariant((Tensor X, AttentionParams P, int H) i, bool mask = true, bool project = true, int scale = 0,
        int swap = 0, bool splitNoTranspose = false, bool mergeNoTranspose = false)
    {
        var (x, p, nHead) = i;
        long t = x.shape[^2], c = x.shape[^1], hs = c / nHead;
        var lead = x.shape[..^2];
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);                // 3 x [..., n_seq, n_embd]
        Tensor Split(Tensor z) => splitNoTranspose ? z.reshape([.. lead, nHead, t, hs]) : CourseOps.SplitHeads(z, nHead);
        int[] order = swap switch { 1 => [1, 0, 2], 2 => [0, 2, 1], _ => [0, 1, 2] };
        var (q, k, v) = (Split(qkv[order[0]]), Split(qkv[order[1]]), Split(qkv[order[2]])); // [..., n_head, n_seq, hs]
        var s = Ops.MatMul(q, k.transpose(-2, -1)) / (scale switch { 1 => Math.Sqrt(c), 2 => 1, 3 => Math.Sqrt(c) / nHead, _ => Math.Sqrt(hs) }); // [..., n_head, n_seq, n_seq]
        if (mask) s = s + Ops.CausalMask(t, x.dtype);
        var o = Ops.MatMul(s.softmax(-1), v);                                           // [..., n_head, n_seq, hs]
        o = mergeNoTranspose ? o.reshape(x.shape) : CourseOps.MergeHeads(o);                   // [..., n_seq, n_embd]
        return project ? Ops.Linear(o, p.CProj.W, p.CProj.B) : o;
    }

    const string DiagonalMasked = "your mask hides the diagonal too: a token must see itself, so mask only j > i, torch.triu(ones, diagonal: 1) "
        + "(with the diagonal masked, the first token sees nothing at all)";

    /// <summary>The scaled scores q·kᵀ/√hs of batched heads.</summary>
    static Tensor Scores(Tensor q, Tensor k) => Ops.MatMul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]); // [..., n_head, n_seq, n_seq]

    /// <summary>True above diagonal d of an [n_seq, n_seq] matrix (d = 1: the future, d = 0: the future and the diagonal).</summary>
    static Tensor Upper(Tensor q, long d) => torch.ones(q.shape[^2], q.shape[^2], dtype: ScalarType.Bool).triu(d);

    /// <summary>Multi-head attention around another attention of the heads, or with c_attn / c_proj used wrongly.</summary>
    static Tensor MhaWith((Tensor X, AttentionParams P, int H) i, Func<Tensor, Tensor, Tensor, Tensor>? attend = null,
        bool attnBias = true, bool projBias = true, bool projT = false)
    {
        var qkv = (attnBias ? Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B) : Ops.MatMul(i.X, i.P.CAttn.W)).chunk(3, dim: -1); // 3 x [..., n_seq, n_embd]
        var (q, k, v) = (CourseOps.SplitHeads(qkv[0], i.H), CourseOps.SplitHeads(qkv[1], i.H), CourseOps.SplitHeads(qkv[2], i.H));     // [..., n_head, n_seq, hs]
        var heads = attend != null ? attend(q, k, v) : Ops.Attention(q, k, v, Ops.CausalMask(q.shape[^2], q.dtype));
        var merged = CourseOps.MergeHeads(heads);                                                                            // [..., n_seq, n_embd]
        var w = projT ? i.P.CProj.W.T : i.P.CProj.W;
        return projBias ? Ops.Linear(merged, w, i.P.CProj.B) : Ops.MatMul(merged, w);
    }

    /// <summary>The mistake of splitting [q | k | v] into heads before cutting it into q, k and v.</summary>
    static Tensor SplitBeforeChunk((Tensor X, AttentionParams P, int H) i)
    {
        var parts = CourseOps.SplitHeads(Ops.Linear(i.X, i.P.CAttn.W, i.P.CAttn.B), i.H).chunk(3, dim: -1); // 3 x [..., n_head, n_seq, hs]
        var heads = Ops.Attention(parts[0], parts[1], parts[2], Ops.CausalMask(i.X.shape[^2], i.X.dtype));
        return Ops.Linear(CourseOps.MergeHeads(heads), i.P.CProj.W, i.P.CProj.B);
    }

    static string? MhaExceptionHint(Exception e)
    {
        if (UnflattenError(e)) return UnflattenNegative + " (in your SplitHeads: make it pass its check first)";
        if (TransposedWeight(e, "c_attn.W is [n_embd, 3·n_embd] and c_proj.W [n_embd, n_embd]") is { } weight) return weight;
        if (MatMulShapes(e) is (long[] a, long[] b) && a.Length >= 3 && b.Length >= 3 && b[0] == a[^1] && b[^1] == a[0])
            return "k.T reverses ALL the axes of batched heads; swap only the last two: q @ k.transpose(-2, -1)";
        if (MatMulShapes(e) is (long[] h, long[] w) && w.Length == 2 && w[0] == w[1] && h[^1] < w[0] && w[0] % h[^1] == 0)
            return "c_proj needs the heads side by side, [..., n_seq, n_embd]: join them along the last axis (torch.cat(heads, dim: -1), picoGPT's np.hstack, "
                + "or your MergeHeads), not along the first";
        if (ReshapeError(e)) return LeadingAxes;
        if (ViewError(e)) return ViewAfterTranspose;
        if (e.Message.Contains("Dimension out of range"))
            return "the check passes x with and without a batch ([n_seq, n_embd] and [B, n_seq, n_embd]): count axes from the end, chunk(3, dim: -1), "
                + "k.transpose(-2, -1), softmax(-1)";
        if (e.Message.Contains("must match the size") || e.Message.Contains("do not broadcast"))
            return "the heads' scores do not fit the [n_seq, n_seq] mask: take n_seq from x.shape[^2] (x.shape[0] is the batch when there is one), "
                + "cut c_attn's output with chunk(3, dim: -1) (the default dim 0 cuts the tokens), and after x.reshape(..., n_seq, n_head, hs), "
                + "transpose(-3, -2) to [..., n_head, n_seq, hs] so each head attends over the positions";
        return ShapeError(e)
            ? "c_attn.W is [n_embd, 3·n_embd]: x @ c_attn.W gives [..., n_seq, 3·n_embd] = [q | k | v]; each head's q, k, v is [..., n_seq, n_embd/n_head]; "
                + "c_proj.W is [n_embd, n_embd]. If your SplitHeads or MergeHeads did not pass its check, fix it first"
            : null;
    }
}
