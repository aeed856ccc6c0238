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
        static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);
        static Tensor Blocks(Tensor x, Gpt2Params p, int h) { foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h); return x; }
        static Tensor Pos(Tensor ids) => torch.arange(ids.shape[^1]);
        // GPT-2 with switches for its typical mistakes
        static Tensor Wrong(Tensor ids, Gpt2Params p, int h, bool positions = true, bool byId = false, bool firstAxis = false, bool lnF = true, bool blocks = true, bool head = true, bool transpose = true,
            bool scaled = false, bool fromOne = false, bool lnFEveryBlock = false, bool lastOnly = false)
        {
            var x = p.Wte[ids];                                                              // [..., n_seq, n_embd]
            if (scaled) x = x * Math.Sqrt(p.Wte.shape[1]);
            if (positions) x = x + p.Wpe[byId ? ids : firstAxis ? torch.arange(ids.shape[0]) : fromOne ? Pos(ids) + 1 : lastOnly ? torch.tensor(ids.shape[^1] - 1) : Pos(ids)];
            if (lnFEveryBlock) foreach (var b in p.Blocks) x = Ln(Ops.TransformerBlock(x, b, h), p.LnF);
            else if (blocks) x = Blocks(x, p, h);
            if (lnF) x = Ln(x, p.LnF);
            return !head ? x : transpose ? x.matmul(p.Wte.T) : Ops.MatMul(x, p.Wte);
        }
        return new CheckEngine<(Tensor Ids, Gpt2Params P, int H)>
        {
            Name = "gpt2",
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
            ],
            Traps =
            [
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]", i => Wrong(i.Ids, i.P, i.H, positions: false)),
                new("add the position embeddings: x = wte[ids] + wpe[0, 1, ..., n_seq - 1]", i => Wrong(i.Ids, i.P, i.H, positions: false, lnF: false)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => Wrong(i.Ids, i.P, i.H, byId: true)),
                new("index wpe by position (0, 1, ..., n_seq - 1), not by token id", i => Wrong(i.Ids, i.P, i.H, byId: true, lnF: false)),
                new(PositionsAlongLastAxis, i => Wrong(i.Ids, i.P, i.H, firstAxis: true)),
                new("apply the final layer norm ln_f before the output projection", i => Wrong(i.Ids, i.P, i.H, lnF: false)),
                new("apply the final layer norm ln_f before the output projection", i => Wrong(i.Ids, i.P, i.H, lnF: false, transpose: false)),
                new("run x through every transformer block in p.Blocks, in order", i => Wrong(i.Ids, i.P, i.H, blocks: false)),
                new("run x through every transformer block in p.Blocks, in order (each block's output is the next one's input)", i => Wrong(i.Ids, i.P with { Blocks = [i.P.Blocks[^1]] }, i.H)),
                new("run x through every transformer block in p.Blocks, in order (each block's output is the next one's input)", i => Wrong(i.Ids, i.P with { Blocks = [i.P.Blocks[0]] }, i.H)),
                new("the output head is the token embedding transposed: logits = x @ wteᵀ ([n_embd, n_vocab]), not x @ wte", i => Wrong(i.Ids, i.P, i.H, transpose: false)),
                new("finish with the output head: logits = x @ wteᵀ, a score for every token of the vocabulary (you returned the final hidden states)", i => Wrong(i.Ids, i.P, i.H, head: false)),
                new(LogitsNotProbabilities, i => Ops.Gpt2(i.Ids, i.P, i.H).softmax(-1)),
                new(LogitsNotProbabilities, i => Ops.Gpt2(i.Ids, i.P, i.H).log_softmax(-1)),
                new("apply ln_f once, after the last block, not after every block (each block normalises its own branches with ln_1 and ln_2)",
                    i => Wrong(i.Ids, i.P, i.H, lnF: false, lnFEveryBlock: true)),
                new("GPT-2 adds wte[ids] and wpe[positions] as they are: the √n_embd scaling of the embeddings is the 2017 Transformer's (Vaswani et al. §3.4), not GPT-2's",
                    i => Wrong(i.Ids, i.P, i.H, scaled: true)),
                new("the positions start at 0: torch.arange(n_seq) gives 0, 1, ..., n_seq - 1, and the first token uses wpe[0]",
                    i => Wrong(i.Ids, i.P, i.H, fromOne: true)),
                new(SamePositionEveryToken, i => Wrong(i.Ids, i.P, i.H, lastOnly: true)),
                new("run the blocks in order, the first one first (foreach (var block in p.Blocks)): you ran them backwards",
                    i => Wrong(i.Ids, i.P with { Blocks = i.P.Blocks.Reverse().ToArray() }, i.H)),
                new("ln_f comes after the last block, right before the output head (each block normalises its own branches with ln_1 and ln_2)",
                    i => LnFFirst(i.Ids, i.P, i.H)),
                new("Ops.TransformerBlock already adds its residual connections (it returns x + ...): x = block(x), not x = x + block(x)",
                    i => ResidualAroundBlocks(i.Ids, i.P, i.H)),
                .. new[] { 1, 3, 4, 8, 12 }.Select(h => new Trap<(Tensor Ids, Gpt2Params P, int H)>(OtherHeads, i => Ops.Gpt2(i.Ids, i.P, h))),
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

    /// <summary>GPT-2 with ln_f applied to the embeddings, before the blocks, instead of after them.</summary>
    static Tensor LnFFirst(Tensor ids, Gpt2Params p, int h)
    {
        var x = Ops.LayerNorm(p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])], p.LnF.G, p.LnF.B); // [..., n_seq, n_embd]
        foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
        return Ops.MatMul(x, p.Wte.T);                                                           // [..., n_seq, n_vocab]
    }

    /// <summary>GPT-2 with a second residual connection around each block (which already has its own).</summary>
    static Tensor ResidualAroundBlocks(Tensor ids, Gpt2Params p, int h)
    {
        var x = p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])];                                  // [..., n_seq, n_embd]
        foreach (var b in p.Blocks) x = x + Ops.TransformerBlock(x, b, h);
        return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);                             // [..., n_seq, n_vocab]
    }

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
            ],
            Traps =
            [
                new("the tied head is wte itself: with tiedHead = true it adds no parameters (count n_vocab × n_embd once, not twice)", i => Millions(WrongCount(i.Config, i.Tied, head: HeadMistake.AlwaysSeparate))),
                new("the tied head is wte itself: with tiedHead = true it adds no parameters (count n_vocab × n_embd once, not twice)", i => Millions(WrongCount(i.Config, i.Tied, head: HeadMistake.AlwaysSeparate, wpe: false))),
                new("with tiedHead = false the output head is a separate [n_vocab, n_embd] matrix: add n_vocab × n_embd", i => Millions(WrongCount(i.Config, i.Tied, head: HeadMistake.AlwaysTied))),
                new("the separate output head has no bias (GPT-2's lm_head is a linear layer without one): n_vocab × n_embd, not n_vocab × n_embd + n_vocab", i => Millions(WrongCount(i.Config, i.Tied, head: HeadMistake.WithBias))),
                new("count the position embedding wpe: n_ctx × n_embd (786,432 for gpt2)", i => Millions(WrongCount(i.Config, i.Tied, wpe: false))),
                new("count the position embedding wpe: n_ctx × n_embd (786,432 for gpt2)", i => Millions(WrongCount(i.Config, i.Tied, wpe: false, lnF: false))),
                new("multiply the count of one block by n_layer (the number of blocks), not by n_head", i => Millions(WrongCount(i.Config, i.Tied, layers: i.Config.NHead))),
                new("multiply the count of one block by n_layer: the model has n_layer blocks of the same size", i => Millions(WrongCount(i.Config, i.Tied, layers: 1))),
                new("GPT-2's c_attn has a bias of 3 × n_embd per block when QkvBias is true (124,412,160 is gpt2 without it)", i => Millions(WrongCount(i.Config, i.Tied, qkv: QkvMistake.NeverBias))),
                new("when QkvBias is false, c_attn has no bias: 3 × n_embd fewer per block (the other biases stay)", i => Millions(WrongCount(i.Config, i.Tied, qkv: QkvMistake.AlwaysBias))),
                new("when QkvBias is false only c_attn loses its bias; c_proj, c_fc, the MLP's c_proj and the layer norms keep theirs", i => Millions(WrongCount(i.Config, i.Tied, qkv: QkvMistake.NoBiasesAtAll))),
                new("when Bias is false there are no biases anywhere: none in the linear layers, and the layer norms keep only their gain", i => Millions(WrongCount(i.Config, i.Tied, bias: BiasMistake.Ignored))),
                new("with Bias = false the layer norms keep their gain (n_embd each); only their shift goes", i => Millions(WrongCount(i.Config, i.Tied, bias: BiasMistake.NormsDropped))),
                new("with Bias = false the layer norms lose their shift too (nanoGPT's LayerNorm(bias = False)): n_embd each, not 2 × n_embd", i => Millions(WrongCount(i.Config, i.Tied, bias: BiasMistake.NormsKeepShift))),
                new("count the 1-D parameters too: the biases of the linear layers and the gain and shift of every layer norm", i => Millions(WrongCount(i.Config, i.Tied, biases: false, norms: false))),
                new("count the layer norms: each has a gain and a shift of n_embd (ln_1 and ln_2 in every block, plus ln_f)", i => Millions(WrongCount(i.Config, i.Tied, norms: false))),
                new("count the final layer norm ln_f (gain and shift, 2 × n_embd) after the blocks", i => Millions(WrongCount(i.Config, i.Tied, lnF: false))),
                new("a layer norm has a gain AND a shift (its bias) of n_embd each, when Bias is true", i => Millions(WrongCount(i.Config, i.Tied, lnShift: false))),
                new("count the biases of the linear layers: c_attn 3 × n_embd, attention c_proj n_embd, c_fc 4 × n_embd, MLP c_proj n_embd", i => Millions(WrongCount(i.Config, i.Tied, biases: false))),
                new("the MLP widens to 4 × n_embd: c_fc is [n_embd, 4·n_embd] (+ 4·n_embd bias), c_proj [4·n_embd, n_embd] (+ n_embd)", i => Millions(WrongCount(i.Config, i.Tied, mlp: 1))),
                new("the MLP has two linear layers: c_fc (n_embd → 4·n_embd) and c_proj (4·n_embd → n_embd)", i => Millions(WrongCount(i.Config, i.Tied, mlpProj: false))),
                new("c_attn makes q, k and v at once: [n_embd, 3·n_embd] (+ 3·n_embd bias)", i => Millions(WrongCount(i.Config, i.Tied, qkvWidth: 1))),
                new("attention has two linear layers: c_attn (n_embd → 3·n_embd, q, k and v together) and c_proj (n_embd → n_embd)", i => Millions(WrongCount(i.Config, i.Tied, attnProj: false))),
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

    enum HeadMistake { None, AlwaysSeparate, AlwaysTied, WithBias }
    enum QkvMistake { None, NeverBias, AlwaysBias, NoBiasesAtAll }
    enum BiasMistake { None, Ignored, NormsDropped, NormsKeepShift }

    /// <summary>A parameter count with switches for the typical mistakes (the reference is GptConfig.CountParameters).</summary>
    static long WrongCount(GptConfig cfg, bool tied, HeadMistake head = HeadMistake.None, bool wpe = true, int? layers = null, bool biases = true,
        bool norms = true, bool lnF = true, bool lnShift = true, QkvMistake qkv = QkvMistake.None, BiasMistake bias = BiasMistake.None,
        int mlp = 4, bool mlpProj = true, int qkvWidth = 3, bool attnProj = true)
    {
        long c = cfg.NEmbd, v = cfg.VocabSize;
        bool hasBias = bias == BiasMistake.Ignored || cfg.Bias;
        long b = biases && hasBias && !(qkv == QkvMistake.NoBiasesAtAll && !cfg.QkvBias) ? 1 : 0;
        long qb = b == 1 && qkv switch { QkvMistake.NeverBias => false, QkvMistake.AlwaysBias => true, _ => cfg.QkvBias } ? 1 : 0;
        long shift = lnShift && (hasBias || bias == BiasMistake.NormsKeepShift) ? c : 0;
        long ln = !norms || (!cfg.Bias && bias == BiasMistake.NormsDropped) ? 0 : c + shift;
        long attn = qkvWidth * c * c + qb * qkvWidth * c + (attnProj ? c * c + b * c : 0);
        long ff = mlp * c * c + b * mlp * c + (mlpProj ? mlp * c * c + b * c : 0);
        long headCount = head switch
        {
            HeadMistake.AlwaysSeparate => v * c,
            HeadMistake.AlwaysTied => 0,
            HeadMistake.WithBias => tied ? 0 : v * c + v,
            _ => tied ? 0 : v * c,
        };
        return v * c + (wpe ? (long)cfg.ContextLength * c : 0) + (layers ?? cfg.NLayer) * (attn + ff + 2 * ln) + (lnF ? ln : 0) + headCount;
    }
}
