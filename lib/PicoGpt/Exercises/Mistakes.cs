using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Exercises;

/// <summary>
/// Traps for a formula made of steps that a learner can each get right or wrong in known ways, and often gets wrong two
/// at a time (softmax with a global max AND a sum without keepdim; layer norm with x.std, which is unbiased, AND eps
/// outside the root). <see cref="Combine{TIn}"/> gives one trap per combination of up to <c>maxMistakes</c> wrong
/// steps, single mistakes first: when several combinations give the same output on a case, the simplest explanation
/// wins. A combination's hint names each of its mistakes.
/// </summary>
internal static class Mistakes
{
    /// <summary>
    /// One step of the formula: option 0 is the right way; options 1, 2, ... are wrong ways, each with its hint.
    /// </summary>
    internal sealed record Step(params string[] WrongHints)
    {
        public int Options => WrongHints.Length + 1;
    }

    /// <summary>
    /// Traps for every combination of 1 to <paramref name="maxMistakes"/> wrong steps. <paramref name="build"/> gets the
    /// option chosen for each step (0 = right) and the inputs; <paramref name="distinct"/> returns false for a
    /// combination that computes the same as a simpler one (e.g. "forgot to add back the max" without any max).
    /// </summary>
    public static List<Trap<TIn>> Combine<TIn>(IReadOnlyList<Step> steps, Func<int[], TIn, Tensor> build,
        int maxMistakes = 2, Func<int[], bool>? distinct = null)
    {
        var traps = new List<(int Mistakes, int[] Choice)>();
        void Walk(int step, int[] choice)
        {
            if (step == steps.Count)
            {
                int wrong = choice.Count(c => c != 0);
                if (wrong >= 1 && wrong <= maxMistakes && (distinct?.Invoke(choice) ?? true)) traps.Add((wrong, (int[])choice.Clone()));
                return;
            }
            for (int o = 0; o < steps[step].Options; o++) { choice[step] = o; Walk(step + 1, choice); }
            choice[step] = 0;
        }
        Walk(0, new int[steps.Count]);
        return traps.OrderBy(t => t.Mistakes)                                    // stable: steps and options in the order given
            .Select(t => new Trap<TIn>(Hint(steps, t.Choice), inputs => build(t.Choice, inputs)))
            .ToList();
    }

    static string Hint(IReadOnlyList<Step> steps, int[] choice)
    {
        var hints = choice.Select((o, s) => o == 0 ? null : steps[s].WrongHints[o - 1]).OfType<string>().ToArray();
        if (hints.Length == 1) return hints[0];
        var count = hints.Length == 2 ? "two" : hints.Length == 3 ? "three" : hints.Length.ToString();
        return $"{count} mistakes at once: " + string.Join("; ", hints.Select((h, i) => $"({i + 1}) {h}"));
    }
}
