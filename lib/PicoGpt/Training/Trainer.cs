using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using PicoGpt.Model;
using PicoGpt.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PicoGpt.Training;

/// <summary>Hyper-parameters of a training run (nanoGPT's names where they exist).</summary>
public sealed record TrainOptions
{
    public int BatchSize { get; init; } = 32;
    public int MaxSteps { get; init; } = 2000;
    public double LearningRate { get; init; } = 1e-3;
    public double MinLr { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Step where the cosine reaches MinLr (default: MaxSteps).</summary>
    public int? DecaySteps { get; init; }
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.99;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Clip the global gradient norm to this (0: off).</summary>
    public double GradClip { get; init; } = 1.0;
    public int GradAccum { get; init; } = 1;
    public int EvalInterval { get; init; } = 250;
    public int EvalIters { get; init; } = 20;
    public long Seed { get; init; } = 1337;

    public LrSchedule Schedule => new(LearningRate, MinLr, WarmupSteps, DecaySteps ?? MaxSteps);

    public TrainOptions Validate()
    {
        void Check(bool ok, string what) { if (!ok) throw new PicoGptException(what); }
        Check(BatchSize >= 1, $"batch size must be at least 1, got {BatchSize}");
        Check(MaxSteps >= 1, $"max steps must be at least 1, got {MaxSteps}");
        Check(LearningRate > 0 && MinLr >= 0 && MinLr <= LearningRate, $"need 0 <= min lr ({MinLr}) <= lr ({LearningRate}), lr > 0");
        Check(WarmupSteps >= 0 && (DecaySteps ?? MaxSteps) > WarmupSteps, $"decay steps must exceed warmup steps ({WarmupSteps})");
        Check(WeightDecay >= 0, $"weight decay must be >= 0, got {WeightDecay}");
        Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, "betas must be in [0, 1)");
        Check(GradClip >= 0, $"grad clip must be >= 0, got {GradClip}");
        Check(GradAccum >= 1, $"gradient accumulation must be at least 1, got {GradAccum}");
        Check(EvalInterval >= 1 && EvalIters >= 1, "eval interval and eval iters must be at least 1");
        return this;
    }
}

public sealed record EvalResult(int Step, double TrainLoss, double ValLoss, double Lr, double ElapsedSeconds);

public sealed record TrainProgress(int Step, int MaxSteps, double Loss, double Lr, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta, EvalResult? Eval);

public sealed record TrainResult(int Steps, IReadOnlyList<double> Losses, IReadOnlyList<EvalResult> Evals, double BestValLoss, bool Cancelled, double Seconds);

