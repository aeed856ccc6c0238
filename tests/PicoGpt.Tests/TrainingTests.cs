using PicoGpt.Model;
using PicoGpt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

public class TrainingTests
{
    static readonly GptConfig Small = new() { VocabSize = 65, ContextLength = 32, NEmbd = 48, NLayer = 2, NHead = 4, Dropout = 0.1, Tokenizer = "char" };

    /// <summary>The first 60k characters of tinyshakespeare as char ids (vocabulary of the whole text, as the shipped model).</summary>
    static (int[] Ids, int Vocab) Shakespeare(int chars = 60_000)
    {
        var text = File.ReadAllText(Paths.TinyShakespeare);
        var vocab = text.Distinct().OrderBy(c => c).Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        return (text.Take(chars).Select(c => vocab[c]).ToArray(), vocab.Count);
    }

    [Fact]
    public void LrScheduleMatchesHandComputedValues()
    {
        var s = new LrSchedule(1e-3, 1e-4, 100, 1000);
        Assert.Equal(1e-3 * 1 / 101, s.At(0), 12);
        Assert.Equal(1e-3 * 100 / 101, s.At(99), 12);        // warmup end
        Assert.Equal(1e-3, s.At(100), 12);                   // peak
        Assert.Equal(5.5e-4, s.At(550), 12);                 // mid-decay: cos(pi/2) = 0 -> halfway between peak and floor
        Assert.Equal(1e-4 + 0.5 * (1 + Math.Cos(Math.PI * 0.25)) * 9e-4, s.At(325), 12);
        Assert.Equal(1e-4, s.At(1000), 12);                  // the floor
        Assert.Equal(1e-4, s.At(5000), 12);
    }

    [Fact]
    public void DecayGroupHoldsEveryTensorOfTwoOrMoreDimensionsAsNanoGpt()
    {
        using var m = new Gpt(Small, CPU, seed: 1);
        var (decay, noDecay) = Trainer.ParameterGroups(m);
        var expected = new[] { "wte.weight", "wpe.weight" }.Concat(Enumerable.Range(0, 2).SelectMany(i => new[]
            { $"h.{i}.attn.c_attn.weight", $"h.{i}.attn.c_proj.weight", $"h.{i}.mlp.c_fc.weight", $"h.{i}.mlp.c_proj.weight" }));
        Assert.Equal(expected.OrderBy(x => x), decay.Select(p => p.Name).OrderBy(x => x));
        Assert.All(noDecay, p => Assert.True(p.Param.dim() == 1, p.Name));     // biases, layer-norm gains and shifts
        Assert.Equal(m.parameters().Count(), decay.Count + noDecay.Count);
    }

    [Fact]
    public void OptimizerDecaysOnlyTheDecayGroup()
    {
        // with zero gradients AdamW's update is the decay alone: p <- p - lr * wd * p for the decayed group, nothing for the other
        using var m = new Gpt(Small, CPU, seed: 1);
        using var opt = TrainingOps.ConfigureOptimizer(m, lr: 0.1, weightDecay: 0.5);
        var before = m.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        foreach (var p in m.parameters()) p.grad = torch.zeros_like(p);
        opt.step();
        foreach (var (name, p) in m.named_parameters())
        {
            double factor = TrainingOps.Decays(name, p) ? 1 - 0.1 * 0.5 : 1;
            Assert.True(torch.allclose(p.detach(), before[name] * factor, 1e-6, 1e-7), name);
        }
    }

    [Fact]
    public void GetBatchDrawsEveryStartAndStaysInsideTheData()
    {
        var data = new[] { 10, 11, 12, 13, 14, 15 };                          // T = 4: starts 0 and 1 fit
        var (x, y) = TrainingOps.GetBatch(data, 64, 4, new Random(3));
        var starts = x[.., 0].data<long>().Select(v => v - 10).ToHashSet();
        Assert.Equal(new HashSet<long> { 0, 1 }, starts);                       // the last window (start len - T - 1) is drawn too
        Assert.True(y[.., ..^1].eq(x[.., 1..]).all().item<bool>());                       // y is x shifted left by one
        Assert.True(y[.., ^1].eq(x[.., ^1] + 1).all().item<bool>());
        Assert.Equal(new long[] { 64, 4 }, x.shape);
        Assert.Equal(ScalarType.Int64, y.dtype);
    }

    [Fact]
    public void TrainerStepsEqualTheNotebooksStepFunction()
    {
        // Trainer.Run (GradAccum 1, no dropout) and a plain loop of TrainingOps.Step on the same batches give the same
        // losses and weights: the notebook's loop and picogpt train are the same algorithm.
        var (ids, vocab) = Shakespeare(20_000);
        var config = Small with { Dropout = 0 };
        var opts = new TrainOptions { BatchSize = 4, MaxSteps = 6, WarmupSteps = 2, EvalInterval = 100, EvalIters = 1, Seed = 9 };
        var data = new TokenDataset(ids, vocab);
        using var tmp = TestPaths.Temp();
        using var a = new Gpt(config, CPU, seed: 1);
        TrainResult r;
        using (var t = new Trainer(a, data, opts, tmp.Path)) r = t.Run();

        using var b = new Gpt(config, CPU, seed: 1);
        b.train();
        using var opt = TrainingOps.ConfigureOptimizer(b, opts.LearningRate, opts.WeightDecay, opts.Beta1, opts.Beta2, opts.Eps);
        for (int step = 0; step < opts.MaxSteps; step++)
        {
            var (x, y) = TrainingOps.GetBatch(data.Train, opts.BatchSize, config.ContextLength, new Random(Trainer.StepSeed(opts.Seed, step, 0)));
            double loss = TrainingOps.Step(b, opt, x, y, opts.Schedule.At(step), opts.GradClip);
            Assert.True(Math.Abs(r.Losses[step] - loss) < 1e-6, $"step {step}: trainer {r.Losses[step]}, loop {loss}");
        }
        var pa = a.parameters().ToArray(); var pb = b.parameters().ToArray();
        for (int i = 0; i < pa.Length; i++) Assert.True(torch.allclose(pa[i], pb[i], 1e-6, 1e-7), $"parameter {i}");
    }

