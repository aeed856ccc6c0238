using PicoGpt.Exercises;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>Mistakes.Combine: one trap per combination of wrong steps, single mistakes first, one hint per mistake.</summary>
public class MistakesTests
{
    static readonly Mistakes.Way A1 = new("a1"), A2 = new("a2"), B1 = new("b1"), C1 = new("c1");
    static readonly Mistakes.Step[] Steps = [new(A1, A2), new(B1), new(C1)];

    // encodes the choice in the output, so each trap's formula can be identified: 100·a + 10·b + c
    static int A(Mistakes.Choice c) => c.Took(A1) ? 1 : c.Took(A2) ? 2 : 0;
    static List<Trap<Tensor>> Traps(int maxMistakes = 2, Func<Mistakes.Choice, bool>? distinct = null) =>
        Mistakes.Combine<Tensor>(Steps, (c, x) => x * 0 + (100 * A(c) + 10 * (c.Took(B1) ? 1 : 0) + (c.Took(C1) ? 1 : 0)), maxMistakes, distinct);

    static int Code(Trap<Tensor> t) => (int)t.Wrong(torch.zeros(1)).item<float>();

    [Fact]
    public void Singles_come_first_then_pairs_grouped_by_the_wrong_steps()
    {
        var traps = Traps();
        Assert.Equal(new[] { 100, 200, 10, 1, 110, 210, 101, 201, 11 }, traps.Select(Code).ToArray());
        Assert.Equal(new[] { "a1", "a2", "b1", "c1" }, traps.Take(4).Select(t => t.Hint).ToArray());
        Assert.Equal("two mistakes at once: (1) a2; (2) b1", traps[5].Hint);
    }

    [Fact]
    public void Three_mistakes_only_when_asked()
    {
        Assert.DoesNotContain(Traps(), t => Code(t) == 111);
        var three = Traps(maxMistakes: 3).Single(t => Code(t) == 211);
        Assert.Equal("three mistakes at once: (1) a2; (2) b1; (3) c1", three.Hint);
    }

    [Fact]
    public void A_way_keeps_its_hint_when_the_ways_are_reordered()
    {
        // the hint travels with the way, not with its position: reordering a step's ways reorders the traps, hint and formula together
        var reordered = Mistakes.Combine<Tensor>([new(A2, A1)], (c, x) => x * 0 + A(c), maxMistakes: 1);
        Assert.Equal(new[] { (2, "a2"), (1, "a1") }, reordered.Select(t => (Code(t), t.Hint)).ToArray());
    }

    [Fact]
    public void Combinations_that_are_not_distinct_are_left_out()
    {
        var traps = Traps(distinct: c => !(c.Took(A2) && c.Took(B1)));
        Assert.DoesNotContain(traps, t => Code(t) == 210);
        Assert.Equal(8, traps.Count);
    }
}
