using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;
using static PicoGpt.Tests.MultiHeadAttentionCheckTests;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 07: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class BlockCheckTests
{
    // ---- FeedForward

    [Fact]
    public void FeedForward_reference_passes() => Passes(Checks.FeedForward(Ops.FeedForward));

    /// <summary>Wrong answers to FeedForward, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, FeedForwardParams, Tensor>, string> FeedForwardMistakes => new()
    {
        { "FeedForward_relu_fails", (x, p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B).relu(), p.CProj.W, p.CProj.B), "ReLU" },
        { "FeedForward_erf_gelu_fails", (x, p) => Ops.Linear(torch.nn.functional.gelu(Ops.Linear(x, p.CFc.W, p.CFc.B)), p.CProj.W, p.CProj.B), "exact erf GELU" },
        { "FeedForward_without_activation_fails", (x, p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B), p.CProj.W, p.CProj.B), "apply GELU between the two projections" },
        { "FeedForward_gelu_at_the_end_fails", (x, p) => Ops.Gelu(Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B), p.CProj.W, p.CProj.B)), "not after c_proj" },
        { "FeedForward_relu_at_the_end_names_both", (x, p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B), p.CProj.W, p.CProj.B).relu(), "two mistakes at once: (1) this uses ReLU; GPT-2's MLP uses GELU with the tanh approximation (Ops.Gelu); (2) apply GELU after c_fc (the projection up to 4·n_embd), not after c_proj" },
        { "FeedForward_gelu_after_both_projections_fails", (x, p) => Ops.Gelu(Ops.Linear(Ops.Gelu(Ops.Linear(x, p.CFc.W, p.CFc.B)), p.CProj.W, p.CProj.B)), "apply GELU once, after c_fc" },
        { "FeedForward_projections_in_the_wrong_order_get_a_hint", (x, p) => Ops.Linear(Ops.Gelu(Ops.Linear(x, p.CProj.W, p.CProj.B)), p.CFc.W, p.CFc.B), "Or you started with c_proj: go up first, x @ c_fc.W + b" },
    };

    [Theory, MemberData(nameof(FeedForwardMistakes))]
    public void FeedForward_mistake_fails_with_its_hint(string mistake, Func<Tensor, FeedForwardParams, Tensor> wrong, string hint) => FailsWith(Checks.FeedForward(wrong), hint, mistake);

    [Fact]
    public void FeedForward_with_transposed_weight_gets_a_hint() =>
        // In the kernel, x.matmul(p.CFc.W.T) runs through Ops.MatMul (the matmul guard); written here the same way.
        FailsWith(Checks.FeedForward((x, p) => Ops.Linear(Ops.Gelu(Ops.MatMul(x, p.CFc.W.T) + p.CFc.B), p.CProj.W, p.CProj.B)),
            "c_fc.W is [n_embd, 4·n_embd] and c_proj.W [4·n_embd, n_embd], so x @ W needs no .T");

    [Fact]
    public void FeedForward_without_biases_fails() =>
        // a raw matmul forgets the biases (in the kernel x.matmul runs through Ops.MatMul)
        FailsWith(Checks.FeedForward((x, p) => Ops.MatMul(Ops.Gelu(Ops.MatMul(x, p.CFc.W)), p.CProj.W)), "add the biases");

    // ---- Dropout

    static Tensor Uniform(Tensor x, Generator g) => torch.rand(x.shape, dtype: x.dtype, generator: g);

    /// <summary>Right answers to Dropout: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, double, bool, Generator, Tensor>> DropoutRightAnswers => new()
    {
        { "Dropout_reference_passes", (x, p, training, g) => CourseOps.Dropout(x, p, training, g) },
        { "Dropout_written_with_where_passes", (x, p, training, g) =>
            {
                if (!training) return x;
                var keep = Uniform(x, g) >= p;
                return torch.where(keep, x / (1 - p), torch.zeros_like(x));
            } },
        { "Dropout_with_bernoulli_is_accepted", (x, p, training, g) =>
                training ? x * torch.bernoulli(torch.full(x.shape, 1 - p, dtype: x.dtype), generator: g) / (1 - p) : x },
    };

    [Theory, MemberData(nameof(DropoutRightAnswers))]
    public void Dropout_right_answer_passes(string answer, Func<Tensor, double, bool, Generator, Tensor> right) => Passes(Checks.Dropout(right), answer);

    [Fact]
    public void Dropout_stub_is_not_implemented() => Assert.True(Checks.Dropout((x, p, t, g) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void Dropout_with_other_random_draws_is_accepted()
    {
        // float32 draws compared with "< 1 - p": a correct dropout whose zeros are not those of CourseOps.Dropout
        var r = Checks.Dropout((x, p, training, g) => training ? x * (torch.rand(x.shape, generator: g) < 1 - p) / (1 - p) : x);
        Passes(r);
        Assert.Contains("another correct answer", r.Message);
        Assert.Contains(r.Details, d => d.Contains("another valid dropout") && d.Contains("dropped for p = 0.5"));
    }

    /// <summary>Wrong answers to Dropout, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, double, bool, Generator, Tensor>, string> DropoutMistakes => new()
    {
        { "Dropout_without_scaling_fails", (x, p, training, g) => training ? x * (Uniform(x, g) >= p) : x, "scale the kept values by 1/(1-p)" },
        { "Dropout_bernoulli_without_scaling_fails_by_its_statistics", (x, p, training, g) => training ? x * torch.bernoulli(torch.full(x.shape, 1 - p, dtype: x.dtype), generator: g) : x, "scale the kept values by 1/(1-p)" },
        { "Dropout_scaled_by_one_minus_p_fails", (x, p, training, g) => training ? x * (Uniform(x, g) >= p) * (1 - p) : x, "divide the kept values by (1-p), don't multiply" },
        { "Dropout_with_p_as_keep_probability_fails", (x, p, training, g) => training ? x * (Uniform(x, g) < p) / p : x, "p is the probability to DROP" },
        { "Dropout_with_p_as_keep_probability_by_bernoulli_fails", (x, p, training, g) => training ? x * torch.bernoulli(torch.full(x.shape, p, dtype: x.dtype), generator: g) / p : x, "p is the probability to DROP" },
        { "Dropout_divided_by_p_fails", (x, p, training, g) => training ? x * (Uniform(x, g) >= p) / p : x, "not by p" },
        { "Dropout_dropping_in_eval_fails", (x, p, training, g) => x * (Uniform(x, g) >= p) / (1 - p), "in eval (training = false) dropout does nothing" },
        { "Dropout_scaling_in_eval_fails", (x, p, training, g) => training ? x * (Uniform(x, g) >= p) / (1 - p) : x * (1 - p), "original 2014 dropout" },
        { "Dropout_with_the_flag_inverted_fails", (x, p, training, g) => training ? x : x * (Uniform(x, g) >= p) / (1 - p), "nothing was dropped in training" },
        { "Dropout_ignoring_the_generator_fails", (x, p, training, g) => torch.nn.functional.dropout(x, p, training), "does not use the generator passed in" },
        { "Dropout_drawn_with_randn_gets_a_hint", (x, p, training, g) => training ? x * (torch.randn(x.shape, dtype: x.dtype, generator: g) >= p) / (1 - p) : x, "torch.randn draws from a normal distribution" },
        { "Dropout_returning_the_mask_gets_a_hint", (x, p, training, g) => training ? (torch.rand(x.shape, dtype: x.dtype, generator: g) >= p).to(x.dtype) / (1 - p) : x, "you returned the scaled mask itself" },
        { "Dropout_with_one_mask_for_every_row_is_not_accepted", (x, p, training, g) => training ? x * (torch.rand(x.shape[^1], dtype: x.dtype, generator: g) >= p) / (1 - p) : x, "every row got the same zeros" },
    };

    [Theory, MemberData(nameof(DropoutMistakes))]
    public void Dropout_mistake_fails_with_its_hint(string mistake, Func<Tensor, double, bool, Generator, Tensor> wrong, string hint) => FailsWith(Checks.Dropout(wrong), hint, mistake);

    [Fact]
    public void Dropout_unscaled_and_dropping_in_eval_gets_the_first_hint() =>
        // the check stops at the first failing case (training): the hint names what that case shows
        FailsWith(Checks.Dropout((x, p, training, g) => x * (Uniform(x, g) >= p)), "scale the kept values by 1/(1-p)");

    // ---- TransformerBlock

    internal static Tensor Ln(Tensor x, LayerNormParams p) => Ops.LayerNorm(x, p.G, p.B);

    /// <summary>Right answers to TransformerBlock: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, BlockParams, int, Tensor>> TransformerBlockRightAnswers => new()
    {
        { "TransformerBlock_reference_passes", Ops.TransformerBlock },
        { "TransformerBlock_with_torch_layer_norm_passes", (x, p, h) =>
            {
                Tensor Norm(Tensor t, LayerNormParams n) => torch.nn.functional.layer_norm(t, [t.shape[^1]], n.G, n.B);
                x = x + Attn(Norm(x, p.Ln1), p, h);
                return x + Mlp(Norm(x, p.Ln2), p);
            } },
    };

    [Theory, MemberData(nameof(TransformerBlockRightAnswers))]
    public void TransformerBlock_right_answer_passes(string answer, Func<Tensor, BlockParams, int, Tensor> right) => Passes(Checks.TransformerBlock(right), answer);

    /// <summary>Wrong answers to TransformerBlock, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, BlockParams, int, Tensor>, string> TransformerBlockMistakes => new()
    {
        { "TransformerBlock_post_norm_fails", (x, p, h) =>
            {
                x = Ln(x + Ops.MultiHeadAttention(x, p.Attn, h), p.Ln1);
                return Ln(x + Ops.FeedForward(x, p.Mlp), p.Ln2);
            }, "GPT-2 is pre-norm" },
        { "TransformerBlock_without_residuals_fails", (x, p, h) =>
            {
                x = Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
                return Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
            }, "residual" },
        { "TransformerBlock_ln1_twice_fails", (x, p, h) =>
            {
                x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
                return x + Ops.FeedForward(Ln(x, p.Ln1), p.Mlp);
            }, "use ln_2" },
        { "TransformerBlock_without_norms_fails", (x, p, h) =>
            {
                x = x + Ops.MultiHeadAttention(x, p.Attn, h);
                return x + Ops.FeedForward(x, p.Mlp);
            }, "normalise with ln_1 before attention and ln_2 before the MLP" },
        { "TransformerBlock_parallel_branches_fail", (x, p, h) =>
                x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h) + Ops.FeedForward(Ln(x, p.Ln2), p.Mlp), "the MLP works on the attention step's result" },
        { "TransformerBlock_residual_around_the_normalised_x_fails", (x, p, h) =>
            {
                x = Ln(x, p.Ln1);
                x = x + Ops.MultiHeadAttention(x, p.Attn, h);
                x = Ln(x, p.Ln2);
                return x + Ops.FeedForward(x, p.Mlp);
            }, "add the branch to x itself, not to the normalised x" },
        { "TransformerBlock_residual_around_the_normalised_x_written_inline_fails", (x, p, h) =>
            {
                x = Ln(x, p.Ln1) + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
                return x + Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
            }, "add the branch to x itself, not to the normalised x" },
        { "TransformerBlock_normalised_residual_and_ln1_twice_names_both", (x, p, h) =>
            {
                x = Ln(x, p.Ln1);
                x = x + Ops.MultiHeadAttention(x, p.Attn, h);
                x = Ln(x, p.Ln1);
                return x + Ops.FeedForward(x, p.Mlp);
            }, "two mistakes at once: (1) add the branch to x itself" },
        { "TransformerBlock_normalised_first_residual_and_ln1_before_the_mlp_names_both", (x, p, h) =>
            {
                x = Ln(x, p.Ln1) + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
                return x + Ops.FeedForward(Ln(x, p.Ln1), p.Mlp);
            }, "two mistakes at once: (1) add the branch to x itself, not to the normalised x" },
        { "TransformerBlock_parallel_and_ln1_twice_names_both", (x, p, h) =>
                x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h) + Ops.FeedForward(Ln(x, p.Ln1), p.Mlp), "two mistakes at once: (1) use ln_2 (not ln_1) before the MLP; (2) the MLP works on the attention step's result" },
        { "TransformerBlock_no_residuals_and_ln1_twice_names_both", (x, p, h) => Ops.FeedForward(Ln(Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h), p.Ln1), p.Mlp), "two mistakes at once: (1) keep the residual connections" },
        { "TransformerBlock_unmasked_attention_fails_with_future_hint", (x, p, h) =>
            {
                x = x + Mha(Ln(x, p.Ln1), p.Attn, h, mask: false);
                return x + Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
            }, "future positions are visible" },
        { "TransformerBlock_normalising_its_output_fails", (x, p, h) =>
            {
                x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
                x = x + Ops.FeedForward(Ln(x, p.Ln2), p.Mlp);
                return Ln(x, p.Ln2);                                                   // "ln_f" at the end of every block
            }, "do not normalise the block's output" },
        { "TransformerBlock_with_the_MLP_first_gets_a_hint", (x, p, h) =>
            {
                x = x + Mlp(Ln(x, p.Ln2), p);
                return x + Attn(Ln(x, p.Ln1), p, h);
            }, "attention comes first, then the MLP" },
        { "TransformerBlock_with_the_norms_swapped_gets_a_hint", (x, p, h) =>
            {
                x = x + Attn(Ln(x, p.Ln2), p, h);
                return x + Mlp(Ln(x, p.Ln1), p);
            }, "you swapped them" },
        { "TransformerBlock_without_the_MLP_residual_gets_a_hint", (x, p, h) =>
            {
                x = x + Attn(Ln(x, p.Ln1), p, h);
                return Mlp(Ln(x, p.Ln2), p);
            }, "add the MLP's output to x too" },
        { "TransformerBlock_without_the_attention_residual_gets_a_hint", (x, p, h) =>
            {
                var a = Attn(Ln(x, p.Ln1), p, h);
                return a + Mlp(Ln(a, p.Ln2), p);
            }, "add the attention's output to x too" },
        { "TransformerBlock_without_ln_1_gets_a_hint", (x, p, h) =>
            {
                x = x + Attn(x, p, h);
                return x + Mlp(Ln(x, p.Ln2), p);
            }, "normalise the attention's input too" },
        { "TransformerBlock_with_gain_and_shift_swapped_gets_a_hint", (x, p, h) =>
            {
                x = x + Attn(Ops.LayerNorm(x, p.Ln1.B, p.Ln1.G), p, h);
                return x + Mlp(Ops.LayerNorm(x, p.Ln2.B, p.Ln2.G), p);
            }, "takes the gain first, then the shift" },
        { "TransformerBlock_with_BERT_s_epsilon_gets_a_hint", (x, p, h) =>
            {
                Tensor Norm(Tensor t, LayerNormParams n) => torch.nn.functional.layer_norm(t, [t.shape[^1]], n.G, n.B, eps: 1e-12);
                x = x + Attn(Norm(x, p.Ln1), p, h);
                return x + Mlp(Norm(x, p.Ln2), p);
            }, "1e-12 is BERT's" },
        { "TransformerBlock_post_norm_mlp_branch_only_fails", (x, p, h) =>
            {
                // the learner review's 07-T6: pre-norm attention, then the 2017 Transformer's LN(x + sublayer(x)) for the MLP
                x = x + Attn(Ln(x, p.Ln1), p, h);
                return Ln(x + Mlp(x, p), p.Ln2);
            }, "your MLP branch is post-norm" },
        { "TransformerBlock_post_norm_attention_branch_only_fails", (x, p, h) =>
            {
                x = Ln(x + Attn(x, p, h), p.Ln1);
                return x + Mlp(Ln(x, p.Ln2), p);
            }, "your attention branch is post-norm" },
    };

    [Theory, MemberData(nameof(TransformerBlockMistakes))]
    public void TransformerBlock_mistake_fails_with_its_hint(string mistake, Func<Tensor, BlockParams, int, Tensor> wrong, string hint) => FailsWith(Checks.TransformerBlock(wrong), hint, mistake);

    [Fact]
    public void TransformerBlock_with_a_relu_FeedForward_points_at_it()
    {
        // the learner's FeedForward failed its check (ReLU); the block around it is right
        Tensor FeedForward(Tensor x, FeedForwardParams p) => Ops.Linear(Ops.Linear(x, p.CFc.W, p.CFc.B).relu(), p.CProj.W, p.CProj.B);
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
            return x + FeedForward(Ln(x, p.Ln2), p.Mlp);
        }), "the block is right, but its MLP is not Ops.FeedForward: make your FeedForward pass its check first (this uses ReLU");
    }

    [Fact]
    public void TransformerBlock_with_a_FeedForward_without_biases_points_at_it()
    {
        Tensor FeedForward(Tensor x, FeedForwardParams p) => Ops.MatMul(Ops.Gelu(Ops.MatMul(x, p.CFc.W)), p.CProj.W);
        FailsWith(Checks.TransformerBlock((x, p, h) =>
        {
            x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, h);
            return x + FeedForward(Ln(x, p.Ln2), p.Mlp);
        }), "make your FeedForward pass its check first (add the biases");
    }

    [Fact]
    public void TransformerBlock_calling_an_unwritten_FeedForward_names_it()
    {
        // the notebook's shape: the block calls the learner's own FeedForward, still a stub
        Tensor FeedForward(Tensor x, FeedForwardParams p) => throw new NotImplementedException();
        Tensor TransformerBlock(Tensor x, BlockParams p, int nHead)
        {
            x = x + Ops.MultiHeadAttention(Ln(x, p.Ln1), p.Attn, nHead);
            return x + FeedForward(Ln(x, p.Ln2), p.Mlp);
        }
        var r = Checks.TransformerBlock(TransformerBlock);
        Assert.True(r.NotImplemented, r.ToString());
        Assert.Equal("your TransformerBlock calls FeedForward, which still throws NotImplementedException: write FeedForward first, then run this check again", r.Message);
    }

    [Fact]
    public void TransformerBlock_that_is_itself_a_stub_is_not_implemented()
    {
        Tensor TransformerBlock(Tensor x, BlockParams p, int nHead) => throw new NotImplementedException();
        var r = Checks.TransformerBlock(TransformerBlock);
        Assert.True(r.NotImplemented);
        Assert.StartsWith("your function still throws NotImplementedException", r.Message);
    }

    // ---------------------------------------------------------------- learner review (notebook 07, second pass)

    static Tensor Attn(Tensor x, BlockParams p, int h) => Ops.MultiHeadAttention(x, p.Attn, h);
    static Tensor Mlp(Tensor x, BlockParams p) => Ops.FeedForward(x, p.Mlp);

}
