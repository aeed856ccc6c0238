using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 09: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class GenerateCheckTests
{
    /// <summary>Right answers to TopK: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, int, Tensor>> TopKRightAnswers => new()
    {
        { "TopK_reference_passes", Sampler.TopK },
    };

    [Theory, MemberData(nameof(TopKRightAnswers))]
    public void TopK_right_answer_passes(string answer, Func<Tensor, int, Tensor> right) => Passes(Checks.TopK(right), answer);

    [Fact]
    public void TopK_published_example_matches_reference()
    {
        var logits = torch.tensor(new[] { 4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f });
        var probs = Sampler.TopK(logits, 3).softmax(-1).data<float>().ToArray();
        var published = new[] { 0.0615f, 0, 0, 0.5775f, 0, 0, 0, 0.3610f, 0 };
        for (int i = 0; i < probs.Length; i++) Assert.Equal(published[i], probs[i], 4);
    }

    /// <summary>Wrong answers to TopK, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, int, Tensor>, string> TopKMistakes => new()
    {
        // was a right answer until the tie case the text promises ("keep ties with the k-th largest value"): scatter keeps exactly k
        { "TopK_scattered_and_clamped_drops_the_ties", (l, k) =>
            {
                var (values, indices) = l.topk(Math.Min(k, (int)l.shape[^1]));
                return torch.full_like(l, double.NegativeInfinity).scatter(-1, indices, values);
            }, "keep every logit that ties with the k-th largest" },
        { "TopK_zero_instead_of_minus_inf_fails", (l, k) =>
            {
                var kth = l.topk(k).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
                return torch.where(l >= kth, l, torch.zeros_like(l));
            }, "-inf" },
        { "TopK_returning_probabilities_fails", (l, k) => Sampler.TopK(l, k).softmax(-1), "not probabilities" },
        { "TopK_smallest_fails", (l, k) =>
            {
                var kth = l.topk(k, largest: false).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
                return l.masked_fill(l > kth, double.NegativeInfinity);
            }, "not the k smallest" },
        { "TopK_values_only_fails", (l, k) => l.topk(k).values, "not just the k kept values" },
        { "TopK_keeps_one_too_many_fails", (l, k) =>
            {
                if (k >= l.shape[^1]) return l;
                var kth = l.topk(k + 1).values[TensorIndex.Ellipsis, TensorIndex.Slice(k, k + 1)];
                return l.masked_fill(l < kth, double.NegativeInfinity);
            }, "keep exactly k" },
        { "TopK_one_threshold_for_every_row_fails", (l, k) =>
            {
                if (k >= l.shape[^1]) return l;
                var kth = l.topk(k).values.min();                                         // the smallest kept value of ALL the rows
                return l.masked_fill(l < kth, double.NegativeInfinity);
            }, "each row has its own k-th largest logit" },
        { "TopK_indexing_the_kth_value_of_a_2d_tensor_gets_a_hint", (l, k) =>
            {
                if (k >= l.shape[^1]) return l;
                var kth = l.topk(k).values[.., k - 1];                                   // fails on the first case, logits [9]
                return l.masked_fill(l < kth, double.NegativeInfinity);
            }, "values.narrow(-1, k - 1, 1)" },
        { "TopK_threshold_without_its_axis_gets_a_hint", (l, k) =>
            {
                if (k >= l.shape[^1]) return l;
                var kth = l.topk(k).values[TensorIndex.Ellipsis, k - 1];                  // [...]: the last axis is gone
                return l.masked_fill(l < kth, double.NegativeInfinity);
            }, "must keep the last axis, as size 1" },
        { "TopK_ascending_sort_gets_a_hint", (l, k) =>
            {
                if (k >= l.shape[^1]) return l;
                var kth = l.sort(-1).Values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
                return l.masked_fill(l < kth, double.NegativeInfinity);
            }, "an ascending sort puts the smallest logits first" },
        { "TopK_zeroed_probabilities_get_a_hint", (l, k) =>
            {
                var probs = l.softmax(-1);
                if (k >= l.shape[^1]) return probs;
                var kth = l.topk(k).values[TensorIndex.Ellipsis, TensorIndex.Slice(k - 1, k)];
                return probs.masked_fill(l < kth, 0);
            }, "not probabilities with zeros" },
        { "TopK_first_row_s_threshold_for_every_row_fails", (logits, k) =>
            {
                // the learner review's 09-K5: the k-th value of the first row, used for every row
                if (k >= logits.shape[^1]) return logits;
                var kth = logits.reshape(-1, logits.shape[^1])[0].topk(k).values[k - 1].item<float>();
                return logits.masked_fill(logits < kth, double.NegativeInfinity);
            }, "you took the first row's k-th value" },
        { "TopK_last_row_s_threshold_for_every_row_fails", (logits, k) =>
            {
                if (k >= logits.shape[^1]) return logits;
                var rows = logits.reshape(-1, logits.shape[^1]);
                var kth = rows[rows.shape[0] - 1].sort(descending: true).Values[k - 1];
                return logits.masked_fill(logits < kth, double.NegativeInfinity);
            }, "you took the last row's k-th value" },
        { "TopK_sort_over_axis_0_names_the_axis", (logits, k) =>
            {
                // the learner review's 09-K8: right for the 1-D cases, an exception on the batch [2, 3, 10]
                if (k >= logits.shape[^1]) return logits;
                var (sorted, _) = logits.sort(dim: 0, descending: true);
                var kth = sorted.narrow(0, k - 1, 1);
                return logits.masked_fill(logits < kth, double.NegativeInfinity);
            }, "takes the k-th largest along axis 0" },
        { "TopK_topk_over_axis_1_names_the_axis", (logits, k) =>
            {
                if (k >= logits.shape[^1]) return logits;
                int dim = logits.dim() > 1 ? 1 : 0;                        // "the vocabulary is axis 1", true for [B, V] only
                var kth = logits.topk(k, dim: dim).values.narrow(dim, k - 1, 1);
                return logits.masked_fill(logits < kth, double.NegativeInfinity);
            }, "takes the k-th largest along axis 1" },
    };

    [Theory, MemberData(nameof(TopKMistakes))]
    public void TopK_mistake_fails_with_its_hint(string mistake, Func<Tensor, int, Tensor> wrong, string hint) => FailsWith(Checks.TopK(wrong), hint, mistake);

    [Fact]
    public void TopK_without_the_k_at_least_V_case_gets_a_hint() =>
        // right for k <= V; topk(k) itself refuses k > V
        FailsWith(Checks.TopK((l, k) =>
        {
            var kth = l.topk(k).values.narrow(-1, k - 1, 1);
            return l.masked_fill(l < kth, double.NegativeInfinity);
        }), "when k is at least the vocabulary size, nothing is removed");

    [Fact]
    public void TopK_stub_is_not_implemented() => Assert.True(Checks.TopK((l, k) => throw new NotImplementedException()).NotImplemented);

    // ---------------------------------------------------------------- sample

    /// <summary>The sampling step as the notebook's solution writes it, with switches for mistakes written as a learner would.</summary>
    static Tensor Sample(Tensor logits, double t, int? k, double? p, Generator g, bool greedyAtZero = true, bool multiply = false,
        bool temperatureOnProbs = false, bool filtersFirst = false, bool useTopK = true, bool useTopP = true, bool float64 = false)
    {
        if (t == 0 && greedyAtZero) return logits.argmax(-1, keepdim: true);
        var x = float64 ? logits.to(ScalarType.Float64) : logits;
        if (filtersFirst)
        {
            if (k is int k0 && useTopK) x = Sampler.TopK(x, k0);
            if (p is double p0 && useTopP) x = Sampler.TopP(x, p0);
        }
        if (!temperatureOnProbs) x = multiply ? x * t : x / t;
        if (!filtersFirst)
        {
            if (k is int k1 && useTopK) x = Sampler.TopK(x, k1);
            if (p is double p1 && useTopP) x = Sampler.TopP(x, p1);
        }
        var probs = x.softmax(-1);
        if (temperatureOnProbs) probs = probs / t;
        return torch.multinomial(probs, 1, generator: g);
    }

    /// <summary>Right answers to Sample: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, double, int?, double?, Generator, Tensor>> SampleRightAnswers => new()
    {
        { "Sample_reference_passes", Sampler.Next },
        { "Sample_with_probabilities_to_the_power_one_over_t_passes", (logits, t, k, p, g) =>
            {
                if (t == 0) return logits.argmax(-1, keepdim: true);
                var x = logits.to(ScalarType.Float32);
                if (k is int kk) x = Sampler.TopK(x, kk);                                // top-k does not care about the temperature
                if (p is double pp) x = Sampler.TopP(x / t, pp) * t;
                return torch.multinomial(x.softmax(-1).pow(1 / t), 1, generator: g);     // p^(1/T) ∝ softmax(x / T)
            } },
    };

    [Theory, MemberData(nameof(SampleRightAnswers))]
    public void Sample_right_answer_passes(string answer, Func<Tensor, double, int?, double?, Generator, Tensor> right) => Passes(Checks.Sample(right), answer);

    [Fact]
    public void Sample_learners_solution_passes_in_float32_and_float64()
    {
        Passes(Checks.Sample((l, t, k, p, g) => Sample(l, t, k, p, g)));
        Passes(Checks.Sample((l, t, k, p, g) => Sample(l, t, k, p, g, float64: true)));
    }

    [Fact]
    public void Sample_stub_is_not_implemented() =>
        Assert.True(Checks.Sample((l, t, k, p, g) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to Sample, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, double, int?, double?, Generator, Tensor>, string> SampleMistakes => new()
    {
        { "Sample_argmax_fails", (l, t, k, p, g) => l.argmax(-1, keepdim: true), "the argmax is greedy decoding" },
        { "Sample_temperature_multiplied_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, multiply: true), "multiplying does the opposite" },
        { "Sample_temperature_multiplied_and_filters_first_gets_the_temperature_hint", (l, t, k, p, g) => Sample(l, t, k, p, g, multiply: true, filtersFirst: true), "multiplying does the opposite" },
        { "Sample_temperature_on_the_probabilities_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, temperatureOnProbs: true), "the temperature changed nothing" },
        { "Sample_softmax_then_top_k_on_probabilities_then_softmax_again_fails", (l, t, k, p, g) =>
            {
                if (t == 0) return l.argmax(-1, keepdim: true);
                var probs = (l / t).softmax(-1);
                if (k is int kk) probs = Sampler.TopK(probs, kk);
                if (p is double pp) probs = Sampler.TopP(probs, pp);
                return torch.multinomial(probs.softmax(-1), 1, generator: g);
            }, "take one softmax" },
        { "Sample_without_top_k_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, useTopK: false), "apply top-k when topK has a value" },
        { "Sample_without_top_p_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, useTopP: false), "apply top-p when topP has a value" },
        { "Sample_filters_before_the_temperature_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, filtersFirst: true), "divide by the temperature first" },
        { "Sample_unseeded_draw_fails", (l, t, k, p, g) =>
                t == 0 ? l.argmax(-1, keepdim: true) : torch.multinomial(Sampler.Probabilities(l, t, k, p), 1), "change between two runs with the same seed" },
        { "Sample_temperature_zero_not_handled_fails", (l, t, k, p, g) => Sample(l, t, k, p, g, greedyAtZero: false), "temperature 0 means greedy" },
        { "Sample_drawing_from_logits_fails", (l, t, k, p, g) => t == 0 ? l.argmax(-1, keepdim: true) : torch.multinomial(l / t, 1, generator: g), "not logits" },
        { "Sample_filtering_probabilities_with_minus_inf_fails", (l, t, k, p, g) =>
            {
                if (t == 0) return l.argmax(-1, keepdim: true);
                var probs = (l / t).softmax(-1);
                if (k is int kk) probs = Sampler.TopK(probs, kk);                        // -inf is not a probability
                if (p is double pp) probs = Sampler.TopP(probs, pp);
                return torch.multinomial(probs, 1, generator: g);
            }, "apply them before the softmax" },
        { "Sample_top_k_keeping_one_too_many_draws_removed_tokens", (l, t, k, p, g) => Sample(l, t, k is int kk ? Math.Min(kk + 1, (int)l.shape[^1]) : null, p, g), "probability is 0" },
        { "Sample_ids_without_the_last_axis_fail", (l, t, k, p, g) => Sample(l, t, k, p, g).squeeze(-1), "shaped [B, 1]" },
        { "Sample_softmax_over_the_batch_gets_a_hint", (logits, t, k, p, g) =>
            {
                if (t == 0) return logits.argmax(-1, keepdim: true);
                var x = logits / t;
                if (k is int kk) x = Sampler.TopK(x, kk);
                if (p is double pp) x = Sampler.TopP(x, pp);
                return torch.multinomial(x.softmax(0), 1, generator: g);
            }, "softmax(-1) (dim 0 runs over the rows of the batch)" },
        { "Sample_top_p_without_the_crossing_token_gets_a_hint", (logits, t, k, p, g) =>
            {
                if (t == 0) return logits.argmax(-1, keepdim: true);
                var x = logits.to(ScalarType.Float32) / t;
                if (k is int kk) x = Sampler.TopK(x, kk);
                if (p is double pp)
                {
                    var (sorted, order) = x.sort(-1, descending: true);
                    var drop = sorted.softmax(-1).cumsum(-1) > pp;                       // drops the token that crosses p
                    drop[TensorIndex.Ellipsis, 0] = torch.tensor(false);
                    x = x.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), double.NegativeInfinity);
                }
                return torch.multinomial(x.softmax(-1), 1, generator: g);
            }, "the token that crosses p included" },
        { "Sample_with_a_generator_of_its_own_gets_a_hint", (logits, t, k, p, g) =>
            {
                if (t == 0) return logits.argmax(-1, keepdim: true);
                using var mine = new Generator(42);
                return torch.multinomial(Sampler.Probabilities(logits, t, k, p), 1, generator: mine);
            }, "your draws ignore the generator you are given" },
        { "Sample_returning_int32_gets_the_dtype_hint", (logits, t, k, p, g) => (t == 0 ? logits.argmax(-1, keepdim: true)
                : torch.multinomial(Sampler.Probabilities(logits, t, k, p), 1, generator: g)).to(ScalarType.Int32), "the numbers are right, but the dtype is int32" },
    };

    [Theory, MemberData(nameof(SampleMistakes))]
    public void Sample_mistake_fails_with_its_hint(string mistake, Func<Tensor, double, int?, double?, Generator, Tensor> wrong, string hint) => FailsWith(Checks.Sample(wrong), hint, mistake);

    [Fact]
    public void Sample_other_valid_draw_gets_the_distribution_hint()
    {
        // inverse-CDF sampling with the generator: the right distribution, other ids than torch.multinomial's
        FailsWith(Checks.Sample((l, t, k, p, g) =>
        {
            if (t == 0) return l.argmax(-1, keepdim: true);
            var cdf = Sampler.Probabilities(l, t, k, p).cumsum(-1);                   // [B, V]
            var u = torch.rand(new long[] { l.shape[0], 1 }, generator: g);          // [B, 1]
            return (cdf < u).sum(-1, keepdim: true).clamp_max(l.shape[^1] - 1);
        }), "follow the right distribution");
    }

    // ---------------------------------------------------------------- generate

    /// <summary>Greedy generation as the notebook's solution writes it, with switches for mistakes written as a learner would.</summary>
    static Tensor Generate(Tensor ids, Func<Tensor, Tensor> gpt, int nNew, int nCtx, bool crop = true, bool cropFromStart = false, int keep = 0,
        bool firstPosition = false, bool everyPosition = false, bool inclusive = false, bool startAtOne = false, bool onlyNew = false, bool keepdim = true)
    {
        var prompt = ids;
        keep = keep == 0 ? nCtx : keep;
        for (int i = startAtOne ? 1 : 0; inclusive ? i <= nNew : i < nNew; i++)
        {
            long t = ids.shape[1];
            var context = !crop || t <= keep ? ids : cropFromStart ? ids[.., ..keep] : ids[.., ^keep..];
            var logits = gpt(context);                                                  // [B, T, V]
            var next = everyPosition ? logits.argmax(-1) : logits[.., firstPosition ? 0 : -1].argmax(-1, keepdim: keepdim);
            ids = torch.cat(new[] { ids, next }, dim: 1);
        }
        return onlyNew ? ids[.., (int)prompt.shape[1]..] : ids;
    }

    /// <summary>Right answers to Generate: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Func<Tensor, Tensor>, int, int, Tensor>> GenerateRightAnswers => new()
    {
        { "Generate_reference_passes", (ids, gpt, n, ctx) => Generation.Greedy(gpt, ids, n, ctx) },
        { "Generate_learners_solution_passes", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx) },
    };

    [Theory, MemberData(nameof(GenerateRightAnswers))]
    public void Generate_right_answer_passes(string answer, Func<Tensor, Func<Tensor, Tensor>, int, int, Tensor> right) => Passes(Checks.Generate(right), answer);

    [Fact]
    public void Generate_stub_is_not_implemented() =>
        Assert.True(Checks.Generate((ids, gpt, n, ctx) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to Generate, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Func<Tensor, Tensor>, int, int, Tensor>, string> GenerateMistakes => new()
    {
        { "Generate_first_position_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, firstPosition: true), "LAST position" },
        { "Generate_without_cropping_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, crop: false), "the model sees at most nCtx positions" },
        { "Generate_cropping_the_wrong_end_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, cropFromStart: true), "keep the LAST nCtx ids" },
        { "Generate_appending_every_position_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, everyPosition: true), "append one token per step" },
        { "Generate_one_token_too_many_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, inclusive: true), "one too many" },
        { "Generate_one_token_too_few_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, startAtOne: true), "one too few" },
        { "Generate_cropping_one_short_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, keep: ctx - 1), "not nCtx - 1" },
        { "Generate_only_new_tokens_and_one_too_many_gets_the_prompt_hint", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, onlyNew: true, inclusive: true), "not the new tokens alone" },
        { "Generate_only_new_tokens_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, onlyNew: true), "not the new tokens alone" },
        { "Generate_on_the_prompt_alone_fails", (ids, gpt, n, ctx) =>
            {
                var result = ids;
                for (int i = 0; i < n; i++)
                    result = torch.cat(new[] { result, gpt(ids)[.., -1].argmax(-1, keepdim: true) }, dim: 1);   // the model never sees its own tokens
                return result;
            }, "not on the prompt alone" },
        { "Generate_next_without_keepdim_fails", (ids, gpt, n, ctx) => Generate(ids, gpt, n, ctx, keepdim: false), "argmax(-1, keepdim: true)" },
        { "Generate_last_sequence_instead_of_last_position_gets_a_hint", (ids, gpt, n, ctx) =>
            {
                for (int i = 0; i < n; i++)
                {
                    var context = ids.shape[1] <= ctx ? ids : ids[.., ^ctx..];
                    ids = torch.cat(new[] { ids, gpt(context)[-1].argmax(-1, keepdim: true) }, dim: 1);  // logits[-1]: [T, V]
                }
                return ids;
            }, "logits[-1] is the last sequence of the batch" },
        { "Generate_freed_by_its_dispose_scope_gets_a_hint", (ids, gpt, nNew, nCtx) =>
            {
                using var scope = torch.NewDisposeScope();
                return Greedy(ids, gpt, nNew, nCtx);                                       // no MoveToOuterDisposeScope
            }, "return it with result.MoveToOuterDisposeScope()" },
        { "Generate_with_next_unsqueezed_at_0_gets_a_hint", (ids, gpt, nNew, nCtx) => Greedy(ids, gpt, nNew, nCtx, next: (l, _) => l[.., -1].argmax(-1).unsqueeze(0)), "unsqueeze(1), not unsqueeze(0)" },
        { "Generate_cropping_with_narrow_every_time_gets_a_hint", (ids, gpt, nNew, nCtx) => Greedy(ids, gpt, nNew, nCtx, crop: c => c.narrow(1, c.shape[1] - nCtx, nCtx)), "crop only when the sequence is longer than the context" },
        { "Generate_argmax_over_the_positions_gets_a_hint", (ids, gpt, nNew, nCtx) => Greedy(ids, gpt, nNew, nCtx, next: (l, _) => l.argmax(-2)[.., -1].unsqueeze(1)), "argmax(-2) picks a position, not a token" },
        { "Generate_argmax_without_an_axis_gets_a_hint", (ids, gpt, nNew, nCtx) => Greedy(ids, gpt, nNew, nCtx, next: (l, c) => l[.., -1].argmax().expand(c.shape[0], 1)), "argmax() without an axis flattens the whole tensor" },
        { "Generate_returning_int32_gets_the_dtype_hint_not_a_trap", (ids, gpt, nNew, nCtx) => Greedy(ids, gpt, nNew, nCtx).to(ScalarType.Int32), "the numbers are right, but the dtype is int32" },
    };

    [Theory, MemberData(nameof(GenerateMistakes))]
    public void Generate_mistake_fails_with_its_hint(string mistake, Func<Tensor, Func<Tensor, Tensor>, int, int, Tensor> wrong, string hint) => FailsWith(Checks.Generate(wrong), hint, mistake);

    [Fact]
    public void Generate_cropping_the_result_fails() =>
        // the window is cropped in place: the oldest ids are lost from the result too
        FailsWith(Checks.Generate((ids, gpt, n, ctx) =>
        {
            for (int i = 0; i < n; i++)
            {
                if (ids.shape[1] > ctx) ids = ids[.., ^ctx..];
                ids = torch.cat(new[] { ids, gpt(ids)[.., -1].argmax(-1, keepdim: true) }, dim: 1);
            }
            return ids;
        }), "crop only what the model sees");

    [Fact]
    public void Generate_sampling_instead_of_argmax_fails()
    {
        ulong calls = 0;                                       // a new seed for every call: the draws differ from run to run, reproducibly
        FailsWith(Checks.Generate((ids, gpt, n, ctx) =>
        {
            using var g = new Generator(++calls);
            for (int i = 0; i < n; i++)
            {
                var context = ids.shape[1] <= ctx ? ids : ids[.., ^ctx..];
                ids = torch.cat(new[] { ids, torch.multinomial(gpt(context)[.., -1].softmax(-1), 1, generator: g) }, dim: 1);
            }
            return ids;
        }), "greedy decoding takes the argmax");
    }

    // ---------------------------------------------------------------- learner review (notebook 09, second pass)

    static Tensor Greedy(Tensor ids, Func<Tensor, Tensor> gpt, int nNew, int nCtx, Func<Tensor, Tensor, Tensor>? next = null, Func<Tensor, Tensor>? crop = null)
    {
        for (int i = 0; i < nNew; i++)
        {
            var context = crop != null ? crop(ids) : ids.shape[1] > nCtx ? ids[.., ^nCtx..] : ids;
            var logits = gpt(context);
            ids = torch.cat(new[] { ids, next != null ? next(logits, ids) : logits[.., -1].argmax(-1, keepdim: true) }, dim: 1);
        }
        return ids;
    }

}
