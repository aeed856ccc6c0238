using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;
using static PicoGpt.Tests.BlockCheckTests;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 08: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class Gpt2CheckTests
{
    [Fact]
    public void Gpt2_reference_passes() => Passes(Checks.Gpt2(Ops.Gpt2));

    static Tensor Gpt(Tensor ids, Gpt2Params p, int h, bool positions = true, bool lnF = true, bool positionsById = false, bool head = true)
    {
        var x = p.Wte[ids];
        if (positions) x = x + p.Wpe[positionsById ? ids : torch.arange(ids.shape[^1])];
        foreach (var b in p.Blocks) x = Ops.TransformerBlock(x, b, h);
        if (lnF) x = Ln(x, p.LnF);
        return head ? x.matmul(p.Wte.T) : x;
    }

    [Fact]
    public void Gpt2_without_positions_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, positions: false)), "add the position embeddings");

    [Fact]
    public void Gpt2_positions_by_id_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, positionsById: true)), "index wpe by position");

    [Fact]
    public void Gpt2_without_final_norm_fails() => FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, lnF: false)), "ln_f");

    [Fact]
    public void Gpt2_untransposed_head_fails() =>
        FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, head: false).matmul(p.Wte)), "not x @ wte");

    [Fact]
    public void Gpt2_without_output_head_fails() =>
        FailsWith(Checks.Gpt2((ids, p, h) => Gpt(ids, p, h, head: false)), "multiply by wteᵀ");
}
