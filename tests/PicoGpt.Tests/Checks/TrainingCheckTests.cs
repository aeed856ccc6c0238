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

    [Fact]
    public void GetBatch_reference_passes() => Passes(Checks.GetBatch(TrainingOps.GetBatch));

    [Fact]
    public void GetBatch_with_tensor_slices_passes() =>
        Passes(Checks.GetBatch((data, b, t, rng) =>
        {
            var d = torch.tensor(data.Select(v => (long)v).ToArray());                 // [len]
            var starts = Enumerable.Range(0, b).Select(_ => (long)rng.Next(data.Length - t)).ToArray();
            var x = torch.stack(starts.Select(i => d[TensorIndex.Slice(i, i + t)]).ToArray());
            var y = torch.stack(starts.Select(i => d[TensorIndex.Slice(i + 1, i + t + 1)]).ToArray());
            return (x, y);
        }));

    [Fact]
    public void GetBatch_stub_is_not_implemented() =>
        Assert.True(Checks.GetBatch((_, _, _, _) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void GetBatch_y_not_shifted_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) => Batch(data, b, t, rng, data.Length - t, yOffset: 0)), "y must be x shifted left by one");

    [Fact]
    public void GetBatch_x_and_y_swapped_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            var (x, y) = Batch(data, b, t, rng, data.Length - t);
            return (y, x);
        }), "swapped");

    [Fact]
    public void GetBatch_start_range_one_short_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) => Batch(data, b, t, rng, data.Length - t - 1)), "the last window is never drawn");

    [Fact]
    public void GetBatch_start_range_one_too_far_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) => Batch(data, b, t, rng, data.Length - t + 1)), "rng.Next(len - T)");

    [Fact]
    public void GetBatch_overrunning_the_data_end_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) => Batch(data, b, t, rng, data.Length)), "ran past the end");

    [Fact]
    public void GetBatch_one_start_for_all_rows_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            int i = rng.Next(data.Length - t);
            var x = torch.tensor(data[i..(i + t)].Select(v => (long)v).ToArray());
            var y = torch.tensor(data[(i + 1)..(i + t + 1)].Select(v => (long)v).ToArray());
            return (x.unsqueeze(0).repeat(b, 1), y.unsqueeze(0).repeat(b, 1));
        }), "a new start for every row");

    [Fact]
    public void GetBatch_int32_ids_fail() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            var (x, y) = Batch(data, b, t, rng, data.Length - t);
            return (x.to(ScalarType.Int32), y.to(ScalarType.Int32));
        }), "int64");

    [Fact]
    public void GetBatch_valid_windows_drawn_another_way_fail() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            var starts = Enumerable.Range(0, b).Select(_ => (int)rng.NextInt64(data.Length - t)).Reverse().ToArray();
            var x = torch.tensor(starts.SelectMany(i => data[i..(i + t)]).Select(v => (long)v).ToArray(), new long[] { b, t });
            var y = torch.tensor(starts.SelectMany(i => data[(i + 1)..(i + t + 1)]).Select(v => (long)v).ToArray(), new long[] { b, t });
            return (x, y);
        }), "drawn differently");

    [Fact]
    public void GetBatch_flat_tensors_get_a_hint() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            var (x, y) = Batch(data, b, t, rng, data.Length - t);
            return (x.flatten(), y.flatten());                                        // torch.tensor(long[]) without the shape
        }), "x and y are [B, T] each: give torch.tensor the shape");

    [Fact]
    public void GetBatch_y_from_a_window_of_its_own_fails() =>
        FailsWith(Checks.GetBatch((data, b, t, rng) =>
        {
            var x = new long[b * t];
            var y = new long[b * t];
            for (int row = 0; row < b; row++)
            {
                int i = rng.Next(data.Length - t), j = rng.Next(data.Length - t); // one start for x, another for y
                for (int k = 0; k < t; k++) { x[row * t + k] = data[i + k]; y[row * t + k] = data[j + k + 1]; }
            }
            return (torch.tensor(x, new long[] { b, t }), torch.tensor(y, new long[] { b, t }));
        }), "x and y come from the same window");

    // ---------------------------------------------------------------- cross-entropy

    static Tensor Picked(Tensor logProbs, Tensor targets) => logProbs.gather(-1, targets.unsqueeze(-1)).squeeze(-1); // [B, T]

    [Fact]
    public void CrossEntropy_reference_passes() => Passes(Checks.CrossEntropy(TrainingOps.CrossEntropy));

    [Fact]
    public void CrossEntropy_from_log_softmax_and_gather_passes() =>
        Passes(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets).mean()));

    [Fact]
    public void CrossEntropy_from_logsumexp_passes() =>
        Passes(Checks.CrossEntropy((logits, targets) => (logits.logsumexp(-1) - Picked(logits, targets)).mean()));

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

    [Fact]
    public void CrossEntropy_sum_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets).sum()), "not the sum");

    [Fact]
    public void CrossEntropy_without_minus_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => Picked(logits.log_softmax(-1), targets).mean()), "minus sign");

    [Fact]
    public void CrossEntropy_sum_without_minus_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).sum()), "forgot the minus sign, and summed");

    [Fact]
    public void CrossEntropy_negative_loss_is_explained() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets).mean() - 10), "never negative");

    [Fact]
    public void CrossEntropy_hand_softmax_then_log_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) =>
        {
            var e = logits.exp();
            var probs = e / e.sum(-1, keepdim: true);
            return -Picked(probs.log(), targets).mean();
        }), "unstable");

    [Fact]
    public void CrossEntropy_log_of_softmax_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.softmax(-1).log(), targets).mean()), "unstable");

    [Fact]
    public void CrossEntropy_shifting_again_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) =>
        {
            long t = logits.shape[1];
            var l = logits.narrow(1, 0, t - 1);                                  // positions 0 .. T-2
            var y = targets.narrow(1, 1, t - 1);                                 // targets 1 .. T-1
            return -Picked(l.log_softmax(-1), y).mean();
        }), "do not shift again");

    [Fact]
    public void CrossEntropy_last_position_only_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) =>
        {
            long t = logits.shape[1];
            return F.cross_entropy(logits.select(1, t - 1), targets.select(1, t - 1));
        }), "every position");

    [Fact]
    public void CrossEntropy_not_flattened_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => F.cross_entropy(logits, targets)), "flatten first");

    [Fact]
    public void CrossEntropy_per_position_losses_fail() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets)), "one loss per position");

    [Fact]
    public void CrossEntropy_mean_over_vocabulary_fails() =>
        FailsWith(Checks.CrossEntropy((logits, targets) =>
            -(logits.log_softmax(-1) * F.one_hot(targets, logits.shape[^1]).to(logits.dtype)).mean()), "over the vocabulary too");

    // ---------------------------------------------------------------- weight decay

    [Fact]
    public void WeightDecay_reference_passes() => Passes(Checks.WeightDecay(TrainingOps.Decays));

    [Fact]
    public void WeightDecay_stub_is_not_implemented() =>
        Assert.True(Checks.WeightDecay((_, _) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void WeightDecay_everything_fails() => FailsWith(Checks.WeightDecay((name, p) => true), "get no weight decay");

    [Fact]
    public void WeightDecay_linear_weights_only_fails() =>
        FailsWith(Checks.WeightDecay((name, p) => name.Contains("c_") && name.EndsWith(".weight")), "decays the embeddings too");

    [Fact]
    public void WeightDecay_by_name_fails() => FailsWith(Checks.WeightDecay((name, p) => name.EndsWith("weight")), "not the name");

    [Fact]
    public void WeightDecay_inverted_fails() => FailsWith(Checks.WeightDecay((name, p) => p.shape.Length == 1), "the other way round");

    [Fact]
    public void WeightDecay_more_than_two_dimensions_fails() => FailsWith(Checks.WeightDecay((name, p) => p.dim() > 2), "nothing is decayed");

    [Fact]
    public void WeightDecay_attention_only_names_the_tensors() =>
        FailsWith(Checks.WeightDecay((name, p) => name.Contains("attn") && p.dim() == 2), "should be decayed (2 or more dimensions): wte.weight");

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

    [Fact]
    public void LearningRate_reference_passes() =>
        Passes(Checks.LearningRate((step, maxLr, minLr, warmup, decay) => new LrSchedule(maxLr, minLr, warmup, decay).At(step)));

    [Fact]
    public void LearningRate_written_out_passes() => Passes(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d)));

    [Fact]
    public void LearningRate_stub_is_not_implemented() =>
        Assert.True(Checks.LearningRate((_, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void LearningRate_warmup_from_zero_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, plusOne: false)), "step 0 already learns");

    [Fact]
    public void LearningRate_integer_ratio_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, intRatio: true)), "divides two ints");

    [Fact]
    public void LearningRate_without_half_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, half: 1)), "0.5 · (1 + cos");

    [Fact]
    public void LearningRate_rising_cosine_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, sign: -1)), "not the other way round");

    [Fact]
    public void LearningRate_without_floor_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, floor: false)), "stays at minLr");

    [Fact]
    public void LearningRate_two_mistakes_name_the_phase() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
        {
            if (step < warmup) return maxLr * step / warmup;                     // no + 1, and no floor after decaySteps
            return minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * (maxLr - minLr);
        }), "at step 0 the rate should be 9.90099e-6, yours is 0: during warmup");

    [Fact]
    public void LearningRate_decay_to_zero_fails() =>
        FailsWith(Checks.LearningRate((s, a, b, w, d) => Lr(s, a, b, w, d, toZero: true)), "ends at minLr, not 0");

    // ---------------------------------------------------------------- the training step

    static double SetLr(optim.Optimizer o, double lr)
    {
        foreach (var g in o.ParamGroups) g.LearningRate = lr;
        return lr;
    }

    static Tensor Loss(Gpt model, Tensor x, Tensor y) => -Picked(model.forward(x).log_softmax(-1), y).mean();

    [Fact]
    public void TrainStep_reference_passes() => Passes(Checks.TrainStep(TrainingOps.Step));

    [Fact]
    public void TrainStep_with_a_hand_written_loss_passes() =>
        Passes(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }));

    [Fact]
    public void TrainStep_stub_is_not_implemented() =>
        Assert.True(Checks.TrainStep((_, _, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void TrainStep_without_zero_grad_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "zero_grad() at the start");

    [Fact]
    public void TrainStep_without_optimizer_step_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            return loss.item<float>();                                                // no opt.step()
        }), "the weights did not move: the update needs loss.backward() (the gradients) and then optimizer.step()");

    [Fact]
    public void TrainStep_without_backward_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);                                             // no loss.backward()
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "the weights did not move");

    [Fact]
    public void TrainStep_zero_grad_after_backward_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            var loss = Loss(model, x, y);
            loss.backward();
            opt.zero_grad();                                                          // wipes the gradients just made
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "with zero_grad() before backward(), not after it");

    [Fact]
    public void TrainStep_clip_after_step_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            opt.step();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            return loss.item<float>();
        }), "clip between loss.backward() and optimizer.step()");

    [Fact]
    public void TrainStep_without_clipping_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            opt.step();
            return loss.item<float>();
        }), "clip between loss.backward() and optimizer.step()");

    [Fact]
    public void TrainStep_step_before_backward_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            opt.step();
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            return loss.item<float>();
        }), "optimizer.step() changed the weights in place before loss.backward()");

    [Fact]
    public void TrainStep_learning_rate_not_set_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "set this step's learning rate");

    [Fact]
    public void TrainStep_clipping_values_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_value_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "not each value");

    [Fact]
    public void TrainStep_clipping_when_off_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "gradClip = 0 means no clipping");

    [Fact]
    public void TrainStep_returning_the_loss_after_the_update_fails() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            TrainingOps.Step(model, opt, x, y, lr, clip);
            using var _ = torch.no_grad();
            return Loss(model, x, y).item<float>();
        }), "before the update");

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

    [Fact]
    public void EstimateLoss_reference_passes() => Passes(Checks.EstimateLoss(TrainingOps.EstimateLoss));

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
    public void EstimateLoss_with_doubles_passes() =>
        Passes(Checks.EstimateLoss((model, data, b, iters, seed) =>
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
        }));

    [Fact]
    public void EstimateLoss_learner_style_passes() => Passes(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s)));

    [Fact]
    public void EstimateLoss_stub_is_not_implemented() =>
        Assert.True(Checks.EstimateLoss((_, _, _, _, _) => throw new NotImplementedException()).NotImplemented);

    [Fact]
    public void EstimateLoss_training_mode_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, eval: false)), "dropout was on");

    [Fact]
    public void EstimateLoss_keeping_gradients_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, noGrad: false)), "requires grad");

    [Fact]
    public void EstimateLoss_not_back_in_training_mode_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, train: false)), "model.train() after");

    [Fact]
    public void EstimateLoss_one_batch_too_few_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, first: 1)), "one batch too few");

    [Fact]
    public void EstimateLoss_sum_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, sum: true)), "not their sum");

    [Fact]
    public void EstimateLoss_random_batches_fail() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, rng: new Random())), "changes from call to call");

    [Fact]
    public void EstimateLoss_same_batch_every_time_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, n, s, rngInLoop: true)), "a new Random(seed) for every batch draws the same batch");

    [Fact]
    public void EstimateLoss_first_batch_only_fails() =>
        FailsWith(Checks.EstimateLoss((m, d, b, n, s) => Estimate(m, d, b, 1, s)), "the loss of the first batch alone");

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
    public void GetBatch_filled_column_by_column_gets_a_hint() =>
        FailsWith(Checks.GetBatch((data, batchSize, blockSize, rng) =>
        {
            var x = new long[batchSize * blockSize];
            var y = new long[batchSize * blockSize];
            for (int b = 0; b < batchSize; b++)
            {
                int i = rng.Next(data.Length - blockSize);
                for (int t = 0; t < blockSize; t++) { x[t * batchSize + b] = data[i + t]; y[t * batchSize + b] = data[i + t + 1]; }
            }
            return (torch.tensor(x, new long[] { batchSize, blockSize }), torch.tensor(y, new long[] { batchSize, blockSize }));
        }), "not x[t * batchSize + b]");

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

    [Fact]
    public void CrossEntropy_summed_over_the_positions_gets_a_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets).sum(1).mean()), "summing over T and averaging over B");

    [Fact]
    public void CrossEntropy_in_bits_gets_a_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -Picked(logits.log_softmax(-1), targets).mean() / Math.Log(2)), "dividing by ln 2 gives bits");

    [Fact]
    public void CrossEntropy_returned_as_float32_gets_the_dtype_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1)).to(ScalarType.Float32)),
            "the numbers are right, but the result must keep the inputs' dtype (float64), yours is float32");

    [Fact]
    public void CrossEntropy_on_logits_transposed_to_classes_first_passes() =>
        Passes(Checks.CrossEntropy((logits, targets) => F.cross_entropy(logits.transpose(1, 2), targets)));

    static double Cosine(int step, double maxLr, double minLr, int warmup, int decaySteps) =>
        minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * (maxLr - minLr);

    [Fact]
    public void LearningRate_build_nanogpt_warmup_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / warmup : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps)),
            "reaches maxLr one step early");

    [Fact]
    public void LearningRate_warmup_fraction_in_ints_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? (step + 1) / (warmup + 1) * maxLr : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps)),
            "(step + 1) / (warmup + 1) divides two ints");

    [Fact]
    public void LearningRate_warmup_from_minLr_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? minLr + (maxLr - minLr) * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr : Cosine(step, maxLr, minLr, warmup, decaySteps)),
            "warmup starts from 0, not from minLr");

    [Fact]
    public void LearningRate_ratio_from_step_0_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
            : minLr + 0.5 * (1 + Math.Cos(Math.PI * step / decaySteps)) * (maxLr - minLr)), "measure the decay from the end of warmup");

    [Fact]
    public void LearningRate_linear_decay_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
            : maxLr - (maxLr - minLr) * (step - warmup) / (decaySteps - warmup)), "not the straight line 1 - ratio");

    [Fact]
    public void LearningRate_cosine_without_pi_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
            : minLr + 0.5 * (1 + Math.Cos((double)(step - warmup) / (decaySteps - warmup))) * (maxLr - minLr)), "ratio alone only goes from 0 to 1 radian");

    [Fact]
    public void LearningRate_min_plus_coefficient_times_max_gets_a_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1) : step >= decaySteps ? minLr
            : minLr + 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (decaySteps - warmup))) * maxLr), "minLr + coeff · maxLr starts above maxLr");

    [Fact]
    public void TrainStep_backward_twice_gets_a_hint() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            loss.backward();
            opt.step();
            return loss.item<float>();
        }), "call loss.backward() once per step");

    [Fact]
    public void TrainStep_learning_rate_on_the_first_group_only_gets_a_hint() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            opt.ParamGroups.First().LearningRate = lr;
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<float>();
        }), "set the learning rate on EVERY parameter group");

    [Fact]
    public void TrainStep_forward_under_no_grad_gets_a_hint() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            Tensor loss;
            using (torch.no_grad()) loss = Loss(model, x, y);
            loss.backward();
            opt.step();
            return loss.item<float>();
        }), "the forward pass ran without gradients");

    [Fact]
    public void TrainStep_reading_the_loss_as_double_gets_a_hint() =>
        FailsWith(Checks.TrainStep((model, opt, x, y, lr, clip) =>
        {
            SetLr(opt, lr);
            opt.zero_grad();
            var loss = Loss(model, x, y);
            loss.backward();
            if (clip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), clip);
            opt.step();
            return loss.item<double>();
        }), "read it with loss.item<float>()");

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

    [Fact]
    public void EstimateLoss_with_other_batches_gets_a_hint() =>
        FailsWith(Checks.EstimateLoss((model, data, b, iters, seed) => Estimate(model, data, b, iters, seed, rng: new Random(seed + 1))),
            "the mode and the gradients are right, the loss is not");

    [Fact]
    public void CrossEntropy_gather_along_the_positions_gets_a_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -logits.log_softmax(-1).gather(1, targets.unsqueeze(-1)).mean()), "gather along the last axis, the vocabulary");

    [Fact]
    public void CrossEntropy_float_index_gets_a_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1).to(logits.dtype)).mean()), "gather's index must be int64");
}
