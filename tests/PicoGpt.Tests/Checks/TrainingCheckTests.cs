using PicoGpt.Exercises;
using PicoGpt.Model;
using PicoGpt.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Tests;

/// <summary>
/// Checks of notebook 10: they accept the reference (and other correct ways to write it) and reject typical wrong
/// answers with the right hint. Each wrong answer is written the way a learner would write it.
/// </summary>
public class TrainingCheckTests
{
    // ---------------------------------------------------------------- get_batch

    /// <summary>A learner's get_batch with the start range and the offset of y as parameters.</summary>
    static (Tensor X, Tensor Y) Batch(int[] data, int batchSize, int blockSize, Random rng, int startRange, int yOffset = 1)
    {
        var x = new long[batchSize, blockSize];
        var y = new long[batchSize, blockSize];
        for (int b = 0; b < batchSize; b++)
        {
            int i = rng.Next(startRange);
            for (int t = 0; t < blockSize; t++)
            {
                x[b, t] = data[i + t];
                y[b, t] = data[i + t + yOffset];
            }
        }
        return (torch.tensor(x), torch.tensor(y));
    }

    /// <summary>Right answers to GetBatch: each must pass.</summary>
    public static TheoryData<string, Func<int[], int, int, Random, (Tensor X, Tensor Y)>> GetBatchRightAnswers => new()
    {
        { "GetBatch_reference_passes", TrainingOps.GetBatch },
        { "GetBatch_with_tensor_slices_passes", (data, b, t, rng) =>
            {
                var d = torch.tensor(data.Select(v => (long)v).ToArray());                 // [len]
                var starts = Enumerable.Range(0, b).Select(_ => (long)rng.Next(data.Length - t)).ToArray();
                var x = torch.stack(starts.Select(i => d[TensorIndex.Slice(i, i + t)]).ToArray());
                var y = torch.stack(starts.Select(i => d[TensorIndex.Slice(i + 1, i + t + 1)]).ToArray());
                return (x, y);
            } },
    };

    [Theory, MemberData(nameof(GetBatchRightAnswers))]
    public void GetBatch_right_answer_passes(string answer, Func<int[], int, int, Random, (Tensor X, Tensor Y)> right) => Passes(Checks.GetBatch(right), answer);

