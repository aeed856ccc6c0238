using System.Globalization;
using PicoGpt.Model;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.ScalarType;

namespace PicoGpt.Exercises;

// The checks of notebooks/08-gpt2.ipynb.
public static partial class Checks
{
    // ---------------------------------------------------------------- gpt2

    const string LogitsNotProbabilities =
        "return the logits themselves, one score per vocabulary token: they are scores, not probabilities; the softmax comes later, when sampling (notebook 09) or inside the loss (notebook 10)";

    const string OtherHeads = "pass nHead on to every block, Ops.TransformerBlock(x, block, nHead): the check's tiny GPT-2 has 2 heads of size 4, "
        + "and a hard-coded number of heads (GPT-2's 12) splits its n_embd of 8 differently or not at all";

    const string OwnBlocks = "your blocks are not GPT-2's block (Ops.TransformerBlock(x, block, nHead), or your TransformerBlock once it passes notebook 07's check): ";

    const string NoLnFAfterBlocks = "apply the final layer norm ln_f after the last block, before the output head: the 2017 Transformer's post-norm blocks end with a norm, " +
        "so it has no final one, but GPT-2's pre-norm blocks leave the residual stream unnormalised, and ln_f normalises it once";

    /// <summary>Runs one block function (a wrong block of <see cref="BlockTraps"/>) for every block of the model, in order.</summary>
    static GptStack EachBlock(Func<(Tensor X, BlockParams P, int H), Tensor> block) =>
        (x, p, h) => { foreach (var b in p.Blocks) x = block((x, b, h)); return x; };

    const string PositionsAlongLastAxis =
        "the positions run along the last axis of ids: torch.arange(ids.shape[^1]) (with a batch [B, n_seq] there are n_seq positions, not B = ids.shape[0])";

