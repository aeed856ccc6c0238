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
/// <remarks>
/// Each wrong way is a named <see cref="Way"/> that carries its hint; the formula asks <see cref="Choice.Took"/> of that
/// same object. Nothing pairs a hint with a formula by position, so reordering a step's ways cannot give a formula
/// another way's hint.
/// </remarks>
internal static class Mistakes
{
    /// <summary>One wrong way to do a step, and what to tell the learner whose output matches it. Compared by identity.</summary>
    internal sealed class Way(string hint)
    {
        public string Hint { get; } = hint;
        public override string ToString() => Hint;
    }

    /// <summary>One step of the formula: the right way (implicit) or one of its wrong ways.</summary>
    internal sealed class Step(params Way[] wrong)
    {
        public IReadOnlyList<Way> Wrong { get; } = wrong;
    }

    /// <summary>Which way each step takes in one combination: the formula asks <see cref="Took"/>.</summary>
    internal sealed class Choice
    {
        readonly HashSet<Way> _took;
        internal Choice(IEnumerable<Way> took) => _took = [.. took];
        /// <summary>This combination does the step the given wrong way.</summary>
        public bool Took(Way way) => _took.Contains(way);
        /// <summary>This combination does the step one of the given wrong ways.</summary>
        public bool TookAny(params Way[] ways) => ways.Any(_took.Contains);
        /// <summary>This combination does the step right.</summary>
        public bool Right(Step step) => !step.Wrong.Any(_took.Contains);
        /// <summary>The wrong ways taken, in step order.</summary>
        public IReadOnlyList<Way> Ways { get; init; } = [];
    }

    /// <summary>
    /// Traps for every combination of 1 to <paramref name="maxMistakes"/> wrong steps. <paramref name="build"/> gets the
    /// choice (which wrong ways it took) and the inputs; <paramref name="distinct"/> returns false for a combination that
    /// computes the same as a simpler one (e.g. "forgot to add back the max" without any max).
    /// </summary>
    public static List<Trap<TIn>> Combine<TIn>(IReadOnlyList<Step> steps, Func<Choice, TIn, Tensor> build,
        int maxMistakes = 2, Func<Choice, bool>? distinct = null)
    {
        var traps = new List<Trap<TIn>>();
        for (int k = 1; k <= Math.Min(maxMistakes, steps.Count); k++)
            foreach (var wrongSteps in Subsets(steps.Count, k))                 // which steps are wrong, in step order
                foreach (var ways in Choices(steps, wrongSteps))                // and how, in the order of each step's ways
                {
                    var choice = new Choice(ways) { Ways = ways };
                    if (distinct?.Invoke(choice) ?? true)
                        traps.Add(new Trap<TIn>(Hint(ways), inputs => build(choice, inputs)));
                }
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

    /// <summary>Every choice of one wrong way for each of the given steps, the first step's way changing slowest.</summary>
    static IEnumerable<Way[]> Choices(IReadOnlyList<Step> steps, int[] wrongSteps, int at = 0)
    {
        if (at == wrongSteps.Length) { yield return []; yield break; }
        foreach (var way in steps[wrongSteps[at]].Wrong)
            foreach (var rest in Choices(steps, wrongSteps, at + 1))
                yield return [way, .. rest];
    }

    static string Hint(IReadOnlyList<Way> ways)
    {
        if (ways.Count == 1) return ways[0].Hint;
        var count = ways.Count == 2 ? "two" : ways.Count == 3 ? "three" : ways.Count.ToString();
        return $"{count} mistakes at once: " + string.Join("; ", ways.Select((w, i) => $"({i + 1}) {w.Hint}"));
    }
}
