using PicoGpt.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Training;

/// <summary>
/// The pieces of a training step as short functions, in the order nanoGPT's train.py uses them: get_batch, the loss,
/// configure_optimizers' weight-decay rule, one optimizer step, estimate_loss. Notebook 10's exercises are checked
/// against them, and <see cref="Trainer"/> is built from them.
/// </summary>
public static class TrainingOps
{
    /// <summary>
    /// get_batch: <paramref name="batchSize"/> windows of the token stream. For a start i, x = data[i .. i+T) and
    /// y = data[i+1 .. i+T+1): y is x shifted left by one, so y[t] is the token that follows x[0..t]. Each row draws its
    /// start with <c>rng.Next(len - T)</c> (0 ≤ i ≤ len - T - 1, so y's last index i + T is inside the data), one call
    /// per row in order: a seeded <paramref name="rng"/> gives the same batch every time.
    /// </summary>
    public static (Tensor X, Tensor Y) GetBatch(IReadOnlyList<int> data, int batchSize, int blockSize, Random rng) // -> [B, T], [B, T] int64
    {
        if (data.Count < blockSize + 1)
            throw new PicoGptException($"the data has {data.Count} tokens: a window of {blockSize} needs at least {blockSize + 1} (x and y = x shifted by one)");
        var x = new long[batchSize * blockSize];
        var y = new long[batchSize * blockSize];
        for (int b = 0; b < batchSize; b++)
        {
            int i = rng.Next(data.Count - blockSize);                                  // 0 .. len - T - 1
            for (int t = 0; t < blockSize; t++)
            {
                x[b * blockSize + t] = data[i + t];
                y[b * blockSize + t] = data[i + t + 1];
            }
        }
        var shape = new long[] { batchSize, blockSize };
        return (torch.tensor(x, shape), torch.tensor(y, shape));
    }

    /// <summary>
    /// The next-token loss: mean over the B·T positions of -log softmax(logits)[target], in the logits' dtype.
    /// Flattened to [B·T, V] and [B·T] first, as nanoGPT does (F.cross_entropy takes the classes on dimension 1).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets) // [B, T, V], [B, T] -> []
        => F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));

    /// <summary>
    /// configure_optimizers' rule: weight decay for every tensor with 2 or more dimensions (the weights of the linear
    /// layers and the embeddings wte, wpe), none for the 1-D ones (biases, layer-norm gains and shifts).
    /// </summary>
    public static bool Decays(string name, Parameter p) => p.dim() >= 2;

    /// <summary>The parameters split by <paramref name="decays"/> (default <see cref="Decays"/>), each with its name.</summary>
    public static (List<(string Name, Parameter Param)> Decay, List<(string Name, Parameter Param)> NoDecay) ParameterGroups(
        nn.Module model, Func<string, Parameter, bool>? decays = null)
    {
        decays ??= Decays;
        var all = model.named_parameters().ToList();
        return (all.Where(p => decays(p.name, p.parameter)).ToList(), all.Where(p => !decays(p.name, p.parameter)).ToList());
    }

    /// <summary>
    /// configure_optimizers: AdamW with two parameter groups, <paramref name="weightDecay"/> on the decayed one and 0 on
    /// the other (AdamW decouples the decay from the gradient: p ← p - lr·wd·p, Loshchilov and Hutter 2019).
    /// </summary>
    public static AdamW ConfigureOptimizer(nn.Module model, double lr, double weightDecay, double beta1 = 0.9, double beta2 = 0.99,
        double eps = 1e-8, Func<string, Parameter, bool>? decays = null)
    {
        var (decay, noDecay) = ParameterGroups(model, decays);
        return torch.optim.AdamW(new[]
        {
            new AdamW.ParamGroup(decay.Select(p => p.Param), lr, beta1, beta2, eps, weightDecay, false, false),
            new AdamW.ParamGroup(noDecay.Select(p => p.Param), lr, beta1, beta2, eps, 0.0, false, false),
        }, lr, beta1, beta2, eps, weightDecay);
    }

    /// <summary>
    /// One training step on one batch: set this step's learning rate, zero the gradients, forward, loss, backward, clip the
    /// global gradient norm to <paramref name="gradClip"/> (0: no clipping), optimizer step. Returns the loss before the update.
    /// </summary>
    public static double Step(Gpt model, optim.Optimizer optimizer, Tensor x, Tensor y, double lr, double gradClip) // x, y: [B, T]
        => AccumulatedStep(model, optimizer, 1, _ => (x, y), lr, gradClip);

    /// <summary>
    /// One training step with gradient accumulation (what <see cref="Trainer"/> runs): as the one-batch step, but the
    /// gradients of <paramref name="microBatches"/> batches (<paramref name="batch"/>(0), (1), ..., drawn in that order)
    /// add up, each loss divided by their number, before the one clip and optimizer step. Returns the mean loss.
    /// </summary>
    public static double AccumulatedStep(Gpt model, optim.Optimizer optimizer, int microBatches, Func<int, (Tensor X, Tensor Y)> batch,
        double lr, double gradClip, bool checkIds = true)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
        optimizer.zero_grad();                                                         // gradients add up otherwise
        double loss = 0;
        for (int micro = 0; micro < microBatches; micro++)
        {
            var (x, y) = batch(micro);                                                 // [B, T] each
            var l = CrossEntropy(model.Forward(x.to(model.Device), checkIds: checkIds), y.to(model.Device)); // []
            if (microBatches > 1) l /= microBatches;                                   // the mean over the micro-batches
            l.backward();                                                              // adds to p.grad
            loss += l.item<float>();
        }
        if (gradClip > 0) nn.utils.clip_grad_norm_(model.parameters(), gradClip);      // before the step uses them
        optimizer.step();
        return loss;
    }

    /// <summary>
    /// estimate_loss for one split: the mean loss over <paramref name="iters"/> fixed batches (drawn from a new
    /// Random(<paramref name="seed"/>), so every evaluation sees the same ones), with dropout off (eval mode) and without
    /// gradients. Restores the model's previous mode. Returns a scalar tensor that does not require grad.
    /// </summary>
    public static Tensor EstimateLoss(Gpt model, IReadOnlyList<int> data, int batchSize, int iters, int seed) // -> []
    {
        bool wasTraining = model.training;
        model.eval();                                                                  // dropout off
        try
        {
            using var _ = torch.no_grad();                                             // no graph to keep
            var rng = new Random(seed);                                                // the same batches every time
            var losses = torch.zeros(iters);                                           // [iters]
            for (int k = 0; k < iters; k++)
            {
                using var scope = torch.NewDisposeScope();
                var (x, y) = GetBatch(data, batchSize, model.Config.ContextLength, rng);
                losses[k] = CrossEntropy(model.forward(x.to(model.Device)), y.to(model.Device)).cpu();
            }
            return losses.mean();                                                      // []
        }
        finally { model.train(wasTraining); }
    }
}
