using PicoGpt.Model;
using PicoGpt.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Decode;

/// <summary>A model's loss next to a reference's on the same positions, and how often their top-1 predictions agree.</summary>
public sealed record AgreementResult(double Loss, double ReferenceLoss, double Top1Agreement, long Positions);

/// <summary>Quality of int8 weights: loss and top-1 agreement with float32, position by position.</summary>
public static class QuantizedEvaluation
{
    /// <summary>
    /// The int8 counterpart of the model in <paramref name="dir"/>: a float32 copy whose linear weights are rounded
    /// through int8 in blocks of 32 and whose tied head through the format <see cref="Int8Quantization.HeadFormat"/>
    /// picks (<see cref="Int8Quantization.RoundTripWeights"/>). It computes in
    /// float on TorchSharp with exactly the weights the int8 decoder reads, so whole sequences (prefill, evaluation) run
    /// at GEMM speed.
    /// </summary>
    public static Gpt LoadInt8RoundTrip(string dir, Device? device = null)
    {
        var m = Weights.Gpt2Checkpoint.Load(dir, device ?? torch.CPU);
        Int8Quantization.RoundTripWeights(m);
        return m;
    }

    /// <summary>
    /// Mean cross-entropy of <paramref name="model"/> and of <paramref name="reference"/> on the blocks that
    /// <see cref="Training.Evaluation.Loss"/> uses, and the fraction of positions where their argmax agrees.
    /// </summary>
    public static AgreementResult Compare(Gpt model, Gpt reference, IReadOnlyList<int> ids, int batchSize = 16, int? maxBlocks = null)
    {
        if (model.Config != reference.Config) throw new PicoGptException("the two models have different configs");
        int t = model.Config.ContextLength;
        var starts = Evaluation.BlockStarts(ids, t, maxBlocks);
        using var _ = torch.no_grad();
        double sum = 0, refSum = 0;
        long agree = 0, count = 0;
        foreach (var chunk in starts.Chunk(batchSize))
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = Evaluation.Windows(ids, chunk, t);
            var input = torch.tensor(x, new long[] { chunk.Length, t });
            var target = torch.tensor(y);
            var a = model.Forward(input.to(model.Device)).to(ScalarType.Float32).cpu().view(-1, model.Config.VocabSize);        // [B*T, V]
            var r = reference.Forward(input.to(reference.Device)).to(ScalarType.Float32).cpu().view(-1, model.Config.VocabSize); // [B*T, V]
            sum += F.cross_entropy(a, target, reduction: nn.Reduction.Sum).item<float>();
            refSum += F.cross_entropy(r, target, reduction: nn.Reduction.Sum).item<float>();
            agree += a.argmax(-1).eq(r.argmax(-1)).sum().item<long>();
            count += x.Length;
        }
        return new AgreementResult(sum / count, refSum / count, (double)agree / count, count);
    }
}