    [Fact]
    public void TinyRunLowersValidationLossByAtLeastOneNat()
    {
        var (ids, vocab) = Shakespeare();
        using var tmp = TestPaths.Temp();
        using var m = new Gpt(Small, CPU, seed: 1);
        using var trainer = new Trainer(m, new TokenDataset(ids, vocab),
            new TrainOptions { BatchSize = 16, MaxSteps = 300, WarmupSteps = 20, LearningRate = 3e-3, EvalInterval = 100, EvalIters = 8, Seed = 3 }, tmp.Path);
        var r = trainer.Run();
        Assert.Equal(4, r.Evals.Count);                                   // steps 0, 100, 200, 300
        double first = r.Evals[0].ValLoss, last = r.Evals[^1].ValLoss;
        Assert.InRange(first, Math.Log(65) - 0.3, Math.Log(65) + 0.3);   // ~uniform at init: ln 65 = 4.17
        Assert.True(last < first - 1.0, $"val loss {first:F3} -> {last:F3}: expected a drop of at least 1.0");
        Assert.True(File.Exists(Path.Combine(tmp.Path, "model.safetensors")));
        Assert.Equal(5, File.ReadAllLines(Path.Combine(tmp.Path, "log.csv")).Length);
    }

    [Fact]
    public void ResumedRunRepeatsTheUninterruptedRun()
    {
        var (ids, vocab) = Shakespeare(20_000);
        var opts = new TrainOptions { BatchSize = 4, MaxSteps = 24, WarmupSteps = 4, EvalInterval = 8, EvalIters = 2, Seed = 5, GradAccum = 2 };
        var data = new TokenDataset(ids, vocab);
        using var a = TestPaths.Temp();
        using var b = TestPaths.Temp();
        TrainResult full;
        using (var m = new Gpt(Small, CPU, seed: 1))
        using (var t = new Trainer(m, data, opts, a.Path)) full = t.Run();

        using (var m = new Gpt(Small, CPU, seed: 1))
        using (var t = new Trainer(m, data, opts with { MaxSteps = 24 }, b.Path))
        {
            using var cts = new CancellationTokenSource();
            t.Run(p => { if (p.Step == 13) cts.Cancel(); }, cts.Token);    // "Ctrl+C" after step 13: checkpoint saved
            Assert.Equal(13, t.Step);
        }
        TrainResult resumed;
        using (var m = new Gpt(Small, CPU, seed: 99))                      // different init: everything must come from the checkpoint
        using (var t = new Trainer(m, data, opts, b.Path))
        {
            Assert.True(t.TryResume());
            Assert.Equal(13, t.Step);
            resumed = t.Run();
        }
        Assert.Equal(24, resumed.Losses.Count);
        for (int i = 0; i < 24; i++)
            Assert.True(Math.Abs(full.Losses[i] - resumed.Losses[i]) < 1e-6, $"step {i}: {full.Losses[i]} vs {resumed.Losses[i]}");
        Assert.Equal(full.Evals[^1].ValLoss, resumed.Evals[^1].ValLoss, 6);
    }

    [Fact]
    public void TruncatedCheckpointIsRefusedAndThePreviousOneIsUsed()
    {
        var (ids, vocab) = Shakespeare(20_000);
        var opts = new TrainOptions { BatchSize = 2, MaxSteps = 6, WarmupSteps = 1, EvalInterval = 2, EvalIters = 1, Seed = 2 };
        var data = new TokenDataset(ids, vocab);
        using var dir = TestPaths.Temp();
        using (var m = new Gpt(Small, CPU, seed: 1))
        using (var t = new Trainer(m, data, opts, dir.Path)) t.Run();
        // checkpoint = step 6, checkpoint.prev = step 4; truncate the newest weights
        var weights = Path.Combine(dir.Path, Trainer.CheckpointDir, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes.Take(bytes.Length / 2).ToArray());
        using var m2 = new Gpt(Small, CPU, seed: 1);
        using var t2 = new Trainer(m2, data, opts with { MaxSteps = 8 }, dir.Path);
        string? warning = null;
        Assert.True(t2.TryResume(w => warning = w));
        Assert.Equal(4, t2.Step);
        Assert.Contains("model.safetensors: truncated or corrupt", warning);
        Assert.Contains("resumed from", warning);
    }

    [Fact]
    public void TokenFileRoundTripsAndRejectsTruncation()
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "train.bin");
        var ids = new[] { 0, 1, 64, 50256, 7 };
        TokenDataset.WriteIds(path, ids, 50257);
        var (read, vocab) = TokenDataset.ReadIds(path);
        Assert.Equal(ids, read);
        Assert.Equal(50257, vocab);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^1]);
        Assert.Contains("truncated or corrupt token file", Assert.Throws<PicoGptException>(() => TokenDataset.ReadIds(path)).Message);
    }
}
