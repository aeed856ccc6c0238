using PicoGpt.Exercises;
using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;
using static PicoGpt.Tests.BlockCheckTests;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 08: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class Gpt2CheckTests
{
    // ---------------------------------------------------------------- gpt2

    /// <summary>Right answers to Gpt2: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Gpt2Params, int, Tensor>> Gpt2RightAnswers => new()
    {
        { "Gpt2_reference_passes", Ops.Gpt2 },
        { "Gpt2_wpe_rows_sliced_and_F_linear_head_pass", (ids, p, h) =>
            {
                var x = p.Wte[ids] + p.Wpe[TensorIndex.Slice(0, ids.shape[^1])];
                foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
                return torch.nn.functional.linear(Ln(x, p.LnF), p.Wte);
            } },
    };

    [Theory, MemberData(nameof(Gpt2RightAnswers))]
    public void Gpt2_right_answer_passes(string answer, Func<Tensor, Gpt2Params, int, Tensor> right) => Passes(Checks.Gpt2(right), answer);

    [Fact]
    public void Gpt2_stub_is_not_implemented() => Assert.True(Checks.Gpt2((ids, p, h) => throw new NotImplementedException()).NotImplemented);

    static Tensor Gpt(Tensor ids, Gpt2Params p, int h, bool positions = true, bool lnF = true, bool positionsById = false, bool head = true)
    {
        var x = p.Wte[ids];
        if (positions) x = x + p.Wpe[positionsById ? ids : torch.arange(ids.shape[^1])];
        foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
        if (lnF) x = Ln(x, p.LnF);
        return head ? x.matmul(p.Wte.T) : x;
    }

    /// <summary>Wrong answers to Gpt2, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Gpt2Params, int, Tensor>, string> Gpt2Mistakes => new()
    {
        { "Gpt2_without_positions_fails", (ids, p, h) => Gpt(ids, p, h, positions: false), "add the position embeddings" },
        { "Gpt2_positions_by_id_fails", (ids, p, h) => Gpt(ids, p, h, positionsById: true), "index wpe by position" },
        { "Gpt2_without_final_norm_fails", (ids, p, h) => Gpt(ids, p, h, lnF: false), "ln_f" },
        { "Gpt2_untransposed_head_fails", (ids, p, h) => Gpt(ids, p, h, head: false).matmul(p.Wte), "not x @ wte" },
        { "Gpt2_without_output_head_fails", (ids, p, h) => Gpt(ids, p, h, head: false), "finish with the output head" },
        { "Gpt2_without_positions_and_final_norm_gets_the_positions_hint", (ids, p, h) => Gpt(ids, p, h, positions: false, lnF: false), "add the position embeddings" },
        { "Gpt2_positions_from_the_second_axis_fails_on_a_single_sequence", (ids, p, h) => Gpt2With(ids, p, h, torch.arange(ids.shape[1])), "ids.shape[^1]" },
        { "Gpt2_positions_by_id_without_final_norm_gets_the_positions_hint", (ids, p, h) => Gpt(ids, p, h, positionsById: true, lnF: false), "index wpe by position" },
        { "Gpt2_without_final_norm_and_untransposed_head_gets_the_ln_f_hint", (ids, p, h) => Gpt(ids, p, h, lnF: false, head: false).matmul(p.Wte), "ln_f" },
        { "Gpt2_without_blocks_fails", (ids, p, h) => Ops.MatMul(Ln(Ops.Embed(ids, p.Wte, p.Wpe), p.LnF), p.Wte.T), "every transformer block" },
        { "Gpt2_first_block_only_fails", (ids, p, h) => Ops.MatMul(Ln(Ops.TransformerBlock(Ops.Embed(ids, p.Wte, p.Wpe), p.Blocks[0], h), p.LnF), p.Wte.T), "every transformer block" },
        { "Gpt2_logits_of_the_last_position_only_fails", (ids, p, h) => Ops.Gpt2(ids, p, h)[TensorIndex.Ellipsis, -1, TensorIndex.Colon], "not only for the last one" },
        { "Gpt2_returning_probabilities_fails", (ids, p, h) => Gpt2With(ids, p, h, torch.arange(ids.shape[^1])).softmax(-1), "they are scores, not probabilities" },
        { "Gpt2_returning_log_probabilities_fails", (ids, p, h) => Gpt2With(ids, p, h, torch.arange(ids.shape[^1])).log_softmax(-1), "they are scores, not probabilities" },
        { "Gpt2_final_norm_after_every_block_fails", (ids, p, h) =>
            {
                var x = p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])];
                foreach (var block in p.Blocks) x = Ln(Ops.TransformerBlock(x, block, h), p.LnF);
                return Ops.MatMul(x, p.Wte.T);
            }, "apply ln_f once, after the last block" },
        { "Gpt2_positions_from_one_fail", (ids, p, h) => Gpt2With(ids, p, h, torch.arange(1, ids.shape[^1] + 1)), "the positions start at 0" },
        { "Gpt2_last_position_for_every_token_fails", (ids, p, h) => Gpt2With(ids, p, h, torch.tensor(ids.shape[^1] - 1)), "every token got the same position vector, wpe[n_seq - 1]" },
        { "Gpt2_blocks_in_reverse_order_get_a_hint", (ids, p, h) =>
            {
                var x = Embed(ids, p);
                for (int l = p.Blocks.Count - 1; l >= 0; l--) x = Ops.TransformerBlock(x, p.Blocks[l], h);
                return Ln(x, p.LnF).matmul(p.Wte.T);
            }, "you ran them backwards" },
        { "Gpt2_ln_f_before_the_blocks_gets_a_hint", (ids, p, h) =>
            {
                var x = Ln(Embed(ids, p), p.LnF);
                foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
                return x.matmul(p.Wte.T);
            }, "ln_f comes after the last block" },
        { "Gpt2_float_positions_get_a_hint", (ids, p, h) =>
            {
                var x = p.Wte[ids] + p.Wpe[torch.arange(0.0, (double)ids.shape[^1], 1.0)];
                foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
                return Ln(x, p.LnF).matmul(p.Wte.T);
            }, "index wpe with int64 positions" },
        { "Gpt2_residual_around_each_block_gets_a_hint", (ids, p, h) =>
            {
                var x = Embed(ids, p);
                foreach (var b in p.Blocks) x = x + Ops.TransformerBlock(x, b, h);
                return Ln(x, p.LnF).matmul(p.Wte.T);
            }, "already adds its residual connections" },
        { "Gpt2_own_post_norm_blocks_with_ln_f_fail", (ids, p, h) =>
            {
                var x = Embed(ids, p);
                foreach (var b in p.Blocks)
                {
                    x = Ln(x + Ops.MultiHeadAttention(x, b.Attn, h), b.Ln1);
                    x = Ln(x + Ops.FeedForward(x, b.Mlp), b.Ln2);
                }
                return Ops.MatMul(Ln(x, p.LnF), p.Wte.T);
            }, "your blocks are not GPT-2's block (Ops.TransformerBlock(x, block, nHead), or your TransformerBlock once it passes notebook 07's check): GPT-2 is pre-norm" },
        { "Gpt2_own_blocks_with_a_post_norm_mlp_fail", (ids, p, h) =>
            {
                var x = Embed(ids, p);
                foreach (var b in p.Blocks)
                {
                    x = x + Ops.MultiHeadAttention(Ln(x, b.Ln1), b.Attn, h);
                    x = Ln(x + Ops.FeedForward(x, b.Mlp), b.Ln2);
                }
                return Ops.MatMul(Ln(x, p.LnF), p.Wte.T);
            }, "your MLP branch is post-norm" },
    };

    [Theory, MemberData(nameof(Gpt2Mistakes))]
    public void Gpt2_mistake_fails_with_its_hint(string mistake, Func<Tensor, Gpt2Params, int, Tensor> wrong, string hint) => FailsWith(Checks.Gpt2(wrong), hint, mistake);

    [Fact]
    public void Gpt2_with_the_2017_Transformer_s_post_norm_blocks_and_no_ln_f_names_both()
    {
        // the learner review's 08-G11: a paper reader's own blocks, LN(x + sublayer(x)), and no final layer norm
        var r = Checks.Gpt2((ids, p, h) =>
        {
            var x = p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1], device: ids.device)];
            foreach (var b in p.Blocks)
            {
                x = Ops.LayerNorm(x + Ops.MultiHeadAttention(x, b.Attn, h), b.Ln1.G, b.Ln1.B);
                x = Ops.LayerNorm(x + Ops.FeedForward(x, b.Mlp), b.Ln2.G, b.Ln2.B);
            }
            return Ops.MatMul(x, p.Wte.T);
        });
        FailsWith(r, "two mistakes at once: (1) your blocks are not GPT-2's block");
        Assert.Contains("GPT-2 is pre-norm: x = x + attn(ln_1(x))", r.Hint);
        Assert.Contains("(2) apply the final layer norm ln_f after the last block", r.Hint);
    }

    static Tensor Gpt2With(Tensor ids, Gpt2Params p, int h, Tensor positions)
    {
        var x = p.Wte[ids] + p.Wpe[positions];
        foreach (var block in p.Blocks) x = Ops.TransformerBlock(x, block, h);
        x = Ops.LayerNorm(x, p.LnF.G, p.LnF.B);
        return Ops.MatMul(x, p.Wte.T);
    }

    [Fact]
    public void Gpt2_positions_from_the_first_axis_gets_the_positions_hint_not_the_head_hint()
    {
        // the learner's head is right; only n_seq is taken from ids.shape[0], which is B for a batch [B, n_seq]
        var r = Checks.Gpt2((ids, p, h) => Gpt2With(ids, p, h, torch.arange(ids.shape[0])));
        FailsWith(r, "the positions run along the last axis of ids");
        Assert.DoesNotContain("output head", r.Hint);
        Assert.Contains("batch of one row", r.Message);       // [1, 7]: every position silently gets wpe[0]
    }

    [Fact]
    public void Gpt2_positions_from_the_number_of_ids_gets_the_positions_hint_not_the_head_hint()
    {
        // ids.numel() is n_seq for one row, B × n_seq for a batch: the broadcast fails on [2, 6]
        var r = Checks.Gpt2((ids, p, h) => Gpt2With(ids, p, h, torch.arange(ids.numel())));
        FailsWith(r, "the positions run along the last axis of ids");
        Assert.DoesNotContain("output head", r.Hint);
        Assert.Contains("batch of 2 × 6", r.Message);
    }

    [Fact]
    public void Gpt2_each_block_applied_to_the_embeddings_fails()
    {
        // y = block(x) in the loop instead of x = block(x): only the last block counts
        FailsWith(Checks.Gpt2((ids, p, h) =>
        {
            var x = Ops.Embed(ids, p.Wte, p.Wpe);
            var y = x;
            foreach (var b in p.Blocks) y = Ops.TransformerBlock(x, b, h);
            return Ops.MatMul(Ln(y, p.LnF), p.Wte.T);
        }), "every transformer block");
    }

    [Fact]
    public void Gpt2_scaled_token_embeddings_fail() =>
        // the 2017 Transformer multiplies the embeddings by √d_model; GPT-2 does not
        FailsWith(Checks.Gpt2((ids, p, h) =>
        {
            var x = p.Wte[ids] * Math.Sqrt(p.Wte.shape[1]) + p.Wpe[torch.arange(ids.shape[^1])];
            foreach (var block in p.Blocks) x = Ops.TransformerBlock(x, block, h);
            return Ops.MatMul(Ln(x, p.LnF), p.Wte.T);
        }), "the √n_embd scaling of the embeddings is the 2017 Transformer's");

    // ---------------------------------------------------------------- parameter count

    /// <summary>A count written the way the notebook's solution writes it, independently of GptConfig.CountParameters.</summary>
    static long Count(GptConfig c, bool tiedHead, bool wpe = true, bool lnF = true, bool norms = true, bool honourQkv = true, bool cAttnBias = true,
        bool honourBias = true, int mlp = 4, bool headTwice = false, bool headBias = false, bool honourTied = true, bool byHeads = false)
    {
        long C = c.NEmbd, V = c.VocabSize;
        bool bias = !honourBias || c.Bias;
        long b = bias ? 1 : 0, qb = bias && cAttnBias && (!honourQkv || c.QkvBias) ? 1 : 0;
        long ln = norms ? C + b * C : 0;
        long attention = (C * 3 * C + qb * 3 * C) + (C * C + b * C);
        long ff = (C * mlp * C + b * mlp * C) + (mlp * C * C + b * C);
        long block = attention + ff + 2 * ln;
        long total = V * C + (wpe ? c.ContextLength * C : 0) + (byHeads ? c.NHead : c.NLayer) * block + (lnF ? ln : 0);
        if (headTwice || (!tiedHead && honourTied)) total += V * C + (headBias ? V : 0);
        return total;
    }

    /// <summary>Right answers to ParameterCount: each must pass.</summary>
    public static TheoryData<string, Func<GptConfig, bool, long>> ParameterCountRightAnswers => new()
    {
        { "ParameterCount_reference_passes", (c, tied) => c.CountParameters(tied).Total },
        { "ParameterCount_learners_formula_passes", (c, tied) => Count(c, tied) },
        { "ParameterCount_by_hand_without_mistakes_passes", (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + C * C + b * C + 8 * C * C + 5 * b * C + 2 * ln) },
    };

    [Theory, MemberData(nameof(ParameterCountRightAnswers))]
    public void ParameterCount_right_answer_passes(string answer, Func<GptConfig, bool, long> right) => Passes(Checks.ParameterCount(right), answer);

    [Fact]
    public void ParameterCount_stub_is_not_implemented() =>
        Assert.True(Checks.ParameterCount((c, tied) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to ParameterCount, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<GptConfig, bool, long>, string> ParameterCountMistakes => new()
    {
        { "ParameterCount_tied_head_counted_twice_fails", (c, tied) => Count(c, tied, headTwice: true), "not twice" },
        { "ParameterCount_tied_flag_ignored_fails", (c, tied) => Count(c, tied, honourTied: false), "add n_vocab × n_embd" },
        { "ParameterCount_separate_head_with_bias_fails", (c, tied) => Count(c, tied, headBias: true), "has no bias" },
        { "ParameterCount_without_wpe_fails", (c, tied) => Count(c, tied, wpe: false), "position embedding wpe" },
        { "ParameterCount_head_twice_and_without_wpe_gets_the_head_hint", (c, tied) => Count(c, tied, wpe: false, headTwice: true), "not twice" },
        { "ParameterCount_without_layer_norms_fails", (c, tied) => Count(c, tied, norms: false), "count the layer norms" },
        { "ParameterCount_without_ln_f_fails", (c, tied) => Count(c, tied, lnF: false), "final layer norm ln_f" },
        { "ParameterCount_qkv_bias_ignored_fails", (c, tied) => Count(c, tied, honourQkv: false), "when QkvBias is false, c_attn has no bias" },
        { "ParameterCount_without_any_c_attn_bias_fails", (c, tied) => Count(c, tied, cAttnBias: false), "124,412,160" },
        { "ParameterCount_bias_flag_ignored_fails", (c, tied) => Count(c, tied, honourBias: false), "no biases anywhere" },
        { "ParameterCount_mlp_not_widened_fails", (c, tied) => Count(c, tied, mlp: 1), "widens to 4 × n_embd" },
        { "ParameterCount_blocks_times_heads_fails", (c, tied) => Count(c, tied, byHeads: true), "not by n_head" },
        { "ParameterCount_with_the_mask_buffers_gets_a_hint", StateDictCount, "the causal mask of every block: a buffer" },
        { "ParameterCount_with_the_padded_vocabulary_gets_a_hint", (c, tied) => StateDictCount(c with { VocabSize = c.VocabSize == 50257 ? 50304 : c.VocabSize }, tied)
                - c.NLayer * (long)c.ContextLength * c.ContextLength, "nanoGPT's vocabulary padded to 50,304" },
    };

    [Theory, MemberData(nameof(ParameterCountMistakes))]
    public void ParameterCount_mistake_fails_with_its_hint(string mistake, Func<GptConfig, bool, long> wrong, string hint) => FailsWith(Checks.ParameterCount(wrong), hint, mistake);

    /// <summary>More mistakes, each written out as a learner would: the count of one block by hand.</summary>
    static long ByHand(GptConfig c, bool tied, Func<long, long, long, long, long> block, Func<long, long>? norm = null, bool lnF = true, bool wpe = true)
    {
        long C = c.NEmbd, b = c.Bias ? 1 : 0, qb = c.Bias && c.QkvBias ? 1 : 0;
        long ln = norm?.Invoke(C) ?? C + b * C;
        return c.VocabSize * C + (wpe ? c.ContextLength * C : 0) + c.NLayer * block(C, b, qb, ln) + (lnF ? ln : 0) + (tied ? 0 : c.VocabSize * C);
    }

    public static TheoryData<string, string> MoreCountMistakes => new()
    {
        { "wpe and ln_f", "position embedding wpe" },
        { "one block", "multiply the count of one block by n_layer" },
        { "no 1-D parameters", "count the 1-D parameters too" },
        { "layer norm gain only", "a gain AND a shift" },
        { "no biases when QkvBias is false", "only c_attn loses its bias" },
        { "no layer norms when Bias is false", "the layer norms keep their gain" },
        { "layer-norm shift when Bias is false", "lose their shift too" },
        { "MLP c_fc only", "the MLP has two linear layers" },
        { "c_attn n_embd wide", "c_attn makes q, k and v at once" },
        { "attention without c_proj", "attention has two linear layers" },
    };

    [Theory, MemberData(nameof(MoreCountMistakes))]
    public void ParameterCount_more_mistakes_fail(string mistake, string hint)
    {
        Func<GptConfig, bool, long> count = mistake switch
        {
            "wpe and ln_f" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + C * C + b * C + 8 * C * C + 5 * b * C + 2 * ln, lnF: false, wpe: false),
            "one block" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + C * C + b * C + 8 * C * C + 5 * b * C + 2 * ln) - (c.NLayer - 1) * (12 * c.NEmbd * (long)c.NEmbd + 13L * c.NEmbd),
            "no 1-D parameters" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 12 * C * C, norm: C => 0),
            "layer norm gain only" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + C * C + b * C + 8 * C * C + 5 * b * C + 2 * ln, norm: C => C),
            "no biases when QkvBias is false" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 12 * C * C + qb * 9 * C + 2 * ln),
            "no layer norms when Bias is false" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 12 * C * C + qb * 3 * C + b * 6 * C + 2 * ln, norm: C => c.Bias ? 2 * C : 0),
            "layer-norm shift when Bias is false" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 12 * C * C + qb * 3 * C + b * 6 * C + 2 * ln, norm: C => 2 * C),
            "MLP c_fc only" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + C * C + b * C + 4 * C * C + 4 * b * C + 2 * ln),
            "c_attn n_embd wide" => (c, t) => ByHand(c, t, (C, b, qb, ln) => C * C + qb * C + C * C + b * C + 8 * C * C + 5 * b * C + 2 * ln),
            "attention without c_proj" => (c, t) => ByHand(c, t, (C, b, qb, ln) => 3 * C * C + qb * 3 * C + 8 * C * C + 5 * b * C + 2 * ln),
            _ => throw new ArgumentException(mistake),
        };
        FailsWith(Checks.ParameterCount(count), hint);
    }

    [Fact]
    public void ParameterCount_two_mistakes_without_a_trap_are_named_by_their_sizes()
    {
        // the head counted twice, and the layer norms of every block counted twice (13·C + 4·C per block)
        var r = Checks.ParameterCount((c, tied) =>
        {
            long C = c.NEmbd, V = c.VocabSize;
            long block = 12 * C * C + 13 * C + 4 * C;
            return V * C + c.ContextLength * C + c.NLayer * block + 2 * C + V * C;
        });
        FailsWith(r, "38,634,240 too many: that is an extra n_vocab × n_embd = 38,597,376, a whole head");
        Assert.Contains("and an extra n_layer × 2 layer norms = 36,864, ln_1 and ln_2 of every block", r.Hint);
    }

    [Fact]
    public void ParameterCount_other_mistakes_get_the_parts_to_compare_with()
    {
        var r = Checks.ParameterCount((c, tied) => Count(c, tied) + 1);
        FailsWith(r, "1 too many");
        Assert.Contains("wte 38,597,376, wpe 786,432, one block 7,087,872", r.Hint);
    }

    // ---------------------------------------------------------------- learner review (notebook 08, second pass)

    static Tensor Embed(Tensor ids, Gpt2Params p) => p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])];

    /// <summary>The count of a learner who adds up a Hugging Face state dict: parameters plus each block's causal-mask buffer attn.bias.</summary>
    static long StateDictCount(GptConfig c, bool tied)
    {
        long C = c.NEmbd, V = c.VocabSize, T = c.ContextLength;
        long ln = c.Bias ? 2 * C : C;
        long attn = 3 * C * C + (c.Bias && c.QkvBias ? 3 * C : 0) + C * C + (c.Bias ? C : 0);
        long mlp = 8 * C * C + (c.Bias ? 5 * C : 0);
        return V * C + T * C + c.NLayer * (attn + mlp + 2 * ln + T * T) + ln + (tied ? 0 : V * C);
    }

    [Theory]
    [InlineData(12)]
    [InlineData(4)]
    public void Gpt2_with_a_hard_coded_number_of_heads_gets_a_hint(int heads) =>
        FailsWith(Checks.Gpt2((ids, p, _) =>
        {
            var x = Embed(ids, p);
            foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, heads);
            return Ln(x, p.LnF).matmul(p.Wte.T);
        }), "pass nHead on to every block");
}