    /// <summary>
    /// The whole forward pass on a tiny random GPT-2 (vocab 8, context 16, n_embd 8, 2 layers, 2 heads). The vocabulary
    /// is as wide as the embedding so that a forgotten transpose of wte gives wrong numbers instead of a shape error
    /// (TorchSharp's matmul aborts the process on mismatched shapes).
    /// </summary>
    public static CheckResult Gpt2(Func<Tensor, Gpt2Params, int, Tensor> gpt2)
    {
        Case<(Tensor Ids, Gpt2Params P, int H)> C(string name, double tol, Func<(Tensor, Gpt2Params, int)> inputs) => new() { Name = name, Tol = tol, Inputs = inputs };
        static Tensor Wrong((Tensor Ids, Gpt2Params P, int H) i, GptEmbed? embed = null, GptStack? blocks = null, GptFinal? final = null, GptHead? head = null) =>
            Gpt2Forward(i.Ids, i.P, i.H, embed, blocks, final, head);
        return new CheckEngine<(Tensor Ids, Gpt2Params P, int H)>
        {
            Name = "gpt2",
            Deterministic = true,
            Reference = i => Ops.Gpt2(i.Ids, i.P, i.H),
            ReferenceName = "Ops.Gpt2",
            Learner = i => gpt2(i.Ids, i.P, i.H),
            Cases =
            [
                C("5 token ids, float32 weights (tiny GPT-2: vocab 8, context 16, n_embd 8, 2 layers, 2 heads)", F32Deep, () => (Ids([3, 1, 4, 1, 5]), Tiny(91, Float32), 2)),
                C("8 token ids, float64 weights", F64, () => (Ids([7, 2, 6, 5, 3, 5, 0, 7]), Tiny(92, Float64), 2)),
                C("one token id, float64 weights", F64, () => (Ids([7]), Tiny(93, Float64), 2)),
                C("batch of one row of 7 token ids [1, 7], float64 weights", F64, () => (Ids([6, 1, 0, 3, 3, 2, 7]).reshape(1, 7), Tiny(95, Float64), 2)),
                C("batch of 2 × 6 token ids [2, 6], float64 weights", F64, () => (Ids([0, 1, 2, 3, 4, 5, 7, 6, 5, 4, 3, 2]).reshape(2, 6), Tiny(94, Float64), 2)),
                C("4 heads of size 2 (nHead is an argument: pass it on to every block), 6 token ids, float64 weights", F64, () => (Ids([5, 0, 3, 6, 2, 1]), Tiny(96, Float64), 4)),
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]", i => Wrong(i, embed: NoPositions)),
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]", i => Wrong(i, embed: NoPositions, final: NoLnF)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => Wrong(i, embed: PositionsById)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => Wrong(i, embed: PositionsById, final: NoLnF)),
                new(PositionsAlongLastAxis, i => Wrong(i, embed: PositionsAlongFirstAxis)),
                new("apply the final layer norm ln_f before the output projection", i => Wrong(i, final: NoLnF)),
                new("apply the final layer norm ln_f before the output projection", i => Wrong(i, final: NoLnF, head: WteNotTransposed)),
                new("run x through every transformer block in p.Blocks, in order", i => Wrong(i, blocks: NoBlocks)),
                new("run x through every transformer block in p.Blocks, in order (each block's output is the next one's input)", i => Wrong((i.Ids, i.P with { Blocks = [i.P.Blocks[^1]] }, i.H))),
                new("run x through every transformer block in p.Blocks, in order (each block's output is the next one's input)", i => Wrong((i.Ids, i.P with { Blocks = [i.P.Blocks[0]] }, i.H))),
                new("the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab]), not x @ wte", i => Wrong(i, head: WteNotTransposed)),
                new("finish with the output head: logits = x @ wteᵀ, a score for every token of the vocabulary (you returned the final hidden states)", i => Wrong(i, head: NoHead)),
                new(LogitsNotProbabilities, i => Ops.Gpt2(i.Ids, i.P, i.H).softmax(-1)),
                new(LogitsNotProbabilities, i => Ops.Gpt2(i.Ids, i.P, i.H).log_softmax(-1)),
                new("apply ln_f once, after the last block, not after every block (each block normalises its own branches with ln_1 and ln_2)",
                    i => Wrong(i, blocks: LnFAfterEveryBlock, final: NoLnF)),
                new("GPT-2 adds wte[ids] and wpe[positions] as they are: the √n_embd scaling of the embeddings is the 2017 Transformer's (Vaswani et al. §3.4), not GPT-2's",
                    i => Wrong(i, embed: ScaledEmbeddings)),
                new("the positions start at 0: torch.arange(n_seq) gives 0, 1, ..., n_seq - 1, and the first token uses wpe[0]",
                    i => Wrong(i, embed: PositionsFromOne)),
                new(SamePositionEveryToken, i => Wrong(i, embed: LastPositionOnly)),
                new("GPT-2 learns its positions: add the rows of wpe (wpe[torch.arange(n_seq)]), not the sinusoidal table of the 2017 Transformer",
                    i => Wrong(i, embed: SinusoidalEmbedding)),
                new("each step of the loop uses its own block, foreach (var block in p.Blocks) x = Ops.TransformerBlock(x, block, nHead): you ran p.Blocks[0] every time",
                    i => Wrong((i.Ids, i.P with { Blocks = Enumerable.Repeat(i.P.Blocks[0], i.P.Blocks.Count).ToArray() }, i.H))),
                new("run the blocks in order, the first one first (foreach (var block in p.Blocks)): you ran them backwards",
                    i => Wrong((i.Ids, i.P with { Blocks = i.P.Blocks.Reverse().ToArray() }, i.H))),
                new("ln_f comes after the last block, right before the output head (each block normalises its own branches with ln_1 and ln_2)",
                    i => Wrong(i, embed: LnFOnEmbeddings, final: NoLnF)),
                new("Ops.TransformerBlock already adds its residual connections (it returns x + ...): x = block(x), not x = x + block(x)",
                    i => Wrong(i, blocks: ResidualAroundBlocks)),
                .. new[] { 1, 2, 3, 4, 8, 12 }.Select(h => new Trap<(Tensor Ids, Gpt2Params P, int H)>(OtherHeads, i => Ops.Gpt2(i.Ids, i.P, h))),
                // blocks written inline with one of the block's known mistakes (notebook 07's traps), with ln_f and without it
                .. BlockTraps().Select(t => new Trap<(Tensor Ids, Gpt2Params P, int H)>(OwnBlocks + t.Hint, i => Wrong(i, blocks: EachBlock(t.Wrong)))),
                .. BlockTraps().Select(t => new Trap<(Tensor Ids, Gpt2Params P, int H)>($"two mistakes at once: (1) {OwnBlocks}{t.Hint}; (2) {NoLnFAfterBlocks}",
                    i => Wrong(i, blocks: EachBlock(t.Wrong), final: NoLnF))),
            ],
            ExceptionHint = e =>
                e.Message.Contains("tensors used as indices must be") ? "index wpe with int64 positions: torch.arange(ids.shape[^1]) (a long count gives int64; torch.arange(0.0, ...) or a float dtype gives floats, which cannot index)"
                : e.Message.Contains("is invalid for input of size") || e.StackTrace?.Contains("MultiHeadAttention") == true ? OtherHeads
                : e.Message.Contains("must match the size") ? PositionsAlongLastAxis
                : e is IndexOutOfRangeException ? "ids is [n_seq] or a batch [B, n_seq]: take n_seq from the last axis, ids.shape[^1], which exists in both"
                : ShapeError(e) ? "the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab])"
                : null,
            Diagnose = (i, expected, got) => got.dim() == expected.dim() - 1 || got.dim() == expected.dim() && got.shape[^2] == 1 && expected.shape[^2] > 1
                ? "return logits for every position ([..., n_seq, n_vocab]), not only for the last one" : null,
            Probe = () => FutureLeaksIds(ids => gpt2(ids, Tiny(92, Float64), 2)),
        }.Run();
    }

    // GPT-2's forward pass in four stages; a trap replaces one or two of them by a small named mistake
    delegate Tensor GptEmbed(Tensor ids, Gpt2Params p);                   // -> [..., n_seq, n_embd]
    delegate Tensor GptStack(Tensor x, Gpt2Params p, int nHead);             // [..., n_seq, n_embd] -> the same
    delegate Tensor GptFinal(Tensor x, Gpt2Params p);                        // ln_f
    delegate Tensor GptHead(Tensor x, Gpt2Params p);                         // -> [..., n_seq, n_vocab]

    static Tensor Gpt2Forward(Tensor ids, Gpt2Params p, int h, GptEmbed? embed = null, GptStack? blocks = null, GptFinal? final = null, GptHead? head = null) =>
        (head ?? TiedHead)((final ?? LnF)((blocks ?? BlocksInOrder)((embed ?? RightEmbedding)(ids, p), p, h), p), p);

    static Tensor Positions(Tensor ids) => torch.arange(ids.shape[^1]);
    static Tensor RightEmbedding(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[Positions(ids)];
    static Tensor NoPositions(Tensor ids, Gpt2Params p) => p.Wte[ids];
    static Tensor PositionsById(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[ids];
    static Tensor PositionsAlongFirstAxis(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[torch.arange(ids.shape[0])];
    static Tensor PositionsFromOne(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[Positions(ids) + 1];
    static Tensor LastPositionOnly(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[torch.tensor(ids.shape[^1] - 1)];
    static Tensor SinusoidalEmbedding(Tensor ids, Gpt2Params p) => p.Wte[ids] + CourseOps.SinusoidalPositions(ids.shape[^1], p.Wte.shape[1], p.Wte.dtype);
    static Tensor LnFOnEmbeddings(Tensor ids, Gpt2Params p) => LnF(RightEmbedding(ids, p), p);
    static Tensor ScaledEmbeddings(Tensor ids, Gpt2Params p) => p.Wte[ids] * Math.Sqrt(p.Wte.shape[1]) + p.Wpe[Positions(ids)];

    static Tensor BlocksInOrder(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h); return x; }
    static Tensor NoBlocks(Tensor x, Gpt2Params p, int h) => x;
    static Tensor LnFAfterEveryBlock(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = LnF(Ops.TransformerBlock(x, b, h), p); return x; }
    /// <summary>A second residual connection around each block (which already has its own).</summary>
    static Tensor ResidualAroundBlocks(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = x + Ops.TransformerBlock(x, b, h); return x; }

    static Tensor LnF(Tensor x, Gpt2Params p) => Ops.LayerNorm(x, p.LnF.G, p.LnF.B);
    static Tensor NoLnF(Tensor x, Gpt2Params p) => x;

    static Tensor TiedHead(Tensor x, Gpt2Params p) => Ops.MatMul(x, p.Wte.T);
    static Tensor WteNotTransposed(Tensor x, Gpt2Params p) => Ops.MatMul(x, p.Wte);
    static Tensor NoHead(Tensor x, Gpt2Params p) => x;

    // ---------------------------------------------------------------- parameter count

    /// <summary>
    /// parameterCount(config, tiedHead): the number of parameters of a GPT-2 configuration, from its sizes alone, against
    /// <see cref="GptConfig.CountParameters"/> (itself tested against the <see cref="Gpt"/> module's real parameters).
    /// Compared in millions (exact to one parameter: the tolerance is a tenth of one).
    /// </summary>
    public static CheckResult ParameterCount(Func<GptConfig, bool, long> parameterCount)
    {
        static Case<(GptConfig Config, bool Tied)> C(string name, GptConfig config, bool tied) => new() { Name = name + " (compared in millions)", Tol = 1e-7, Inputs = () => (config, tied) };
        static Tensor Millions(long n) => torch.tensor(n / 1e6, dtype: Float64);
        var small = GptConfig.ShakespeareChar;
        // a trap: the count as a learner writes it, with one or two parts counted wrong
        static Func<(GptConfig Config, bool Tied), Tensor> Count(Func<Counting, Counting> mistake) => i => Millions(mistake(new Counting(i.Config, i.Tied)).Total);
        return new CheckEngine<(GptConfig Config, bool Tied)>
        {
            Name = "parameter_count",
            Reference = i => Millions(i.Config.CountParameters(i.Tied).Total),
            ReferenceName = "GptConfig.CountParameters",
            Learner = i => Millions(parameterCount(i.Config, i.Tied)),
            Cases =
            [
                C("gpt2: 12 layers, 12 heads, n_embd 768, vocab 50,257, context 1,024, head tied → 124,439,808 (published)", GptConfig.Gpt2, true),
                C("gpt2 with a separate output head (tiedHead = false) → 163,037,184", GptConfig.Gpt2, false),
                C("gpt2-medium: 24 layers, 16 heads, n_embd 1,024, head tied → 354,823,168 (published)", GptConfig.Gpt2Medium, true),
                C("gpt2-large: 36 layers, 20 heads, n_embd 1,280, head tied → 774,030,080", GptConfig.Gpt2Large, true),
                C("gpt2-xl: 48 layers, 25 heads, n_embd 1,600, head tied → 1,557,611,200", GptConfig.Gpt2Xl, true),
                C("gpt2 without the c_attn bias (QkvBias = false) and a separate head, as LLMs-from-scratch's GPT_CONFIG_124M → 163,009,536", GptConfig.Gpt2 with { QkvBias = false }, false),
                C("gpt2 with nanoGPT's vocabulary padded to 50,304, head tied", GptConfig.Gpt2 with { VocabSize = 50304 }, true),
                C("shakespeare-char sizes (4 layers, n_embd 192, context 128, vocab 65) with nanoGPT's bias = false (Bias = false: no bias anywhere), head tied", small with { Bias = false }, true),
                C("shakespeare-char sizes, separate head", small, false),
                C("a 2.7-billion model (GPT-3 2.7B's sizes: 32 layers, n_embd 2,560, vocab 50,257, context 2,048), head tied: more than an int holds",
                    GptConfig.Gpt2 with { NLayer = 32, NHead = 32, NEmbd = 2560, ContextLength = 2048 }, true),
            ],
            Traps =
            [
                new("your count overflowed an int, which holds at most 2,147,483,647: compute in long (long c = config.NEmbd, ...; every product then is a long)",
                    i => Millions(unchecked((int)new Counting(i.Config, i.Tied).Total))),
                new("the tied head is wte itself: with tiedHead = true it adds no parameters (count n_vocab × n_embd once, not twice)", Count(c => c with { Head = c.Separate })),
                new("the tied head is wte itself: with tiedHead = true it adds no parameters (count n_vocab × n_embd once, not twice)", Count(c => c with { Head = c.Separate, Wpe = false })),
                new("with tiedHead = false the output head is a separate [n_vocab, n_embd] matrix: add n_vocab × n_embd", Count(c => c with { Head = 0 })),
                new("the separate output head has no bias (GPT-2's lm_head is a linear layer without one): n_vocab × n_embd, not n_vocab × n_embd + n_vocab", Count(c => c with { Head = c.Tied ? 0 : c.Separate + c.Cfg.VocabSize })),
                new("count the position embedding wpe: n_ctx × n_embd (786,432 for gpt2)", Count(c => c with { Wpe = false })),
                new("count the position embedding wpe: n_ctx × n_embd (786,432 for gpt2)", Count(c => c with { Wpe = false, LnF = false })),
                new("multiply the count of one block by n_layer (the number of blocks), not by n_head", Count(c => c with { Layers = c.Cfg.NHead })),
                new("multiply the count of one block by n_layer: the model has n_layer blocks of the same size", Count(c => c with { Layers = 1 })),
                new("GPT-2's c_attn has a bias of 3 × n_embd per block when QkvBias is true (124,412,160 is gpt2 without it)", Count(c => c with { QkvBias = false })),
                new("when QkvBias is false, c_attn has no bias: 3 × n_embd fewer per block (the other biases stay)", Count(c => c with { QkvBias = c.Cfg.Bias })),
                new("when QkvBias is false only c_attn loses its bias; c_proj, c_fc, the MLP's c_proj and the layer norms keep theirs", Count(c => c with { LinearBias = c.Cfg.Bias && c.Cfg.QkvBias })),
                new("when Bias is false there are no biases anywhere: none in the linear layers, and the layer norms keep only their gain", Count(c => c with { LinearBias = true, QkvBias = c.Cfg.QkvBias, Norm = 2 * c.Cfg.NEmbd })),
                new("with Bias = false the layer norms keep their gain (n_embd each); only their shift goes", Count(c => c with { Norm = c.Cfg.Bias ? c.Norm : 0 })),
                new("with Bias = false the layer norms lose their shift too (nanoGPT's LayerNorm(bias = False)): n_embd each, not 2 × n_embd", Count(c => c with { Norm = 2 * c.Cfg.NEmbd })),
                new("count the 1-D parameters too: the biases of the linear layers and the gain and shift of every layer norm", Count(c => c with { LinearBias = false, QkvBias = false, Norm = 0 })),
                new("count the layer norms: each has a gain and a shift of n_embd (ln_1 and ln_2 in every block, plus ln_f)", Count(c => c with { Norm = 0 })),
                new("count the final layer norm ln_f (gain and shift, 2 × n_embd) after the blocks", Count(c => c with { LnF = false })),
                new("a layer norm has a gain AND a shift (its bias) of n_embd each, when Bias is true", Count(c => c with { Norm = c.Cfg.NEmbd })),
                new("count the biases of the linear layers: c_attn 3 × n_embd, attention c_proj n_embd, c_fc 4 × n_embd, MLP c_proj n_embd", Count(c => c with { LinearBias = false, QkvBias = false })),
                new("the MLP widens to 4 × n_embd: c_fc is [n_embd, 4·n_embd] (+ 4·n_embd bias), c_proj [4·n_embd, n_embd] (+ n_embd)", Count(c => c with { MlpWidth = 1 })),
                new("the MLP has two linear layers: c_fc (n_embd → 4·n_embd) and c_proj (4·n_embd → n_embd)", Count(c => c with { MlpProj = false })),
                new("c_attn makes q, k and v at once: [n_embd, 3·n_embd] (+ 3·n_embd bias)", Count(c => c with { QkvWidth = 1 })),
                new("attention has two linear layers: c_attn (n_embd → 3·n_embd, q, k and v together) and c_proj (n_embd → n_embd)", Count(c => c with { AttnProj = false })),
            ],
            Diagnose = (i, expected, got) => CountDiagnosis(i.Config, i.Tied,
                (long)Math.Round(expected.item<double>() * 1e6), (long)Math.Round(got.item<double>() * 1e6)),
        }.Run();
    }

    /// <summary>
    /// When no trap matched: how far off the count is, and, when the difference is exactly one or two parts of the
    /// model (combined mistakes), which ones; else the parts of this configuration to compare with.
    /// </summary>
    static string CountDiagnosis(GptConfig cfg, bool tied, long want, long have)
    {
        string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
        var parts = cfg.CountParameters(tied);
        long c = cfg.NEmbd, v = cfg.VocabSize, layers = cfg.NLayer, ln = parts.FinalNorm;
        long linearBiases = cfg.Bias ? (cfg.QkvBias ? 9 : 6) * c : 0;
        // the parts a count can miss or add, most likely first (the same number can have two readings)
        var known = new List<(long Size, string What)>
        {
            (v * c, $"n_vocab × n_embd = {N(v * c)}, a whole head (the tied head is wte itself: count it once)"),
            (layers * cfg.ContextLength * (long)cfg.ContextLength, $"n_layer × n_ctx² = {N(layers * cfg.ContextLength * (long)cfg.ContextLength)}, the causal mask of every block: "
                + "a buffer (Hugging Face's attn.bias in the state dict), not a parameter"),
            (v == 50257 ? (50304 - v) * c : 0, $"(50,304 - 50,257) × n_embd = {N((50304 - v) * c)}, nanoGPT's vocabulary padded to 50,304: count c.VocabSize as given"),
            ((long)cfg.ContextLength * c, $"n_ctx × n_embd = {N((long)cfg.ContextLength * c)}, the position embedding wpe"),
            (ln, $"{N(ln)}, the final layer norm ln_f"),
            (layers * 2 * ln, $"n_layer × 2 layer norms = {N(layers * 2 * ln)}, ln_1 and ln_2 of every block"),
            (layers * linearBiases, $"n_layer × {N(linearBiases)} = {N(layers * linearBiases)}, the biases of the linear layers"),
            (layers * 3 * c, $"n_layer × 3·n_embd = {N(layers * 3 * c)}, the c_attn biases"),
            (layers * 4 * c, $"n_layer × 4·n_embd = {N(layers * 4 * c)} (c_fc's bias, or the gain and shift of two layer norms, in every block)"),
            (layers * c, $"n_layer × n_embd = {N(layers * c)} (one bias or one layer-norm vector per block)"),
            (parts.PerBlock, $"{N(parts.PerBlock)}, one whole block"),
            (v, $"n_vocab = {N(v)}, a bias on the head (it has none)"),
        };
        long d = have - want;
        string? why = null;
        foreach (var (size, what) in known)
            if (why == null && size != 0 && Math.Abs(d) == size) why = $"exactly {what}";
        for (int a = 0; a < known.Count && why == null; a++)
            for (int b = a + 1; b < known.Count && why == null; b++)
                foreach (var (sa, sb) in new[] { (1, 1), (1, -1), (-1, 1), (-1, -1) })
                    if (known[a].Size != 0 && known[b].Size != 0 && d == sa * known[a].Size + sb * known[b].Size)
                    {
                        why = $"{(sa > 0 ? "an extra" : "a missing")} {known[a].What}, and {(sb > 0 ? "an extra" : "a missing")} {known[b].What}";
                        break;
                    }
        var head = $"your count is {N(have)}, {N(Math.Abs(d))} {(d > 0 ? "too many" : "too few")}";
        return why != null ? $"{head}: that is {why}"
            : $"{head}. The parts of this configuration: wte {N(parts.TokenEmbedding)}, wpe {N(parts.PositionEmbedding)}, " +
              $"one block {N(parts.PerBlock)} (attention {N(parts.AttentionPerBlock)}, MLP {N(parts.MlpPerBlock)}, ln_1 + ln_2 {N(parts.NormsPerBlock)}) " +
              $"× {parts.Blocks}, ln_f {N(parts.FinalNorm)}, head {N(parts.Head)}";
    }

    /// <summary>
    /// A parameter count part by part, as a learner writes it; each trap of <see cref="ParameterCount"/> changes one or two
    /// parts (with { ... }). Unchanged it equals <see cref="GptConfig.CountParameters"/>.
    /// </summary>
    sealed record Counting(GptConfig Cfg, bool Tied)
    {
        /// <summary>A separate output head, [n_vocab, n_embd] without bias.</summary>
        public long Separate => Cfg.VocabSize * Cfg.NEmbd;
        /// <summary>Biases on attention's c_proj, c_fc and the MLP's c_proj.</summary>
        public bool LinearBias { get; init; } = Cfg.Bias;
        public bool QkvBias { get; init; } = Cfg.Bias && Cfg.QkvBias;
        /// <summary>One layer norm: the gain, and the shift when there are biases.</summary>
        public long Norm { get; init; } = Cfg.Bias ? 2 * Cfg.NEmbd : Cfg.NEmbd;
        public long Layers { get; init; } = Cfg.NLayer;
        public long MlpWidth { get; init; } = 4;
        public long QkvWidth { get; init; } = 3;
        public bool AttnProj { get; init; } = true;
        public bool MlpProj { get; init; } = true;
        public bool Wpe { get; init; } = true;
        public bool LnF { get; init; } = true;
        public long Head { get; init; } = Tied ? 0 : Cfg.VocabSize * Cfg.NEmbd;

        public long Total
        {
            get
            {
                long c = Cfg.NEmbd, lb = LinearBias ? 1 : 0;
                long attn = QkvWidth * c * c + (QkvBias ? QkvWidth * c : 0) + (AttnProj ? c * c + lb * c : 0);
                long mlp = MlpWidth * c * c + lb * MlpWidth * c + (MlpProj ? MlpWidth * c * c + lb * c : 0);
                return Cfg.VocabSize * c + (Wpe ? (long)Cfg.ContextLength * c : 0) + Layers * (attn + mlp + 2 * Norm) + (LnF ? Norm : 0) + Head;
            }
        }
    }
}