    [Fact]
    public void GetBatch_stub_is_not_implemented() =>
        Assert.True(Checks.GetBatch((_, _, _, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to GetBatch, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<int[], int, int, Random, (Tensor X, Tensor Y)>, string> GetBatchMistakes => new()
    {
        { "GetBatch_y_not_shifted_fails", (data, b, t, rng) => Batch(data, b, t, rng, data.Length - t, yOffset: 0), "y must be x shifted left by one" },
        { "GetBatch_x_and_y_swapped_fails", (data, b, t, rng) =>
            {
                var (x, y) = Batch(data, b, t, rng, data.Length - t);
                return (y, x);
            }, "swapped" },
        { "GetBatch_start_range_one_short_fails", (data, b, t, rng) => Batch(data, b, t, rng, data.Length - t - 1), "the last window is never drawn" },
        { "GetBatch_start_range_one_too_far_fails", (data, b, t, rng) => Batch(data, b, t, rng, data.Length - t + 1), "rng.Next(len - T)" },
        { "GetBatch_overrunning_the_data_end_fails", (data, b, t, rng) => Batch(data, b, t, rng, data.Length), "ran past the end" },
        { "GetBatch_one_start_for_all_rows_fails", (data, b, t, rng) =>
            {
                int i = rng.Next(data.Length - t);
                var x = torch.tensor(data[i..(i + t)].Select(v => (long)v).ToArray());
                var y = torch.tensor(data[(i + 1)..(i + t + 1)].Select(v => (long)v).ToArray());
                return (x.unsqueeze(0).repeat(b, 1), y.unsqueeze(0).repeat(b, 1));
            }, "a new start for every row" },
        { "GetBatch_int32_ids_fail", (data, b, t, rng) =>
            {
                var (x, y) = Batch(data, b, t, rng, data.Length - t);
                return (x.to(ScalarType.Int32), y.to(ScalarType.Int32));
            }, "int64" },
        { "GetBatch_valid_windows_drawn_another_way_fail", (data, b, t, rng) =>
            {
                var starts = Enumerable.Range(0, b).Select(_ => (int)rng.NextInt64(data.Length - t)).Reverse().ToArray();
                var x = torch.tensor(starts.SelectMany(i => data[i..(i + t)]).Select(v => (long)v).ToArray(), new long[] { b, t });
                var y = torch.tensor(starts.SelectMany(i => data[(i + 1)..(i + t + 1)]).Select(v => (long)v).ToArray(), new long[] { b, t });
                return (x, y);
            }, "drawn differently" },
        { "GetBatch_flat_tensors_get_a_hint", (data, b, t, rng) =>
            {
                var (x, y) = Batch(data, b, t, rng, data.Length - t);
                return (x.flatten(), y.flatten());                                        // torch.tensor(long[]) without the shape
            }, "x and y are [B, T] each: give torch.tensor the shape" },
        { "GetBatch_y_from_a_window_of_its_own_fails", (data, b, t, rng) =>
            {
                var x = new long[b * t];
                var y = new long[b * t];
                for (int row = 0; row < b; row++)
                {
                    int i = rng.Next(data.Length - t), j = rng.Next(data.Length - t); // one start for x, another for y
                    for (int k = 0; k < t; k++) { x[row * t + k] = data[i + k]; y[row * t + k] = data[j + k + 1]; }
                }
                return (torch.tensor(x, new long[] { b, t }), torch.tensor(y, new long[] { b, t }));
            }, "x and y come from the same window" },
        { "GetBatch_filled_column_by_column_gets_a_hint", (data, batchSize, blockSize, rng) =>
            {
                var x = new long[batchSize * blockSize];
                var y = new long[batchSize * blockSize];
                for (int b = 0; b < batchSize; b++)
                {
                    int i = rng.Next(data.Length - blockSize);
                    for (int t = 0; t < blockSize; t++) { x[t * batchSize + b] = data[i + t]; y[t * batchSize + b] = data[i + t + 1]; }
                }
                return (torch.tensor(x, new long[] { batchSize, blockSize }), torch.tensor(y, new long[] { batchSize, blockSize }));
            }, "not x[t * batchSize + b]" },
    };

    [Theory, MemberData(nameof(GetBatchMistakes))]
    public void GetBatch_mistake_fails_with_its_hint(string mistake, Func<int[], int, int, Random, (Tensor X, Tensor Y)> wrong, string hint) => FailsWith(Checks.GetBatch(wrong), hint, mistake);

    // ---------------------------------------------------------------- cross-entropy

    static Tensor Picked(Tensor logProbs, Tensor targets) => logProbs.gather(-1, targets.unsqueeze(-1)).squeeze(-1); // [B, T]

    /// <summary>Right answers to CrossEntropy: each must pass.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor>> CrossEntropyRightAnswers => new()
    {
        { "CrossEntropy_reference_passes", TrainingOps.CrossEntropy },
        { "CrossEntropy_from_log_softmax_and_gather_passes", (logits, targets) => -Picked(logits.log_softmax(-1), targets).mean() },
        { "CrossEntropy_from_logsumexp_passes", (logits, targets) => (logits.logsumexp(-1) - Picked(logits, targets)).mean() },
        { "CrossEntropy_on_logits_transposed_to_classes_first_passes", (logits, targets) => F.cross_entropy(logits.transpose(1, 2), targets) },
    };

    [Theory, MemberData(nameof(CrossEntropyRightAnswers))]
    public void CrossEntropy_right_answer_passes(string answer, Func<Tensor, Tensor, Tensor> right) => Passes(Checks.CrossEntropy(right), answer);

    [Fact]
    public void CrossEntropy_uniform_logits_give_ln_65()
    {
        var loss = TrainingOps.CrossEntropy(torch.zeros(2, 3, 65), torch.zeros(2, 3, dtype: ScalarType.Int64)).item<float>();
        Assert.Equal(Math.Log(65), loss, 5);                                     // 4.17439
        var hand = TrainingOps.CrossEntropy(torch.tensor(new[] { 2.0, 1.0, 0.1 }).reshape(1, 1, 3), torch.zeros(1, 1, dtype: ScalarType.Int64)).item<double>();
        Assert.Equal(0.41703, hand, 5);                                          // -ln softmax([2, 1, 0.1])[0] = -ln 0.659
    }

    [Fact]
    public void CrossEntropy_stub_is_not_implemented() =>
        Assert.True(Checks.CrossEntropy((_, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to CrossEntropy, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Tensor, Tensor, Tensor>, string> CrossEntropyMistakes => new()
    {
        { "CrossEntropy_sum_fails", (logits, targets) => -Picked(logits.log_softmax(-1), targets).sum(), "not the sum" },
        { "CrossEntropy_without_minus_fails", (logits, targets) => Picked(logits.log_softmax(-1), targets).mean(), "minus sign" },
        { "CrossEntropy_sum_without_minus_fails", (logits, targets) => logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).sum(), "forgot the minus sign, and summed" },
        { "CrossEntropy_negative_loss_is_explained", (logits, targets) => -Picked(logits.log_softmax(-1), targets).mean() - 10, "never negative" },
        { "CrossEntropy_hand_softmax_then_log_fails", (logits, targets) =>
            {
                var e = logits.exp();
                var probs = e / e.sum(-1, keepdim: true);
                return -Picked(probs.log(), targets).mean();
            }, "unstable" },
        { "CrossEntropy_log_of_softmax_fails", (logits, targets) => -Picked(logits.softmax(-1).log(), targets).mean(), "unstable" },
        { "CrossEntropy_shifting_again_fails", (logits, targets) =>
            {
                long t = logits.shape[1];
                var l = logits.narrow(1, 0, t - 1);                                  // positions 0 .. T-2
                var y = targets.narrow(1, 1, t - 1);                                 // targets 1 .. T-1
                return -Picked(l.log_softmax(-1), y).mean();
            }, "do not shift again" },
        { "CrossEntropy_last_position_only_fails", (logits, targets) =>
            {
                long t = logits.shape[1];
                return F.cross_entropy(logits.select(1, t - 1), targets.select(1, t - 1));
            }, "every position" },
        { "CrossEntropy_not_flattened_fails", (logits, targets) => F.cross_entropy(logits, targets), "flatten first" },
        { "CrossEntropy_per_position_losses_fail", (logits, targets) => -Picked(logits.log_softmax(-1), targets), "one loss per position" },
        { "CrossEntropy_mean_over_vocabulary_fails", (logits, targets) =>
                -(logits.log_softmax(-1) * F.one_hot(targets, logits.shape[^1]).to(logits.dtype)).mean(), "over the vocabulary too" },
        { "CrossEntropy_summed_over_the_positions_gets_a_hint", (logits, targets) => -Picked(logits.log_softmax(-1), targets).sum(1).mean(), "summing over T and averaging over B" },
        { "CrossEntropy_in_bits_gets_a_hint", (logits, targets) => -Picked(logits.log_softmax(-1), targets).mean() / Math.Log(2), "dividing by ln 2 gives bits" },
        { "CrossEntropy_returned_as_float32_gets_the_dtype_hint", (logits, targets) => F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1)).to(ScalarType.Float32), "the numbers are right, but the result must keep the inputs' dtype (float64), yours is float32" },
        { "CrossEntropy_gather_along_the_positions_gets_a_hint", (logits, targets) => -logits.log_softmax(-1).gather(1, targets.unsqueeze(-1)).mean(), "gather along the last axis, the vocabulary" },
        { "CrossEntropy_float_index_gets_a_hint", (logits, targets) => -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1).to(logits.dtype)).mean(), "gather's index must be int64" },
    };

    [Theory, MemberData(nameof(CrossEntropyMistakes))]
    public void CrossEntropy_mistake_fails_with_its_hint(string mistake, Func<Tensor, Tensor, Tensor> wrong, string hint) => FailsWith(Checks.CrossEntropy(wrong), hint, mistake);

    // ---------------------------------------------------------------- weight decay

    [Fact]
    public void WeightDecay_reference_passes() => Passes(Checks.WeightDecay(TrainingOps.Decays));

    [Fact]
    public void WeightDecay_stub_is_not_implemented() =>
        Assert.True(Checks.WeightDecay((_, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to WeightDecay, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<string, Parameter, bool>, string> WeightDecayMistakes => new()
    {
        { "WeightDecay_everything_fails", (name, p) => true, "get no weight decay" },
        { "WeightDecay_linear_weights_only_fails", (name, p) => name.Contains("c_") && name.EndsWith(".weight"), "decays the embeddings too" },
        { "WeightDecay_by_name_fails", (name, p) => name.EndsWith("weight"), "not the name" },
        { "WeightDecay_inverted_fails", (name, p) => p.shape.Length == 1, "the other way round" },
        { "WeightDecay_more_than_two_dimensions_fails", (name, p) => p.dim() > 2, "nothing is decayed" },
        { "WeightDecay_attention_only_gets_the_rule", (name, p) => name.Contains("attn") && p.dim() == 2, "the rule is the number of dimensions" },
    };

    [Theory, MemberData(nameof(WeightDecayMistakes))]
    public void WeightDecay_mistake_fails_with_its_hint(string mistake, Func<string, Parameter, bool> wrong, string hint) => FailsWith(Checks.WeightDecay(wrong), hint, mistake);

    [Fact]
    public void WeightDecay_failure_names_the_parameters_not_an_index()
    {
        // minGPT's rule: the embeddings are left out
        var r = Checks.WeightDecay((name, p) => p.dim() >= 2 && !name.StartsWith("wte") && !name.StartsWith("wpe"));
        FailsWith(r, "decays the embeddings too");
        Assert.Contains("2 of 28 parameters are decided wrong: wte.weight [11, 8] should be decayed, yours is not; wpe.weight [8, 8] should be decayed, yours is not", r.Message);
        Assert.DoesNotContain("first at [", r.Message);
    }

    [Fact]
    public void WeightDecay_failure_lists_at_most_four_parameters()
    {
        // wte, wpe and the two MLP weights of each of the 2 blocks are left out: 6 wrong, 4 named
        var r = Checks.WeightDecay((name, p) => name.Contains("attn") && p.dim() == 2);
        Assert.Contains("6 of 28 parameters are decided wrong: wte.weight [11, 8] should be decayed, yours is not; wpe.weight [8, 8] should be decayed, yours is not; ", r.Message);
        Assert.Contains("; and 2 more. Hint:", r.Message);
    }

    // ---------------------------------------------------------------- learning-rate schedule

    static double Lr(int step, double maxLr, double minLr, int warmup, int decaySteps, bool plusOne = true, bool intRatio = false,
        double half = 0.5, int sign = 1, bool floor = true, bool toZero = false)
    {
        if (step < warmup) return plusOne ? maxLr * (step + 1) / (warmup + 1) : maxLr * step / warmup;
        if (floor && step >= decaySteps) return toZero ? 0 : minLr;
        double ratio = intRatio ? (step - warmup) / (decaySteps - warmup) : (double)(step - warmup) / (decaySteps - warmup);
        double coeff = half * (1 + sign * Math.Cos(Math.PI * ratio));
        return toZero ? coeff * maxLr : minLr + coeff * (maxLr - minLr);
    }

    /// <summary>Right answers to LearningRate: each must pass.</summary>
    public static TheoryData<string, Func<int, double, double, int, int, double>> LearningRateRightAnswers => new()
    {
        { "LearningRate_reference_passes", (step, maxLr, minLr, warmup, decay) => new LrSchedule(maxLr, minLr, warmup, decay).At(step) },
        { "LearningRate_written_out_passes", (s, a, b, w, d) => Lr(s, a, b, w, d) },
    };

    [Theory, MemberData(nameof(LearningRateRightAnswers))]
    public void LearningRate_right_answer_passes(string answer, Func<int, double, double, int, int, double> right) => Passes(Checks.LearningRate(right), answer);

    [Fact]
    public void LearningRate_stub_is_not_implemented() =>
        Assert.True(Checks.LearningRate((_, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to LearningRate, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<int, double, double, int, int, double>, string> LearningRateMistakes => new()
    {
        { "LearningRate_warmup_from_zero_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, plusOne: false), "step 0 already learns" },
        { "LearningRate_integer_ratio_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, intRatio: true), "divides two ints" },
        { "LearningRate_without_half_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, half: 1), "0.5 · (1 + cos" },
        { "LearningRate_rising_cosine_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, sign: -1), "not the other way round" },
        { "LearningRate_without_floor_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, floor: false), "stays at minLr" },
        { "LearningRate_two_mistakes_name_the_phase", (step, maxLr, minLr, warmup, decaySteps) =>
            {
                if (step < warmup) return maxLr * step / warmup;                     // no + 1, and no floor after decaySteps
                return minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * (maxLr - minLr);
            }, "at step 0 the rate should be 9.90099e-6, yours is 0: during warmup" },
        { "LearningRate_decay_to_zero_fails", (s, a, b, w, d) => Lr(s, a, b, w, d, toZero: true), "ends at minLr, not 0" },
        { "LearningRate_build_nanogpt_warmup_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? maxLr * (step + 1) / warmup : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps), "reaches maxLr one step early" },
        { "LearningRate_warmup_fraction_in_ints_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? (step + 1) / (warmup + 1) * maxLr : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps), "(step + 1) / (warmup + 1) divides two ints" },
        { "LearningRate_warmup_from_minLr_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? minLr + (maxLr - minLr) * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps), "warmup starts from 0, not from minLr" },
        { "LearningRate_ratio_from_step_0_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
                : minLr + 0.5 * (1 + Math.Cos(Math.PI * step / decaySteps)) * (maxLr - minLr), "measure the decay from the end of warmup" },
        { "LearningRate_linear_decay_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
                : maxLr - (maxLr - minLr) * (step - warmup) / (decaySteps - warmup), "not the straight line 1 - ratio" },
        { "LearningRate_cosine_without_pi_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
                : minLr + 0.5 * (1 + Math.Cos((double)(step - warmup) / (decaySteps - warmup))) * (maxLr - minLr), "ratio alone only goes from 0 to 1 radian" },
        { "LearningRate_min_plus_coefficient_times_max_gets_a_hint", (step, maxLr, minLr, warmup, decaySteps) =>
                step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
                : minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * maxLr, "minLr + coeff · maxLr starts above maxLr" },
    };

    [Theory, MemberData(nameof(LearningRateMistakes))]
    public void LearningRate_mistake_fails_with_its_hint(string mistake, Func<int, double, double, int, int, double> wrong, string hint) => FailsWith(Checks.LearningRate(wrong), hint, mistake);

    // ---------------------------------------------------------------- the training step

    static double SetLr(optim.Optimizer o, double lr)
    {
        foreach (var g in o.ParamGroups) g.LearningRate = lr;
        return lr;
    }

    static Tensor Loss(Gpt model, Tensor x, Tensor y) => -Picked(model.forward(x).log_softmax(-1), y).mean();

    /// <summary>Right answers to TrainStep: each must pass.</summary>
    public static TheoryData<string, Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double>> TrainStepRightAnswers => new()
    {
        { "TrainStep_reference_passes", TrainingOps.Step },
        { "TrainStep_with_a_hand_written_loss_passes", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            } },
    };

    [Theory, MemberData(nameof(TrainStepRightAnswers))]
    public void TrainStep_right_answer_passes(string answer, Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double> right) => Passes(Checks.TrainStep(right), answer);

    [Fact]
    public void TrainStep_stub_is_not_implemented() =>
        Assert.True(Checks.TrainStep((_, _, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to TrainStep, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double>, string> TrainStepMistakes => new()
    {
        { "TrainStep_without_zero_grad_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "zero_grad() at the start" },
        { "TrainStep_without_optimizer_step_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                return loss.item<float>();                                                // no opt.step()
            }, "the weights did not move: the update needs loss.backward() (the gradients) and then optimizer.step()" },
        { "TrainStep_without_backward_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);                                             // no loss.backward()
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "the weights did not move" },
        { "TrainStep_zero_grad_after_backward_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                var loss = Loss(model, x, y);
                loss.backward();
                opt.zero_grad();                                                          // wipes the gradients just made
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "with zero_grad() before backward(), not after it" },
        { "TrainStep_clip_after_step_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                opt.step();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                return loss.item<float>();
            }, "clip between loss.backward() and optimizer.step()" },
        { "TrainStep_without_clipping_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                opt.step();
                return loss.item<float>();
            }, "clip between loss.backward() and optimizer.step()" },
        { "TrainStep_step_before_backward_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                opt.step();
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                return loss.item<float>();
            }, "optimizer.step() changed the weights in place before loss.backward()" },
        { "TrainStep_learning_rate_not_set_fails", (model, opt, x, y, lr, clip) =>
            {
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "set this step's learning rate" },
        { "TrainStep_clipping_values_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_value_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "not each value" },
        { "TrainStep_clipping_when_off_fails", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "gradClip = 0 means no clipping" },
        { "TrainStep_returning_the_loss_after_the_update_fails", (model, opt, x, y, lr, clip) =>
            {
                TrainingOps.Step(model, opt, x, y, lr, clip);
                using var _ = torch.no_grad();
                return Loss(model, x, y).item<float>();
            }, "before the update" },
        { "TrainStep_backward_twice_gets_a_hint", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                loss.backward();
                opt.step();
                return loss.item<float>();
            }, "call loss.backward() once per step" },
        { "TrainStep_learning_rate_on_the_first_group_only_gets_a_hint", (model, opt, x, y, lr, clip) =>
            {
                opt.ParamGroups.First().LearningRate = lr;
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<float>();
            }, "set the learning rate on EVERY parameter group" },
        { "TrainStep_forward_under_no_grad_gets_a_hint", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                Tensor loss;
                using (torch.no_grad()) loss = Loss(model, x, y);
                loss.backward();
                opt.step();
                return loss.item<float>();
            }, "the forward pass ran without gradients" },
        { "TrainStep_reading_the_loss_as_double_gets_a_hint", (model, opt, x, y, lr, clip) =>
            {
                SetLr(opt, lr);
                opt.zero_grad();
                var loss = Loss(model, x, y);
                loss.backward();
                if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
                opt.step();
                return loss.item<double>();
            }, "read it with loss.item<float>()" },
    };

    [Theory, MemberData(nameof(TrainStepMistakes))]
    public void TrainStep_mistake_fails_with_its_hint(string mistake, Func<Gpt, optim.Optimizer, Tensor, Tensor, double, double, double> wrong, string hint) => FailsWith(Checks.TrainStep(wrong), hint, mistake);

    [Fact]
    public void TrainStep_clip_is_active_in_the_checked_cases()
    {
        // the SGD case clips at 0.1: its gradient norm must be larger, or clipping mistakes would go unnoticed
        using var m = new Gpt(new GptConfig { VocabSize = 11, ContextLength = 8, NEmbd = 8, NLayer = 2, NHead = 2, Tokenizer = "char" }, CPU, seed: 401);
        m.train();
        var data = Enumerable.Range(0, 200).Select(i => i * 7 % 11).ToArray();
        var (x, y) = TrainingOps.GetBatch(data, 4, 8, new Random(1));
        TrainingOps.CrossEntropy(m.forward(x), y).backward();
        double norm = torch.nn.utils.clip_grad_norm_(m.parameters(), 1e9);
        Assert.True(norm > 0.3, $"gradient norm {norm}");
    }

    // ---------------------------------------------------------------- estimate_loss

    /// <summary>Right answers to EstimateLoss: each must pass.</summary>
    public static TheoryData<string, Func<Gpt, int[], int, int, int, Tensor>> EstimateLossRightAnswers => new()
    {
        { "EstimateLoss_reference_passes", TrainingOps.EstimateLoss },
        { "EstimateLoss_with_doubles_passes", (model, data, b, iters, seed) =>
            {
                model.eval();
                double total = 0;
                var rng = new Random(seed);
                using (torch.no_grad())
                    for (int k = 0; k < iters; k++)
                    {
                        var (x, y) = TrainingOps.GetBatch(data, b, model.Config.ContextLength, rng);
                        total += TrainingOps.CrossEntropy(model.forward(x), y).item<float>();
                    }
                model.train();
                return torch.tensor(total / iters);
            } },
        { "EstimateLoss_learner_style_passes", (m, d, b, n, s) => Estimate(m, d, b, n, s) },
    };

    [Theory, MemberData(nameof(EstimateLossRightAnswers))]
    public void EstimateLoss_right_answer_passes(string answer, Func<Gpt, int[], int, int, int, Tensor> right) => Passes(Checks.EstimateLoss(right), answer);

    /// <summary>A learner's estimate_loss with switches for the typical mistakes.</summary>
    static Tensor Estimate(Gpt model, int[] data, int batchSize, int iters, int seed, bool eval = true, bool noGrad = true,
        bool train = true, int first = 0, bool sum = false, Random? rng = null, bool rngInLoop = false)
    {
        if (eval) model.eval();
        var losses = new List<Tensor>();
        using (torch.set_grad_enabled(!noGrad))
        {
            var r = rng ?? new Random(seed);
            for (int k = first; k < iters; k++)
            {
                if (rngInLoop) r = new Random(seed);
                var (x, y) = TrainingOps.GetBatch(data, batchSize, model.Config.ContextLength, r);
                losses.Add(-Picked(model.forward(x).log_softmax(-1), y).mean());
            }
        }
        if (train) model.train();
        var all = torch.stack(losses);
        return sum ? all.sum() : all.mean();
    }

    [Fact]
    public void EstimateLoss_stub_is_not_implemented() =>
        Assert.True(Checks.EstimateLoss((_, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    /// <summary>Wrong answers to EstimateLoss, written as a learner would, and the hint each must get.</summary>
    public static TheoryData<string, Func<Gpt, int[], int, int, int, Tensor>, string> EstimateLossMistakes => new()
    {
        { "EstimateLoss_training_mode_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, eval: false), "dropout was on" },
        { "EstimateLoss_keeping_gradients_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, noGrad: false), "requires grad" },
        { "EstimateLoss_not_back_in_training_mode_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, train: false), "model.train() after" },
        { "EstimateLoss_one_batch_too_few_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, first: 1), "one batch too few" },
        { "EstimateLoss_sum_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, sum: true), "not their sum" },
        { "EstimateLoss_random_batches_fail", (m, d, b, n, s) => Estimate(m, d, b, n, s, rng: new Random()), "changes from call to call" },
        { "EstimateLoss_same_batch_every_time_fails", (m, d, b, n, s) => Estimate(m, d, b, n, s, rngInLoop: true), "a new Random(seed) for every batch draws the same batch" },
        { "EstimateLoss_first_batch_only_fails", (m, d, b, n, s) => Estimate(m, d, b, 1, s), "the loss of the first batch alone" },
        { "EstimateLoss_with_other_batches_gets_a_hint", (model, data, b, iters, seed) => Estimate(model, data, b, iters, seed, rng: new Random(seed + 1)), "the mode and the gradients are right, the loss is not" },
    };

    [Theory, MemberData(nameof(EstimateLossMistakes))]
    public void EstimateLoss_mistake_fails_with_its_hint(string mistake, Func<Gpt, int[], int, int, int, Tensor> wrong, string hint) => FailsWith(Checks.EstimateLoss(wrong), hint, mistake);

    // ---------------------------------------------------------------- the learner's random state

    [Fact]
    public void Checks_leave_torchs_random_state_alone()
    {
        torch.manual_seed(123);
        var expected = torch.rand(5).data<float>().ToArray();
        torch.manual_seed(123);
        Checks.TrainStep(TrainingOps.Step);
        Checks.EstimateLoss(TrainingOps.EstimateLoss);
        Checks.WeightDecay(TrainingOps.Decays);
        Assert.Equal(expected, torch.rand(5).data<float>().ToArray());
    }

    // ---------------------------------------------------------------- learner review (notebook 10, second pass)

    [Fact]
    public void GetBatch_next_token_as_id_plus_one_gets_a_hint()
    {
        var r = Checks.GetBatch((data, batchSize, blockSize, rng) =>
        {
            var x = new long[batchSize, blockSize];
            var y = new long[batchSize, blockSize];
            for (int b = 0; b < batchSize; b++)
            {
                int i = rng.Next(data.Length - blockSize);
                for (int t = 0; t < blockSize; t++) { x[b, t] = data[i + t]; y[b, t] = data[i + t] + 1; }
            }
            return (torch.tensor(x), torch.tensor(y));
        });
        FailsWith(r, "not the token id plus one");
        Assert.Contains("case '1,000 random ids", r.Message);                         // right on the ids 0, 1, ..., 19
    }

    static double Cosine(int step, double maxLr, double minLr, int warmup, int decaySteps) =>
        minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * (maxLr - minLr);

    [Fact]
    public void EstimateLoss_no_grad_without_using_gets_a_hint_and_gradients_come_back()
    {
        var r = Checks.EstimateLoss((model, data, b, iters, seed) =>
        {
            model.eval();
            torch.no_grad();                                                           // never disposed: gradients stay off
            var rng = new Random(seed);
            var losses = new List<Tensor>();
            for (int k = 0; k < iters; k++)
            {
                var (x, y) = TrainingOps.GetBatch(data, b, model.Config.ContextLength, rng);
                losses.Add(-Picked(model.forward(x).log_softmax(-1), y).mean());
            }
            model.train();
            return torch.stack(losses).mean();
        });
        FailsWith(r, "write using (torch.no_grad())");
        Assert.True(torch.is_grad_enabled());
    }

}