/// <summary>
/// nanoGPT's training loop over a <see cref="Gpt"/>, built from <see cref="TrainingOps"/>: AdamW with weight decay on every
/// tensor of 2 or more dimensions (nanoGPT's configure_optimizers), warmup + cosine,
/// global-norm clipping, gradient accumulation, periodic evaluation, and atomic checkpoints that resume exactly
/// (batches and dropout are seeded from (seed, step), so a resumed run repeats the uninterrupted one).
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string CheckpointDir = "checkpoint";
    public const string PreviousCheckpointDir = "checkpoint.prev";

    readonly Gpt _model;
    readonly TokenDataset _data;
    readonly TrainOptions _opt;
    readonly string _outDir;
    readonly Action<string>? _saveTokenizer;
    readonly AdamW _optimizer;
    readonly List<double> _losses = new();
    readonly List<EvalResult> _evals = new();
    int _step;
    double _bestVal = double.PositiveInfinity;
    double _secondsBefore;

    public int Step => _step;
    public IReadOnlyList<EvalResult> Evals => _evals;

    /// <param name="model">the model trained in place</param>
    /// <param name="data">the train and validation tokens</param>
    /// <param name="options">steps, batch, learning rate schedule, evaluation and checkpoint intervals</param>
    /// <param name="outDir">where checkpoints and the final model are written</param>
    /// <param name="saveTokenizer">writes the tokenizer's files into a folder (checkpoints and the final model carry it)</param>
    public Trainer(Gpt model, TokenDataset data, TrainOptions options, string outDir, Action<string>? saveTokenizer = null)
    {
        _model = model;
        _data = data;
        _opt = options.Validate();
        _outDir = outDir;
        _saveTokenizer = saveTokenizer;
        if (data.VocabSize > model.Config.VocabSize)
            throw new PicoGptException($"the data's vocabulary ({data.VocabSize}) is larger than the model's ({model.Config.VocabSize})");
        _optimizer = TrainingOps.ConfigureOptimizer(model, _opt.LearningRate, _opt.WeightDecay, _opt.Beta1, _opt.Beta2, _opt.Eps);
    }

    /// <summary>
    /// The optimizer's groups (<see cref="TrainingOps.Decays"/>): weight decay on the linear weights and the embeddings
    /// (2 or more dimensions), none on biases and layer norms (1-D), as nanoGPT's configure_optimizers.
    /// </summary>
    public static (List<(string Name, Parameter Param)> Decay, List<(string Name, Parameter Param)> NoDecay) ParameterGroups(Gpt model)
        => TrainingOps.ParameterGroups(model);

    /// <summary>The seed of step <paramref name="step"/>'s batches (stream 0), or of the fixed evaluation batches (step -1).</summary>
    internal static int StepSeed(long seed, long step, int stream) => unchecked((int)(seed * 1_000_003 + step * 31 + stream));

    static Random StepRandom(long seed, long step, int stream) => new(StepSeed(seed, step, stream));

    /// <summary>Mean cross-entropy on <see cref="TrainOptions.EvalIters"/> fixed batches of each split (model in eval mode).</summary>
    public (double Train, double Val) Evaluate()
    {
        double Mean(string split, int stream)                                  // the same batches at every evaluation
        {
            using var scope = torch.NewDisposeScope();
            return TrainingOps.EstimateLoss(_model, _data.Split(split), _opt.BatchSize, _opt.EvalIters, StepSeed(_opt.Seed, -1, stream)).item<float>();
        }
        return (Mean("train", 7), Mean("val", 11));
    }

    /// <summary>Trains from the current step to MaxSteps. Cancelling saves a checkpoint and returns.</summary>
    public TrainResult Run(Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        var schedule = _opt.Schedule;
        int blockSize = _model.Config.ContextLength;
        long tokensPerStep = (long)_opt.BatchSize * blockSize * _opt.GradAccum;
        var clock = Stopwatch.StartNew();
        var parameters = _model.parameters().ToList();
        int startStep = _step;
        bool cancelled = false;
        _model.train();

        while (_step < _opt.MaxSteps)
        {
            if (cancel.IsCancellationRequested) { cancelled = true; break; }
            EvalResult? eval = null;
            if (_step % _opt.EvalInterval == 0 && _step > startStep || _step == 0 && _evals.Count == 0)
                eval = EvaluateAndCheckpoint(schedule.At(_step), clock);

            double lr = schedule.At(_step);
            foreach (var g in _optimizer.ParamGroups) g.LearningRate = lr;
            double loss = 0;
            using (var scope = torch.NewDisposeScope())
            {
                torch.manual_seed(_opt.Seed * 7919 + _step);                     // dropout masks depend only on (seed, step)
                var rng = StepRandom(_opt.Seed, _step, 0);
                _optimizer.zero_grad();                                          // TrainingOps.Step, over GradAccum batches
                for (int micro = 0; micro < _opt.GradAccum; micro++)
                {
                    var (x, y) = _data.Batch("train", _opt.BatchSize, blockSize, rng, _model.Device);   // [B, T] each
                    var l = TrainingOps.CrossEntropy(_model.Forward(x, checkIds: false), y) / _opt.GradAccum;
                    l.backward();
                    loss += l.item<float>();
                }
                if (_opt.GradClip > 0) torch.nn.utils.clip_grad_norm_(parameters, _opt.GradClip);
                _optimizer.step();
            }
            if (!double.IsFinite(loss))
                throw new PicoGptException($"training diverged at step {_step}: loss is {loss} (try a lower learning rate)");
            _losses.Add(loss);
            _step++;

            double elapsed = clock.Elapsed.TotalSeconds;
            double tps = tokensPerStep * (_step - startStep) / Math.Max(elapsed, 1e-9);
            double eta = (_opt.MaxSteps - _step) * elapsed / (_step - startStep);
            progress?.Invoke(new TrainProgress(_step, _opt.MaxSteps, loss, lr, tps,
                TimeSpan.FromSeconds(_secondsBefore + elapsed), TimeSpan.FromSeconds(eta), eval));
        }

        if (!cancelled)
        {
            var last = EvaluateAndCheckpoint(schedule.At(_step), clock);
            progress?.Invoke(new TrainProgress(_step, _opt.MaxSteps, _losses.LastOrDefault(), schedule.At(_step), 0,
                TimeSpan.FromSeconds(_secondsBefore + clock.Elapsed.TotalSeconds), TimeSpan.Zero, last));
            SaveModel(_outDir);
        }
        else SaveCheckpoint(_secondsBefore + clock.Elapsed.TotalSeconds);
        _model.eval();
        return new TrainResult(_step, _losses.ToList(), _evals.ToList(), _bestVal, cancelled, _secondsBefore + clock.Elapsed.TotalSeconds);
    }

    EvalResult EvaluateAndCheckpoint(double lr, Stopwatch clock)
    {
        var (train, val) = Evaluate();
        var r = new EvalResult(_step, train, val, lr, _secondsBefore + clock.Elapsed.TotalSeconds);
        if (_evals.Count == 0 || _evals[^1].Step != _step) _evals.Add(r);
        _bestVal = Math.Min(_bestVal, val);
        WriteLog();
        if (_step > 0) SaveCheckpoint(r.ElapsedSeconds);
        return r;
    }

    void WriteLog()
    {
        var lines = new List<string> { "step,train_loss,val_loss,lr,elapsed_s" };
        lines.AddRange(_evals.Select(e => string.Create(CultureInfo.InvariantCulture,
            $"{e.Step},{e.TrainLoss:F4},{e.ValLoss:F4},{e.Lr:G6},{e.ElapsedSeconds:F1}")));
        Directory.CreateDirectory(_outDir);
        AtomicFile.WriteAllText(Path.Combine(_outDir, "log.csv"), string.Join("\n", lines) + "\n");
    }

    /// <summary>Writes config.json, model.safetensors and the tokenizer files (the loadable model) into a folder.</summary>
    public void SaveModel(string dir)
    {
        Gpt2Checkpoint.Save(_model, dir);
        _saveTokenizer?.Invoke(dir);
    }

    /// <summary>
    /// Writes model + optimizer + step + seed + losses into a temp folder, then swaps it in: checkpoint becomes
    /// checkpoint.prev and the temp folder becomes checkpoint. A crash at any point leaves a complete checkpoint.
    /// </summary>
    public void SaveCheckpoint(double elapsedSeconds)
    {
        var tmp = Path.Combine(_outDir, ".checkpoint.tmp-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(tmp);
        try
        {
            SaveModel(tmp);
            using (var fs = File.Create(Path.Combine(tmp, "optimizer.bin")))
            using (var w = new BinaryWriter(fs))
                _optimizer.save_state_dict(w);
            var files = Directory.GetFiles(tmp).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal)
                .ToDictionary(n => n!, n => Sha256(Path.Combine(tmp, n!)));
            var state = new CheckpointState(_step, _opt.Seed, _bestVal, elapsedSeconds, _losses.ToArray(), _evals.ToArray(), files);
            AtomicFile.WriteAllText(Path.Combine(tmp, "state.json"), JsonSerializer.Serialize(state));
            var current = Path.Combine(_outDir, CheckpointDir);
            var previous = Path.Combine(_outDir, PreviousCheckpointDir);
            if (Directory.Exists(current))
            {
                if (Directory.Exists(previous)) Directory.Delete(previous, true);
                Directory.Move(current, previous);
            }
            Directory.Move(tmp, current);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    sealed record CheckpointState(int Step, long Seed, double BestValLoss, double ElapsedSeconds, double[] Losses, EvalResult[] Evals, Dictionary<string, string> Files);

    static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(s)).ToLowerInvariant();
    }

    /// <summary>
    /// Restores the newest valid checkpoint under the run folder (checkpoint, else checkpoint.prev with a warning).
    /// A checkpoint whose files do not match the hashes it recorded is refused with a message naming the file.
    /// Returns false when there is none.
    /// </summary>
    public bool TryResume(Action<string>? warn = null)
    {
        var errors = new List<string>();
        foreach (var name in new[] { CheckpointDir, PreviousCheckpointDir })
        {
            var dir = Path.Combine(_outDir, name);
            if (!Directory.Exists(dir)) continue;
            try
            {
                Restore(dir);
                if (errors.Count > 0) warn?.Invoke($"{errors[0]}; resumed from {dir} instead");
                return true;
            }
            catch (PicoGptException e) { errors.Add(e.Message); }
        }
        if (errors.Count > 0) throw new PicoGptException(string.Join("; ", errors));
        return false;
    }

    void Restore(string dir)
    {
        var statePath = Path.Combine(dir, "state.json");
        CheckpointState state;
        try { state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath)) ?? throw new JsonException("empty"); }
        catch (Exception e) when (e is JsonException or IOException) { throw new PicoGptException($"{statePath}: unreadable checkpoint state ({e.Message.Split('\n')[0]})"); }
        foreach (var (file, hash) in state.Files)
        {
            var p = Path.Combine(dir, file);
            if (!File.Exists(p)) throw new PicoGptException($"{p}: missing from the checkpoint");
            if (Sha256(p) != hash) throw new PicoGptException($"{p}: truncated or corrupt (its sha256 differs from the one recorded at save time)");
        }
        if (state.Seed != _opt.Seed) throw new PicoGptException($"{statePath}: checkpoint was made with seed {state.Seed}, this run uses {_opt.Seed}");
        using (var loaded = Gpt2Checkpoint.Load(dir, _model.Device, _model.DType))
        {
            if (loaded.Config with { Dropout = 0 } != _model.Config with { Dropout = 0 })
                throw new PicoGptException($"{dir}: checkpoint config differs from this run's model");
            using var _ = torch.no_grad();
            var src = loaded.state_dict();
            foreach (var (k, p) in _model.state_dict()) p.copy_(src[k]);
        }
        using (var fs = File.OpenRead(Path.Combine(dir, "optimizer.bin")))
        using (var r = new BinaryReader(fs))
            _optimizer.load_state_dict(r);
        _step = state.Step;
        _bestVal = state.BestValLoss;
        _secondsBefore = state.ElapsedSeconds;
        _losses.Clear(); _losses.AddRange(state.Losses);
        _evals.Clear(); _evals.AddRange(state.Evals);
    }

    public void Dispose() => _optimizer.Dispose();
}
