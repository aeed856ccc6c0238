using PicoGpt.Exercises;
using PicoGpt.Sampling;
using TorchSharp;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>
/// Issue #18's classes of check defects, each with a wrong answer written the way a learner writes it: an argument the
/// text asks for that no case varied (eps, nHead), a numerically fragile answer inlined in a later exercise, an exception
/// of the learner's own code, a helper that failed its own check, the 2017 Transformer's habits, and numbers that print alike.
/// </summary>
public class LearnerCheckTests
{
    // ---------------------------------------------------------------- every argument varied

    [Fact]
    public void Normalize_that_ignores_its_eps_fails()
    {
        var r = Checks.Normalize((x, eps) =>
        {
            var mean = x.mean(new long[] { -1 }, keepdim: true);
            var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true);
            return (x - mean) / (variance + 1e-5).sqrt();
        });
        FailsWith(r, "ignores its eps argument");
    }

    [Fact]
    public void LayerNorm_that_does_not_pass_eps_on_to_Normalize_fails()
    {
        static Tensor Normalize(Tensor x, double eps = 1e-5)
        {
            var mean = x.mean(new long[] { -1 }, keepdim: true);
            var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true);
            return (x - mean) / (variance + eps).sqrt();
        }
        FailsWith(Checks.LayerNorm((x, g, b, eps) => g * Normalize(x) + b), "ignores its eps argument");
    }

    [Fact]
    public void LayerNorm_with_the_builtin_and_no_eps_fails() =>
        FailsWith(Checks.LayerNorm((x, g, b, eps) => torch.nn.functional.layer_norm(x, new long[] { x.shape[^1] }, g, b)), "ignores its eps argument");

    [Fact]
    public void LayerNorm_that_passes_eps_on_passes() =>
        Passes(Checks.LayerNorm((x, g, b, eps) => torch.nn.functional.layer_norm(x, new long[] { x.shape[^1] }, g, b, eps)));

    [Fact]
    public void Gpt2_with_two_heads_hard_coded_fails() =>
        FailsWith(Checks.Gpt2((ids, p, nHead) =>
        {
            var x = p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])];
            foreach (var block in p.Blocks) x = Ops.TransformerBlock(x, block, 2);
            return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);
        }), "pass nHead on to every block");

    // ---------------------------------------------------------------- dtypes compared everywhere

    [Fact]
    public void TopK_in_float64_for_float32_logits_fails() =>
        FailsWith(Checks.TopK((logits, k) => Sampler.TopK(logits, k).to(ScalarType.Float64)), "keep the inputs' dtype");

    [Fact]
    public void EstimateLoss_with_windows_of_a_fixed_length_fails()
    {
        Tensor EstimateLoss(PicoGpt.Model.Gpt model, int[] data, int batchSize, int iters, int seed)
        {
            model.eval();
            var rng = new Random(seed);
            var losses = torch.zeros(iters);
            using (torch.no_grad())
                for (int k = 0; k < iters; k++)
                {
                    var (x, y) = PicoGpt.Training.TrainingOps.GetBatch(data, batchSize, 8, rng);      // the context of the first cases
                    losses[k] = PicoGpt.Training.TrainingOps.CrossEntropy(model.forward(x), y);
                }
            model.train();
            return losses.mean();
        }
        FailsWith(Checks.EstimateLoss(EstimateLoss), "this model's context is 12");
    }

    // ---------------------------------------------------------------- cases the text promises, inputs left alone (review 22:01)

    [Fact]
    public void Dropout_in_place_on_the_callers_x_fails() =>
        FailsWith(Checks.Dropout((x, p, training, generator) =>
        {
            if (!training) return x;
            var keep = torch.rand(x.shape, dtype: x.dtype, device: x.device, generator: generator) >= p;
            return x.mul_(keep).div_(1 - p);
        }), "write into the tensor they are called on");

    [Fact]
    public void TopK_in_place_on_the_callers_logits_fails() =>
        FailsWith(Checks.TopK((logits, k) =>
        {
            if (k >= logits.shape[^1]) return logits;
            var kth = logits.topk(k, dim: -1).values.narrow(-1, k - 1, 1);
            return logits.masked_fill_(logits < kth, double.NegativeInfinity);
        }), "write into the tensor they are called on");

    [Fact]
    public void TopK_that_drops_the_ties_fails_on_the_tie_the_text_promises()
    {
        var r = Checks.TopK((logits, k) =>
        {
            if (k >= logits.shape[^1]) return logits;
            var (values, indices) = logits.topk(k, dim: -1);
            return torch.full_like(logits, double.NegativeInfinity).scatter(-1, indices, values);
        });
        FailsWith(r, "keep every logit that ties with the k-th largest");
        Assert.Contains("a tie at the k-th value", r.Message);
    }

    [Fact]
    public void ParameterCount_in_int_overflows_on_the_large_case() =>
        FailsWith(Checks.ParameterCount((c, tiedHead) =>
        {
            int V = c.VocabSize, T = c.ContextLength, C = c.NEmbd, L = c.NLayer;
            bool bias = c.Bias, qkv = c.Bias && c.QkvBias;
            int ln = bias ? 2 * C : C;
            int attn = C * 3 * C + (qkv ? 3 * C : 0) + C * C + (bias ? C : 0);
            int mlp = C * 4 * C + (bias ? 4 * C : 0) + 4 * C * C + (bias ? C : 0);
            int block = 2 * ln + attn + mlp;
            return V * C + T * C + L * block + ln + (tiedHead ? 0 : V * C);
        }), "your count overflowed an int");

    [Fact]
    public void TrainStep_that_leaves_the_model_in_eval_fails() =>
        FailsWith(Checks.TrainStep((model, optimizer, x, y, lr, gradClip) =>
        {
            model.eval();
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            optimizer.zero_grad();
            var loss = PicoGpt.Training.TrainingOps.CrossEntropy(model.forward(x), y);
            loss.backward();
            if (gradClip > 0) torch.nn.utils.clip_grad_norm_(model.parameters(), gradClip);
            optimizer.step();
            return loss.item<float>();
        }), "leave the model in training mode");

    [Fact]
    public void NnLinear_with_functional_linear_and_weight_T_is_told_linear_transposes_itself() =>
        FailsWith(Checks.NnLinear((x, weight, bias) => torch.nn.functional.linear(x, weight.T, bias)), "linear transposes it itself");

    [Fact]
    public void Attention_with_an_integer_square_root_is_told_so() =>
        FailsWith(Checks.Attention((q, k, v, mask) =>
        {
            int scale = (int)Math.Sqrt(q.shape[^1]);
            var scores = q.matmul(k.transpose(-2, -1)) / scale;
            return Ops.Softmax(scores + mask).matmul(v);
        }), "(int)Math.Sqrt(d_k) truncated it");

    [Fact]
    public void Sample_with_top_p_before_top_k_is_told_the_order() =>
        FailsWith(Checks.Sample((logits, temperature, topK, topP, g) =>
        {
            if (temperature == 0) return logits.argmax(-1, keepdim: true);
            var x = logits / temperature;
            if (topP is double pp) x = Sampler.TopP(x, pp);
            if (topK is int k) x = Sampler.TopK(x, k);
            return torch.multinomial(x.softmax(-1), 1, generator: g);
        }), "apply top-k first, then top-p");

    [Fact]
    public void Gelu_with_an_integer_fraction_in_the_constant_is_told_so() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / 3) * (x + 0.044715 * x.pow(3))).tanh())), "integer division");

    [Fact]
    public void Gelu_without_the_x_in_the_bracket_is_told_so() =>
        FailsWith(Checks.Gelu(x => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (0.044715 * x.pow(3))).tanh())), "you left out the x");

    [Fact]
    public void Softmax_divided_by_the_max_of_exp_is_told_to_divide_by_the_sum() =>
        FailsWith(Checks.Softmax(x => { var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp(); return e / e.amax(new long[] { -1 }, keepdim: true); }), "not by its max");

    [Fact]
    public void Gpt2_running_the_first_block_every_time_is_told_so() =>
        FailsWith(Checks.Gpt2((ids, p, nHead) =>
        {
            var x = p.Wte[ids] + p.Wpe[torch.arange(ids.shape[^1])];
            for (int l = 0; l < p.Blocks.Count; l++) x = Ops.TransformerBlock(x, p.Blocks[0], nHead);
            return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);
        }), "you ran p.Blocks[0] every time");

    [Fact]
    public void CrossEntropy_without_gather_is_told_to_pick_the_target() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -logits.log_softmax(-1).mean()), "pick each position's target");

    [Fact]
    public void CrossEntropy_per_sequence_is_told_to_average_everything() =>
        FailsWith(Checks.CrossEntropy((logits, targets) => -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean([1])), "one loss per sequence");

    [Fact]
    public void LearningRate_down_to_0_with_minLr_only_after_is_told_where_the_cosine_ends() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1)
            : step >= decaySteps ? minLr
            : 0.5 * (1 + Math.Cos(Math.PI * (double)(step - warmup) / (decaySteps - warmup))) * maxLr), "yours goes down to 0 and jumps to minLr");

    [Fact]
    public void GetBatch_with_lazy_LINQ_starts_is_told_y_is_not_x_shifted() =>
        FailsWith(Checks.GetBatch((data, batchSize, blockSize, rng) =>
        {
            var starts = Enumerable.Range(0, batchSize).Select(_ => rng.Next(data.Length - blockSize));      // enumerated twice: two draws
            var x = starts.SelectMany(s => data.Skip(s).Take(blockSize)).Select(v => (long)v).ToArray();
            var y = starts.SelectMany(s => data.Skip(s + 1).Take(blockSize)).Select(v => (long)v).ToArray();
            return (torch.tensor(x, new long[] { batchSize, blockSize }), torch.tensor(y, new long[] { batchSize, blockSize }));
        }), "y is not x shifted by one");

    [Fact]
    public void Generate_that_keeps_only_the_window_is_told_to_keep_every_id() =>
        FailsWith(Checks.Generate((ids, gpt, nNew, nCtx) =>
        {
            for (int i = 0; i < nNew; i++)
            {
                if (ids.shape[1] > nCtx) ids = ids[.., ^nCtx..];
                var next = gpt(ids)[.., -1].argmax(-1, keepdim: true);
                ids = torch.cat(new[] { ids, next }, dim: 1);
            }
            return ids.shape[1] > nCtx ? ids[.., ^nCtx..] : ids;
        }), "crop only what you pass to the model");

    [Fact]
    public void LearningRate_with_a_float_ratio_is_told_to_compute_in_double() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
        {
            if (step < warmup) return maxLr * (step + 1) / (warmup + 1);
            if (step >= decaySteps) return minLr;
            float ratio = (float)(step - warmup) / (decaySteps - warmup);
            return minLr + 0.5 * (1 + Math.Cos(Math.PI * ratio)) * (maxLr - minLr);
        }), "off by about float32's precision");

    // ---------------------------------------------------------------- fragile answers inlined later

    [Fact]
    public void Attention_with_a_naive_softmax_inline_fails_on_large_scores()
    {
        var r = Checks.Attention((q, k, v, mask) =>
        {
            var s = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + mask;
            var e = s.exp();
            return (e / e.sum(-1, keepdim: true)).matmul(v);
        });
        FailsWith(r, "subtract each row's max first");
        Assert.Contains("large scores", r.Message);
    }

    [Fact]
    public void MultiHeadAttention_with_a_naive_softmax_inline_fails_on_large_activations()
    {
        var r = Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, k, v) = (CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead));
            var s = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + Ops.CausalMask(x.shape[^2], x.dtype);
            var e = s.exp();
            return Ops.Linear(CourseOps.MergeHeads((e / e.sum(-1, keepdim: true)).matmul(v)), p.CProj.W, p.CProj.B);
        });
        FailsWith(r, "subtract each row's max first");
        Assert.Contains("large activations", r.Message);
    }

    [Fact]
    public void Sample_with_a_naive_softmax_inline_fails_on_shifted_logits()
    {
        var r = Checks.Sample((logits, temperature, topK, topP, g) =>
        {
            if (temperature == 0) return logits.argmax(-1, keepdim: true);
            var x = logits / temperature;
            if (topK is int k) x = Sampler.TopK(x, k);
            if (topP is double p) x = Sampler.TopP(x, p);
            var e = x.exp();
            return torch.multinomial(e / e.sum(-1, keepdim: true), 1, generator: g);
        });
        FailsWith(r, "a softmax written inline overflowed");
        Assert.Contains("+ 1000", r.Message);
    }

    // ---------------------------------------------------------------- exceptions of the learner's own code

    [Fact]
    public void Softmax_with_data_of_the_wrong_type_gets_the_dtype_rule()
    {
        var r = Checks.Softmax(x =>
        {
            var vals = x.data<float>().ToArray();
            var max = vals.Max();
            var exps = vals.Select(v => Math.Exp(v - max)).ToArray();
            var sum = exps.Sum();
            return torch.tensor(exps.Select(e => (float)(e / sum)).ToArray()).reshape(x.shape);
        });
        FailsWith(r, "T must be its own element type");
        Assert.Contains("item<double>() / data<double>()", r.Hint);              // the float64 case: Single asked, Float64 there
    }

    [Fact]
    public void Softmax_with_item_double_on_float32_gets_the_dtype_rule()
    {
        var r = Checks.Softmax(x =>
        {
            var rows = x.reshape(-1, x.shape[^1]);
            var outRows = new List<Tensor>();
            for (long i = 0; i < rows.shape[0]; i++)
            {
                var m = rows[i].max().item<double>();
                var e = (rows[i] - m).exp();
                outRows.Add(e / e.sum());
            }
            return torch.stack(outRows).reshape(x.shape);
        });
        FailsWith(r, "you asked for Double, but the tensor is float32");
        Assert.Contains("item<float>()", r.Hint);
    }

    [Fact]
    public void A_null_result_of_a_helper_gets_the_null_hint()
    {
        Tensor? cache = null;
        FailsWith(Checks.Gelu(x => cache!.add(x)), "is null when it is used");
    }

    [Fact]
    public void An_index_past_the_end_gets_the_index_hint() =>
        FailsWith(Checks.Gelu(x => { var sizes = new long[2]; return x * sizes[2 + (int)x.dim()]; }), "an index ran past the end");

    [Fact]
    public void SplitHeads_with_the_head_size_inverted_says_it_came_out_0() =>
        FailsWith(Checks.SplitHeads((x, nHead) =>
        {
            long hs = nHead / x.shape[^1];
            return x.reshape([.. x.shape[..^1], nHead, hs]).transpose(-3, -2);
        }), "your head size came out 0");

    [Fact]
    public void SplitHeads_cut_as_hs_then_heads_gets_the_order_of_the_cut() =>
        FailsWith(Checks.SplitHeads((x, nHead) =>
        {
            long hs = x.shape[^1] / nHead;
            return x.reshape([.. x.shape[..^1], hs, nHead]).transpose(-3, -1);
        }), "cut the last axis as [n_head, hs]");

    [Fact]
    public void Normalize_over_axis_1_is_told_the_axis_not_to_subtract_a_mean() =>
        FailsWith(Checks.Normalize((x, eps) =>
        {
            long n = x.shape[^1];
            var mean = x.sum(1, keepdim: true) / n;
            var variance = (x - mean).pow(2).sum(1, keepdim: true) / n;
            return (x - mean) / (variance + eps).sqrt();
        }), "axis 1 is the last axis only for a 2-D x");

    // ---------------------------------------------------------------- the helper is the one that is wrong

    static Tensor NormalizeEpsOutside(Tensor x, double eps = 1e-5)
    {
        var mean = x.mean(new long[] { -1 }, keepdim: true);
        var variance = (x - mean).pow(2).mean(new long[] { -1 }, keepdim: true);
        return (x - mean) / (variance.sqrt() + eps);
    }

    static Tensor LayerNormOnTop(Tensor x, Tensor g, Tensor b, double eps = 1e-5) => g * NormalizeEpsOutside(x, eps) + b;

    [Fact]
    public void LayerNorm_on_a_Normalize_that_failed_its_check_names_Normalize_first()
    {
        var normalize = Checks.Normalize(NormalizeEpsOutside);
        Assert.False(normalize.Passed);
        var r = Checks.LayerNorm(LayerNormOnTop);
        FailsWith(r, "your LayerNormOnTop calls your NormalizeEpsOutside, which failed its check (normalize)");
        Assert.StartsWith("your LayerNormOnTop calls", r.Hint);
        Assert.Contains("eps goes inside the square root", r.Hint);            // and still what this check sees
    }

    [Fact]
    public void A_helper_note_needs_the_call()
    {
        static Tensor SomeOtherNormalize(Tensor x, double eps = 1e-5) => Ops.Normalize(x, eps) * 2;
        Assert.False(Checks.Normalize(SomeOtherNormalize).Passed);
        var r = Checks.LayerNorm((Func<Tensor, Tensor, Tensor, double, Tensor>)LayerNormOnTop);
        Assert.DoesNotContain("SomeOtherNormalize", r.Hint);                   // the premise: LayerNormOnTop never calls it
    }

    // ---------------------------------------------------------------- the 2017 Transformer's habits

    [Fact]
    public void MultiHeadAttention_with_dropout_left_on_is_called_random_not_a_leak()
    {
        var r = Checks.MultiHeadAttention((x, p, nHead) =>
        {
            var qkv = Ops.Linear(x, p.CAttn.W, p.CAttn.B).chunk(3, dim: -1);
            var (q, k, v) = (CourseOps.SplitHeads(qkv[0], nHead), CourseOps.SplitHeads(qkv[1], nHead), CourseOps.SplitHeads(qkv[2], nHead));
            var w = (q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]) + Ops.CausalMask(x.shape[^2], x.dtype)).softmax(-1);
            w = torch.nn.functional.dropout(w, 0.1);
            return Ops.Linear(CourseOps.MergeHeads(w.matmul(v)), p.CProj.W, p.CProj.B);
        });
        FailsWith(r, "Dropout left on?");
        Assert.DoesNotContain("future positions", r.Hint);
    }

    [Fact]
    public void TransformerBlock_with_dropout_on_the_branches_is_called_random() =>
        FailsWith(Checks.TransformerBlock((x, p, nHead) =>
        {
            x = x + torch.nn.functional.dropout(Ops.MultiHeadAttention(Ops.LayerNorm(x, p.Ln1.G, p.Ln1.B), p.Attn, nHead), 0.1);
            return x + torch.nn.functional.dropout(Ops.FeedForward(Ops.LayerNorm(x, p.Ln2.G, p.Ln2.B), p.Mlp), 0.1);
        }), "Dropout left on?");

    [Fact]
    public void Gpt2_with_sinusoidal_positions_fails_with_the_2017_hint() =>
        FailsWith(Checks.Gpt2((ids, p, nHead) =>
        {
            long n = ids.shape[^1], d = p.Wte.shape[1];
            var pos = torch.arange(n, dtype: p.Wte.dtype).unsqueeze(1);                       // [n, 1]
            var i2 = torch.arange(0, d, 2, dtype: p.Wte.dtype);                                // [d / 2]
            var angle = pos / torch.pow(10000.0, i2 / d);                                      // [n, d / 2]
            var pe = torch.stack([angle.sin(), angle.cos()], -1).reshape(n, d);                // [n, d]
            var x = p.Wte[ids] + pe;
            foreach (var block in p.Blocks) x = Ops.TransformerBlock(x, block, nHead);
            return Ops.MatMul(Ops.LayerNorm(x, p.LnF.G, p.LnF.B), p.Wte.T);
        }), "not the sinusoidal table of the 2017 Transformer");

    [Fact]
    public void LearningRate_with_the_2017_inverse_square_root_decay_fails_with_its_hint() =>
        FailsWith(Checks.LearningRate((step, maxLr, minLr, warmup, decaySteps) =>
            step < warmup ? maxLr * (step + 1) / (warmup + 1)
            : step >= decaySteps ? minLr
            : maxLr * Math.Sqrt((double)warmup / step)), "the 2017 Transformer's schedule");

    [Fact]
    public void CrossEntropy_with_label_smoothing_fails_with_its_hint() =>
        FailsWith(Checks.CrossEntropy((logits, targets) =>
        {
            long v = logits.shape[^1];
            var logp = logits.log_softmax(-1).reshape(-1, v);                                  // [B·T, V]
            var nll = -logp.gather(-1, targets.reshape(-1, 1)).squeeze(-1);                    // [B·T]
            var smooth = -logp.mean([-1]);                                                      // [B·T]
            return ((1 - 0.1) * nll + 0.1 * smooth).mean();
        }), "no label smoothing");

    // ---------------------------------------------------------------- numbers that print alike

    [Fact]
    public void Expected_and_got_print_with_enough_digits_to_differ()
    {
        var (a, b) = CheckEngine.Apart(9.999994e-4, 9.999986e-4);
        Assert.NotEqual(a, b);
        Assert.Equal(CheckEngine.Num(9.999994e-4), CheckEngine.Num(9.999986e-4));      // what made them print alike
        Assert.Equal(("0.5", "0.25"), CheckEngine.Apart(0.5, 0.25));                    // no extra digits when not needed
        var r = Checks.Gelu(x => Ops.Gelu(x) + 3e-9 * x.sign());
        Assert.False(r.Passed);
        var got = System.Text.RegularExpressions.Regex.Match(r.Message, @"expected (\S+), got (\S+?);");
        Assert.True(got.Success, r.Message);
        Assert.NotEqual(got.Groups[1].Value, got.Groups[2].Value);
    }
}
