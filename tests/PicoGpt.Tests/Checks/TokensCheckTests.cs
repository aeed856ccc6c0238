using PicoGpt.Exercises;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>Checks of notebook 00: they accept the reference and reject typical wrong answers with the right hint.</summary>
public class TokensCheckTests
{
    /// <summary>Right answers to Embedding: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>> EmbeddingRightAnswers => new()
    {
        { "Embedding_reference_passes", Ops.Embed },
        { "Embedding_written_like_picogpt_passes", (ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1])] },
    };

    [Theory, MemberData(nameof(EmbeddingRightAnswers))]
    public void Embedding_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor, Tensor> right) => Passes(Checks.Embedding(right), answer);

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

    /// <summary>Wrong answers to Embedding, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor, Tensor>, string> EmbeddingMistakes => new()
    {
        { "Embedding_without_positions_fails", (ids, wte, wpe) => wte[ids], "add the position embeddings" },
        { "Embedding_positions_by_id_fails", (ids, wte, wpe) => wte[ids] + wpe[ids], "index wpe by position" },
        { "Embedding_swapped_tables_fails", (ids, wte, wpe) => wte[torch.arange(ids.shape[^1])] + wpe[ids], "not the other way round" },
        { "Embedding_positions_from_one_fails", (ids, wte, wpe) => wte[ids] + wpe[torch.arange(1, ids.shape[^1] + 1)], "positions start at 0" },
        { "Embedding_last_position_for_every_token_fails", (ids, wte, wpe) => wte[ids] + wpe[ids.shape[^1] - 1], "every token got the same position vector, wpe[n_seq - 1]" },
        { "Embedding_product_fails", (ids, wte, wpe) => wte[ids] * wpe[torch.arange(ids.shape[^1])], "do not multiply" },
        { "Embedding_concatenation_fails", (ids, wte, wpe) => torch.cat([wte[ids], wpe[torch.arange(ids.shape[^1])]], -1), "do not concatenate" },
        { "Embedding_index_select_fails_on_the_batch_case_with_a_hint", (ids, wte, wpe) => wte.index_select(0, ids) + wpe.index_select(0, torch.arange(ids.shape[^1])), "index_select needs a 1-D index" },
        { "Embedding_scaled_by_root_n_embd_as_in_the_2017_transformer_fails", (ids, wte, wpe) => wte[ids] * Math.Sqrt(wte.shape[1]) + wpe[torch.arange(ids.shape[^1])], "GPT-2 does not" },
        { "Embedding_with_the_sinusoidal_table_instead_of_wpe_fails", (ids, wte, wpe) =>
            {
                long n = ids.shape[^1], d = wte.shape[1];
                var angle = torch.arange(n, dtype: ScalarType.Float64).unsqueeze(1) / torch.pow(10000.0, torch.arange(0, d, 2, dtype: ScalarType.Float64) / d);
                return wte[ids] + torch.stack([angle.sin(), angle.cos()], -1).reshape(n, d).to(wte.dtype);
            }, "GPT-2 learns its positions" },
        { "Embedding_row_n_seq_for_every_token_fails", (ids, wte, wpe) => wte[ids] + wpe[ids.shape[^1]], "one row past the last position" },
        { "Embedding_positions_reversed_fails", (ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1] - 1, -1, -1)], "you reversed them" },
        { "Embedding_float_positions_get_the_integer_index_hint", (ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1], dtype: ScalarType.Float32)], "index with an integer tensor" },
        { "Embedding_positions_unsqueezed_gets_the_extra_axis_hint", (ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[^1])].unsqueeze(0), "axis of length 1 too many" },
    };

    [Theory, MemberData(nameof(EmbeddingMistakes))]
    public void Embedding_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.Embedding(wrong), hint, mistake);

    [Fact]
    public void Embedding_positions_along_the_batch_axis_fail_on_the_batch_case()
    {
        var r = Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe[torch.arange(ids.shape[0])]);
        Assert.True(r.Hint?.Contains("positions run along") == true, r.ToPlainText());
        FailsWith(r, "positions run along the last axis");
        Assert.Contains("batch of ids [2, 5]", r.Message);
        Assert.Contains("threw", r.Message);
    }

    // ---------------------------------------------------------------- sinusoidal positions

    /// <summary>A learner's table written with loops: value(pos, column) for every cell, as float32.</summary>
    static Tensor Table(long nCtx, long nEmbd, Func<long, long, double> value)
    {
        var a = new float[nCtx * nEmbd];
        for (long pos = 0; pos < nCtx; pos++)
            for (long j = 0; j < nEmbd; j++)
                a[pos * nEmbd + j] = (float)value(pos, j);
        return torch.tensor(a, [nCtx, nEmbd]);
    }

    /// <summary>The paper's formula with loops: column j = 2i or 2i + 1 uses the frequency 1 / 10000^(2i/d).</summary>
    static double Paper(long pos, long j, long d) => j % 2 == 0
        ? Math.Sin(pos / Math.Pow(10000, (double)(j - j % 2) / d))
        : Math.Cos(pos / Math.Pow(10000, (double)(j - j % 2) / d));

    /// <summary>Right answers to SinusoidalPositions: each must pass.</summary>
    public static TheoryData<string, Func<long, long, Tensor>> SinusoidalPositionsRightAnswers => new()
    {
        { "Sinusoidal_reference_passes", (n, d) => CourseOps.SinusoidalPositions(n, d) },
        { "Sinusoidal_loops_in_float32_pass", (n, d) => Table(n, d, (pos, j) => Paper(pos, j, d)) },
        { "Sinusoidal_tensor_code_in_float32_passes", (n, d) =>
            {
                var pos = torch.arange(n).unsqueeze(1);                                  // [n_ctx, 1] int64
                var freq = torch.pow(10000, torch.arange(0, d, 2) / d);                  // [n_embd/2] float32
                var angle = pos / freq;                                                  // [n_ctx, n_embd/2]
                return torch.stack([angle.sin(), angle.cos()], -1).reshape(n, d);
            } },
        { "Sinusoidal_with_exp_and_log_in_float32_passes", (n, d) =>
            {
                var pe = torch.zeros(n, d);
                var pos = torch.arange(0, n, dtype: ScalarType.Float32).unsqueeze(1);
                var div = torch.exp(torch.arange(0, d, 2, dtype: ScalarType.Float32) * (-Math.Log(10000.0) / d));  // the PyTorch tutorial's way
                pe[TensorIndex.Colon, TensorIndex.Slice(0, null, 2)] = torch.sin(pos * div);
                pe[TensorIndex.Colon, TensorIndex.Slice(1, null, 2)] = torch.cos(pos * div);
                return pe;
            } },
    };

    [Theory, MemberData(nameof(SinusoidalPositionsRightAnswers))]
    public void SinusoidalPositions_right_answer_passes(string answer, Func<long, long, Tensor> right) => Passes(Checks.SinusoidalPositions(right), answer);

    [Fact]
    public void Sinusoidal_known_values()
    {
        var pe = CourseOps.SinusoidalPositions(3, 4, ScalarType.Float64);
        double[] row1 = [Math.Sin(1), Math.Cos(1), Math.Sin(0.01), Math.Cos(0.01)];              // 10000^(2/4) = 100
        Assert.Equal(new long[] { 3, 4 }, pe.shape);
        Assert.Equal(new double[] { 0, 1, 0, 1 }, pe[0].data<double>().ToArray());
        Assert.All(row1.Zip(pe[1].data<double>().ToArray()), v => Assert.Equal(v.First, v.Second, 1e-15));
        Assert.Equal(Math.Sin(2), pe[2, 0].item<double>(), 1e-15);
        Assert.Equal(ScalarType.Float32, CourseOps.SinusoidalPositions(2, 6).dtype);
        var odd = CourseOps.SinusoidalPositions(5, 5, ScalarType.Float64);                              // the last column is a sine
        Assert.Equal(new long[] { 5, 5 }, odd.shape);
        Assert.Equal(Math.Sin(3 / Math.Pow(10000, 4.0 / 5)), odd[3, 4].item<double>(), 1e-15);
    }

    /// <summary>Wrong answers to SinusoidalPositions, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<long, long, Tensor>, string> SinusoidalPositionsMistakes => new()
    {
        { "Sinusoidal_sin_cos_swapped_fails", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Cos(pos / Math.Pow(10000, (double)(j - j % 2) / d))
                : Math.Sin(pos / Math.Pow(10000, (double)(j - j % 2) / d))), "you swapped them" },
        { "Sinusoidal_sines_then_cosines_fails", (n, d) =>
            {
                var angle = torch.arange(n).unsqueeze(1) / torch.pow(10000, torch.arange(0, d, 2) / d);
                return torch.cat([angle.sin(), angle.cos()], 1);
            }, "interleave sin and cos" },
        { "Sinusoidal_integer_division_fails", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Sin(pos / Math.Pow(10000, 2 * (j / 2) / d))                                    // long / long: 0
                : Math.Cos(pos / Math.Pow(10000, 2 * (j / 2) / d))), "integer division" },
        { "Sinusoidal_column_number_in_the_exponent_fails", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Sin(pos / Math.Pow(10000, (double)j / d))
                : Math.Cos(pos / Math.Pow(10000, (double)j / d))), "used the column number" },
        { "Sinusoidal_pair_index_without_the_two_fails", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Sin(pos / Math.Pow(10000, (double)(j / 2) / d))
                : Math.Cos(pos / Math.Pow(10000, (double)(j / 2) / d))), "you used i/d" },
        { "Sinusoidal_multiplied_fails", (n, d) =>
            {
                var angle = torch.arange(n).unsqueeze(1) * torch.pow(10000, torch.arange(0, d, 2) / d);
                return torch.stack([angle.sin(), angle.cos()], -1).reshape(n, d);
            }, "you multiplied" },
        { "Sinusoidal_positions_from_one_fails", (n, d) => Table(n, d, (pos, j) => Paper(pos + 1, j, d)), "positions start at 0" },
        { "Sinusoidal_degrees_fails", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Sin(pos / Math.Pow(10000, (double)(j - j % 2) / d) * Math.PI / 180)
                : Math.Cos(pos / Math.Pow(10000, (double)(j - j % 2) / d) * Math.PI / 180)), "radians" },
        { "Sinusoidal_transposed_fails", (n, d) => Table(d, n, (j, pos) => Paper(pos, j, d)), "not its transpose" },
        { "Sinusoidal_other_base_fails_with_the_frequency_hint", (n, d) => Table(n, d, (pos, j) => j % 2 == 0
                ? Math.Sin(pos / Math.Pow(1000, (double)(j - j % 2) / d))
                : Math.Cos(pos / Math.Pow(1000, (double)(j - j % 2) / d))), "base 10000" },
        { "Sinusoidal_cosines_then_sines_fails", (nCtx, nEmbd) =>
            {
                var angle = torch.arange(nCtx).unsqueeze(1) / torch.pow(10000, torch.arange(0, nEmbd, 2) / (double)nEmbd);   // [n_ctx, n_embd / 2]
                return torch.cat([angle.cos(), angle.sin()], 1);
            }, "you put all the cosines first" },
        { "Sinusoidal_twice_the_column_number_in_the_exponent_fails", (nCtx, nEmbd) =>
            {
                var pe = new double[nCtx * nEmbd];
                for (long pos = 0; pos < nCtx; pos++)
                    for (long j = 0; j < nEmbd; j++)
                    {
                        double angle = pos / Math.Pow(10000, 2.0 * j / nEmbd);                 // j is the column, not the pair
                        pe[pos * nEmbd + j] = j % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle);
                    }
                return torch.tensor(pe, [nCtx, nEmbd]);
            }, "you used 2·j/d with j the column number" },
        { "Sinusoidal_stacked_along_the_first_axis_fails", (nCtx, nEmbd) =>
            {
                var angle = torch.arange(nCtx).unsqueeze(1) / torch.pow(10000, torch.arange(0, nEmbd, 2) / (double)nEmbd);
                return torch.stack([angle.sin(), angle.cos()], 0).reshape(nCtx, nEmbd);
            }, "stack sin and cos along the LAST axis" },
    };

    [Theory, MemberData(nameof(SinusoidalPositionsMistakes))]
    public void SinusoidalPositions_mistake_fails_with_its_hint(string mistake, Func<long, long, Tensor> wrong, string hint) => FailsWith(Checks.SinusoidalPositions(wrong), hint, mistake);

    [Fact]
    public void Sinusoidal_stub_is_not_implemented()
    {
        var r = Checks.SinusoidalPositions((n, d) => throw new NotImplementedException());
        Assert.True(r.NotImplemented, r.ToPlainText());
        Assert.False(r.Passed);
    }

    // ---------------------------------------------------------------- BPE merge loop

    enum BpeMistake { None, HighestFirst, OneMerge, NoStop, FirstFromLeft, LastPairMissed, NoSkip, StringReplace, OneOccurrencePerStep, JoinedText }

    /// <summary>A learner's merge loop (written with MinBy and a List), with one typical mistake switched on.</summary>
    static List<string> LearnerBpe(IReadOnlyList<string> symbols, IReadOnlyDictionary<(string Left, string Right), int> ranks, BpeMistake m = BpeMistake.None)
    {
        var word = new List<string>(symbols);
        while (word.Count > 1)
        {
            var pairs = new List<(string, string)>();
            for (int i = 0; i < word.Count - (m == BpeMistake.LastPairMissed ? 2 : 1); i++) pairs.Add((word[i], word[i + 1]));
            (string A, string B) best;
            if (m == BpeMistake.FirstFromLeft)
            {
                var found = pairs.FindIndex(p => ranks.ContainsKey(p));
                if (found < 0) break;
                best = pairs[found];
            }
            else if (m == BpeMistake.HighestFirst)
            {
                var ranked = pairs.Where(p => ranks.ContainsKey(p)).ToList();
                if (ranked.Count == 0) break;
                best = ranked.MaxBy(p => ranks[p]);
            }
            else
            {
                if (pairs.Count == 0) break;
                best = pairs.MinBy(p => ranks.GetValueOrDefault(p, int.MaxValue));
                if (m != BpeMistake.NoStop && !ranks.ContainsKey(best)) break;
            }
            if (m == BpeMistake.StringReplace)
            {
                word = string.Join(" ", word).Replace(best.A + " " + best.B, best.A + best.B).Split(' ').ToList();
                continue;
            }
            var next = new List<string>();
            bool mergedOnce = false;
            for (int i = 0; i < word.Count; i++)
            {
                var match = m == BpeMistake.JoinedText ? i < word.Count - 1 && word[i] + word[i + 1] == best.A + best.B
                                                       : i < word.Count - 1 && word[i] == best.A && word[i + 1] == best.B;
                if (match && !(m == BpeMistake.OneOccurrencePerStep && mergedOnce))
                {
                    next.Add(best.A + best.B);
                    mergedOnce = true;
                    if (m != BpeMistake.NoSkip) i++;
                }
                else next.Add(word[i]);
            }
            word = next;
            if (m == BpeMistake.OneMerge) break;
        }
        return word;
    }

    /// <summary>Right answers to Bpe: each must pass.</summary>
    public static TheoryData<string, Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>>> BpeRightAnswers => new()
    {
        { "Bpe_reference_passes", (s, r) => Bpe.Merge(s, r) },
        { "Bpe_learner_loop_passes", (s, r) => LearnerBpe(s, r) },
        { "Bpe_one_occurrence_per_step_gives_the_same_pieces_and_passes", (s, r) => LearnerBpe(s, r, BpeMistake.OneOccurrencePerStep) },
    };

    [Theory, MemberData(nameof(BpeRightAnswers))]
    public void Bpe_right_answer_passes(string answer, Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>> right) => Passes(Checks.Bpe(right), answer);

    /// <summary>Wrong answers to Bpe, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>>, string> BpeMistakes => new()
    {
        { "Bpe_highest_rank_first_fails", (s, r) => LearnerBpe(s, r, BpeMistake.HighestFirst), "LOWEST rank first" },
        { "Bpe_one_merge_fails", (s, r) => LearnerBpe(s, r, BpeMistake.OneMerge), "you stopped after the first merge" },
        { "Bpe_merging_pairs_without_a_rank_fails", (s, r) => LearnerBpe(s, r, BpeMistake.NoStop), "stop when no adjacent pair has a rank" },
        { "Bpe_first_ranked_pair_from_the_left_fails", (s, r) => LearnerBpe(s, r, BpeMistake.FirstFromLeft), "not the first pair (from the left)" },
        { "Bpe_last_pair_missed_fails", (s, r) => LearnerBpe(s, r, BpeMistake.LastPairMissed), "including the last one" },
        { "Bpe_no_skip_after_a_merge_fails", (s, r) => LearnerBpe(s, r, BpeMistake.NoSkip), "skip word[i + 1]" },
        { "Bpe_string_replace_fails", (s, r) => LearnerBpe(s, r, BpeMistake.StringReplace), "merge symbols, not text" },
        { "Bpe_indexer_on_a_missing_pair_fails_with_a_hint", (s, r) =>
            {
                var word = s.ToList();
                while (word.Count > 1)
                {
                    var best = Enumerable.Range(0, word.Count - 1).Select(i => (word[i], word[i + 1])).MinBy(p => r[p]); // throws on a pair without a rank
                    word = LearnerBpe(word, new Dictionary<(string, string), int> { [best] = 0 }, BpeMistake.OneMerge);
                }
                return word;
            }, "TryGetValue" },
        { "Bpe_min_over_no_pairs_fails_with_a_hint", (s, r) =>
            {
                var word = s.ToList();
                while (true)
                {
                    var pairs = Enumerable.Range(0, word.Count - 1).Select(i => (word[i], word[i + 1])).ToList();
                    var rank = pairs.Min(p => r.GetValueOrDefault(p, int.MaxValue));                   // throws for one symbol
                    if (rank == int.MaxValue) return word;
                    word = LearnerBpe(word, new Dictionary<(string, string), int> { [pairs.First(p => r.GetValueOrDefault(p, int.MaxValue) == rank)] = 0 }, BpeMistake.OneMerge);
                }
            }, "has no pairs" },
        { "Bpe_pieces_that_do_not_join_to_the_word_are_diagnosed", (s, r) => LearnerBpe(s, r).Select(p => p.ToUpperInvariant()).ToList(), "not to the word" },
        { "Bpe_merging_from_the_right_fails", (s, r) => BpeOrder(s, r, fromTheRight: true), "from left to right" },
        { "Bpe_stopping_at_two_pieces_fails", (s, r) => BpeOrder(s, r, stopAt: 2), "you stopped at two" },
        { "Bpe_returning_the_symbols_says_nothing_was_merged", (s, r) => s.ToList(), "nothing was merged" },
        { "Bpe_casting_the_symbols_to_a_list_gets_a_hint", (s, r) =>
            {
                if (s.Count < 2) return (List<string>)s;                  // a C# shortcut: fine for a List, an InvalidCastException for the string[] passed here
                return LearnerBpe(s, r);
            }, "symbols.ToList()" },
    };

    [Theory, MemberData(nameof(BpeMistakes))]
    public void Bpe_mistake_fails_with_its_hint(string mistake, Func<IReadOnlyList<string>, IReadOnlyDictionary<(string Left, string Right), int>, IReadOnlyList<string>> wrong, string hint) => FailsWith(Checks.Bpe(wrong), hint, mistake);

    [Fact]
    public void Bpe_comparing_the_joined_text_fails()
    {
        var r = Checks.Bpe((s, r) => LearnerBpe(s, r, BpeMistake.JoinedText));
        FailsWith(r, "compare the pair itself, (word[i], word[i + 1]) == best, not the joined text");
        Assert.Contains("pieces [ab, c, a, bc]", r.Message);
    }

    [Fact]
    public void Bpe_stub_is_not_implemented()
    {
        var r = Checks.Bpe((s, r) => throw new NotImplementedException());
        Assert.True(r.NotImplemented, r.ToPlainText());
        Assert.False(r.Passed);
    }

    [Fact]
    public void Bpe_failure_names_the_case_and_shows_both_piece_lists()
    {
        var r = Checks.Bpe((s, r) => LearnerBpe(s, r, BpeMistake.HighestFirst));
        Assert.Contains("case 'l o w e s t", r.Message);
        Assert.Contains("expected [l, ow, e, st], got [lo, w, es, t]", r.Message);
    }

    // ---------------------------------------------------------------- mistakes found by trying the notebook as a learner

    [Fact]
    public void Embedding_whole_wpe_added_gets_the_one_row_per_token_hint()
    {
        var r = Checks.Embedding((ids, wte, wpe) => wte[ids] + wpe);              // forgot to pick the position rows
        FailsWith(r, "one row of wpe per token (not all n_ctx rows of wpe");
        Assert.Contains("threw", r.Message);
    }

    [Fact]
    public void Sinusoidal_positions_along_the_columns_fails()
    {
        var r = Checks.SinusoidalPositions((n, d) =>
        {
            var pos = torch.arange(n).unsqueeze(0);                                 // [1, n_ctx]: a row, not a column
            var twoI = torch.arange(0, d, 2).unsqueeze(1);                          // [n_embd / 2, 1]
            var angle = pos / torch.pow(10000, twoI / d);                           // [n_embd / 2, n_ctx]
            return torch.stack([angle.sin(), angle.cos()], -1).reshape(n, d);
        });
        FailsWith(r, "the positions go down the rows");
        Assert.DoesNotContain("not its transpose", r.Hint);                         // the first case is square: no transpose claim
    }

    // ---------------------------------------------------------------- wrong answers from the 2017 Transformer and from PyTorch habits

    [Fact]
    public void Embedding_adding_into_wpe_in_place_fails()
    {
        var r = Checks.Embedding((ids, wte, wpe) => { var n = ids.shape[^1]; return wpe.narrow(0, 0, n).add_(wte[ids]); });
        FailsWith(r, "write into the tensor they are called on");
        Assert.Contains("changed its 3rd argument in place", r.Message);
    }

    static List<string> BpeOrder(IReadOnlyList<string> symbols, IReadOnlyDictionary<(string Left, string Right), int> ranks, bool fromTheRight = false, int stopAt = 1)
    {
        var word = new List<string>(symbols);
        while (word.Count > stopAt)
        {
            (string Left, string Right)? best = null;
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < word.Count; i++)
                if (ranks.TryGetValue((word[i], word[i + 1]), out int rank) && rank < bestRank) (best, bestRank) = ((word[i], word[i + 1]), rank);
            if (best is not { } pair) break;
            var merged = new List<string>();
            if (fromTheRight)
            {
                int i = word.Count - 1;
                while (i >= 0)
                    if (i > 0 && word[i - 1] == pair.Left && word[i] == pair.Right) { merged.Insert(0, pair.Left + pair.Right); i -= 2; }
                    else merged.Insert(0, word[i--]);
            }
            else
                for (int i = 0; i < word.Count; i++)
                    if (i + 1 < word.Count && word[i] == pair.Left && word[i + 1] == pair.Right) { merged.Add(pair.Left + pair.Right); i++; }
                    else merged.Add(word[i]);
            word = merged;
        }
        return word;
    }

    [Fact]
    public void Bpe_loop_that_never_replaces_the_word_times_out_with_a_hint()
    {
        var stop = new CancellationTokenSource();                           // ends the learner's endless loop once the check has answered
        var limit = Checks.LoopTimeLimit;
        Checks.LoopTimeLimit = TimeSpan.FromSeconds(1);
        try
        {
            var r = Checks.Bpe((symbols, ranks) =>
            {
                var word = new List<string>(symbols);
                while (word.Count > 1 && !stop.IsCancellationRequested)
                {
                    (string Left, string Right)? best = null;
                    int bestRank = int.MaxValue;
                    for (int i = 0; i + 1 < word.Count; i++)
                        if (ranks.TryGetValue((word[i], word[i + 1]), out int rank) && rank < bestRank) (best, bestRank) = ((word[i], word[i + 1]), rank);
                    if (best is not { } pair) break;
                    var merged = new List<string>();
                    for (int i = 0; i < word.Count; i++)
                        if (i + 1 < word.Count && word[i] == pair.Left && word[i + 1] == pair.Right) { merged.Add(pair.Left + pair.Right); i++; }
                        else merged.Add(word[i]);
                    // forgot: word = merged;
                }
                return word;
            });
            FailsWith(r, "the loop never ends");
            Assert.Contains("did not return within 1 s", r.Message);
        }
        finally
        {
            stop.Cancel();
            Checks.LoopTimeLimit = limit;
        }
    }
}
