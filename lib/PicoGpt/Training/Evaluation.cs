using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Training;

/// <summary>Deterministic loss over a whole token stream: consecutive non-overlapping blocks of the context length.</summary>
public static class Evaluation
{
    /// <summary>
    /// Mean next-token cross-entropy over every target in <paramref name="ids"/>, computed in blocks of the context
    /// length (each block predicts its own next tokens), <paramref name="batchSize"/> blocks at a time. When
    /// <paramref name="maxBlocks"/> is set, evenly spaced blocks are used instead of all of them.
    /// </summary>
    public static double Loss(Gpt model, IReadOnlyList<int> ids, int batchSize = 16, int? maxBlocks = null)
    {
        int t = model.Config.ContextLength;
        var starts = BlockStarts(ids, t, maxBlocks);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = torch.no_grad();
            double sum = 0;
            long count = 0;
            foreach (var chunk in starts.Chunk(batchSize))
            {
                using var scope = torch.NewDisposeScope();
                var (x, y) = Windows(ids, chunk, t);
                var shape = new long[] { chunk.Length, t };
                var logits = model.Forward(torch.tensor(x, shape).to(model.Device));                // [B, T, V]
                var loss = F.cross_entropy(logits.view(-1, logits.shape[^1]).to(ScalarType.Float32),
                    torch.tensor(y).to(model.Device), reduction: nn.Reduction.Sum);
                sum += loss.item<float>();
                count += x.Length;
            }
            return sum / count;
        }
        finally { if (wasTraining) model.train(); }
    }

    /// <summary>
    /// The start of every whole block of <paramref name="t"/> targets in <paramref name="ids"/>, or
    /// <paramref name="maxBlocks"/> of them spread evenly over the text.
    /// </summary>
    internal static List<int> BlockStarts(IReadOnlyList<int> ids, int t, int? maxBlocks)
    {
        int blocks = (ids.Count - 1) / t;
        if (blocks == 0) throw new PicoGptException($"need more than {t} tokens to evaluate, got {ids.Count}");
        var starts = Enumerable.Range(0, blocks).Select(b => b * t).ToList();
        if (maxBlocks is int max && max < blocks)
            starts = Enumerable.Range(0, max).Select(i => starts[(int)((long)i * blocks / max)]).ToList();
        return starts;
    }

    /// <summary>Inputs and next-token targets of the windows starting at <paramref name="starts"/>, row-major [B * t].</summary>
    internal static (long[] X, long[] Y) Windows(IReadOnlyList<int> ids, int[] starts, int t)
    {
        var x = new long[starts.Length * t];
        var y = new long[starts.Length * t];
        for (int b = 0; b < starts.Length; b++)
            for (int i = 0; i < t; i++)
            {
                x[b * t + i] = ids[starts[b] + i];
                y[b * t + i] = ids[starts[b] + i + 1];
            }
        return (x, y);
    }
}
