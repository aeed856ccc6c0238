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
        var traps = new List<Trap<TIn>>();
        for (int k = 1; k <= Math.Min(maxMistakes, steps.Count); k++)
            foreach (var wrongSteps in Subsets(steps.Count, k))                 // which steps are wrong, in step order
                foreach (var choice in Choices(steps, wrongSteps))              // and how, in option order
                    if (distinct?.Invoke(choice) ?? true)
                        traps.Add(new Trap<TIn>(Hint(steps, choice), inputs => build(choice, inputs)));
        return traps;
    }

    /// <summary>The k-element subsets of 0..n-1, in lexicographic order.</summary>
    static IEnumerable<int[]> Subsets(int n, int k, int from = 0)
    {
        if (k == 0) { yield return []; yield break; }
        for (int i = from; i <= n - k; i++)
            foreach (var rest in Subsets(n, k - 1, i + 1))
                yield return [i, .. rest];
    }

    /// <summary>Every choice with exactly the given steps wrong (options 1..), the first step's option changing slowest.</summary>
    static IEnumerable<int[]> Choices(IReadOnlyList<Step> steps, int[] wrongSteps, int at = 0)
    {
        if (at == wrongSteps.Length) { yield return new int[steps.Count]; yield break; }
        for (int o = 1; o < steps[wrongSteps[at]].Options; o++)
            foreach (var choice in Choices(steps, wrongSteps, at + 1))
            {
                choice[wrongSteps[at]] = o;
                yield return choice;
            }
    }

    static string Hint(IReadOnlyList<Step> steps, int[] choice)
    {
        var hints = choice.Select((o, s) => o == 0 ? null : steps[s].WrongHints[o - 1]).OfType<string>().ToArray();
        if (hints.Length == 1) return hints[0];
        var count = hints.Length == 2 ? "two" : hints.Length == 3 ? "three" : hints.Length.ToString();
        return $"{count} mistakes at once: " + string.Join("; ", hints.Select((h, i) => $"({i + 1}) {h}"));
    }
}
