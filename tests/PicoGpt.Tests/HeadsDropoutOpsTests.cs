using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>CourseOps.SplitHeads / MergeHeads (notebook 06) and CourseOps.Dropout (notebook 07).</summary>
public class HeadsDropoutOpsTests
{
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && (a == b).all().item<bool>();

    [Fact]
    public void SplitHeads_gives_each_head_its_contiguous_columns()
    {
        var x = torch.arange(2 * 3 * 8, dtype: ScalarType.Float64).reshape(2, 3, 8);  // [B 2, T 3, C 8]
        var heads = CourseOps.SplitHeads(x, 4);                                              // [2, 4, 3, 2]
        Assert.Equal([2L, 4, 3, 2], heads.shape);
        var chunks = x.chunk(4, dim: -1);
        for (int h = 0; h < 4; h++) Assert.True(Same(heads[.., h], chunks[h]), $"head {h}");
        Assert.Equal(new[] { 10.0, 11.0 }, heads[0, 1, 1].data<double>().ToArray());    // batch 0, head 1, token 1: columns 2, 3 of row 1
    }

    [Fact]
    public void MergeHeads_undoes_SplitHeads_with_and_without_a_batch()
    {
        foreach (var x in new[] { torch.randn(5, 12), torch.randn(2, 5, 12, dtype: ScalarType.Float64) })
            Assert.True(Same(CourseOps.MergeHeads(CourseOps.SplitHeads(x, 3)), x));
        Assert.Equal([5L, 12], CourseOps.MergeHeads(torch.zeros(3, 5, 4)).shape);
    }

    [Fact]
    public void SplitHeads_needs_a_width_divisible_by_the_heads()
    {
        var e = Assert.Throws<PicoGptException>(() => CourseOps.SplitHeads(torch.zeros(4, 10), 3));
        Assert.Contains("n_embd (10) must be divisible by n_head (3)", e.Message);
    }

    [Fact]
    public void Batched_heads_give_the_same_attention_as_the_loop_over_heads()
    {
        var x = torch.randn(2, 6, 12, dtype: ScalarType.Float64);
        var p = new AttentionParams(new(torch.randn(12, 36, dtype: ScalarType.Float64) * 0.3, torch.randn(36, dtype: ScalarType.Float64) * 0.1),
                                    new(torch.randn(12, 12, dtype: ScalarType.Float64) * 0.3, torch.zeros(12, dtype: ScalarType.Float64)));
        var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
        var heads = Ops.Attention(CourseOps.SplitHeads(qkv[0], 3), CourseOps.SplitHeads(qkv[1], 3), CourseOps.SplitHeads(qkv[2], 3), Ops.CausalMask(6, ScalarType.Float64));
        var batched = Ops.Linear(CourseOps.MergeHeads(heads), p.CProj.W, p.CProj.B);
        Assert.True((batched - Ops.MultiHeadAttention(x, p, 3)).abs().max().item<double>() < 1e-12);
    }

    [Fact]
    public void Dropout_in_eval_or_with_p_0_is_the_identity()
    {
        var x = torch.randn(4, 8);
        Assert.True(Same(CourseOps.Dropout(x, 0.5, training: false), x));
        Assert.True(Same(CourseOps.Dropout(x, 0.0, training: true, new Generator(1)), x));
    }

    [Fact]
    public void Dropout_keeps_1_minus_p_of_the_values_scaled_by_1_over_1_minus_p()
    {
        var x = torch.randn(200_000, dtype: ScalarType.Float64) + 3;                  // no zeros
        var y = CourseOps.Dropout(x, 0.3, training: true, new Generator(7));
        var dropped = (y == 0).to(ScalarType.Float64).mean().item<double>();
        Assert.InRange(dropped, 0.3 - 0.005, 0.3 + 0.005);                           // 5 standard deviations: 0.001 each
        var kept = y != 0;
        Assert.True((y.masked_select(kept) - x.masked_select(kept) / 0.7).abs().max().item<double>() < 1e-12);
        Assert.InRange(y.mean().item<double>() / x.mean().item<double>(), 0.99, 1.01); // the expected value is x
    }

    [Fact]
    public void Dropout_repeats_with_the_same_generator_seed()
    {
        var x = torch.randn(64, 64);
        var a = CourseOps.Dropout(x, 0.5, true, new Generator(3));
        Assert.True(Same(a, CourseOps.Dropout(x, 0.5, true, new Generator(3))));
        Assert.False(Same(a, CourseOps.Dropout(x, 0.5, true, new Generator(4))));
        Assert.Equal(ScalarType.Float32, a.dtype);
    }

    [Fact]
    public void Dropout_rejects_p_outside_0_to_1()
    {
        Assert.Throws<PicoGptException>(() => CourseOps.Dropout(torch.ones(3), 1.0, true));
        Assert.Throws<PicoGptException>(() => CourseOps.Dropout(torch.ones(3), -0.1, false));
    }
}
