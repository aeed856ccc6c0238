using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 00: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class TokensCheckTests
{
    [Fact]
    public void Embedding_reference_passes() => Passes(Checks.Embedding(Ops.Embed));

    [Fact]
    public void Embedding_written_like_picogpt_passes() =>
        Passes(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1])]));

    [Fact]
    public void Embedding_published_layout_matches_gpt2_forward()
    {
        var p = Checks.Tiny(7, ScalarType.Float64);
        var ids = torch.tensor(new long[] { 5, 1, 1, 7 });
        var x = Ops.Embed(ids, p.Wte, p.Wpe);
        Assert.Equal(new long[] { 4, 8 }, x.shape);
        Assert.True((x[1] == p.Wte[1] + p.Wpe[1]).all().item<bool>());         // token 1 at position 1
        Assert.True((x[2] == p.Wte[1] + p.Wpe[2]).all().item<bool>());         // the same token at position 2
        Assert.False((x[1] == x[2]).all().item<bool>());
    }

    [Fact]
    public void Embedding_without_positions_fails() => FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids]), "add the position embeddings");

    [Fact]
    public void Embedding_positions_by_id_fails() => FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[ids]), "index wpe by position");

    [Fact]
    public void Embedding_swapped_tables_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[torch.arange(ids.shape[^1])] + wpe[ids]), "not the other way round");

    [Fact]
    public void Embedding_positions_from_one_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(1, ids.shape[^1] + 1)]), "positions start at 0");

    [Fact]
    public void Embedding_product_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte[ids] * wpe[torch.arange(ids.shape[^1])]), "do not multiply");

    [Fact]
    public void Embedding_concatenation_fails() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => torch.cat([wte[ids], wpe[torch.arange(ids.shape[^1])]], -1)), "do not concatenate");

    [Fact]
    public void Embedding_positions_along_the_batch_axis_fail_on_the_batch_case()
    {
        var r = Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[0])]);
        Assert.True(r.Hint?.Contains("positions run along") == true, r.ToPlainText());
        FailsWith(r, "positions run along the last axis");
        Assert.Contains("batch of ids [2, 5]", r.Message);
        Assert.Contains("threw", r.Message);
    }

    [Fact]
    public void Embedding_index_select_fails_on_the_batch_case_with_a_hint() =>
        FailsWith(Checks.Embedding((ids, wte, wpe) => wte.index_select(0, ids) + wpe.index_select(0, torch.arange(ids.shape[^1]))), "index_select needs a 1-D index");
}
