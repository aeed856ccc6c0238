using PicoGpt.Interactive;

namespace PicoGpt;

/// <summary>
/// Your answers from earlier notebooks, in a later one. When an exercise's check passes in the notebook kernel, your
/// function is saved (with the functions of yours it calls) in <c>.answers/</c> next to the notebook (git-ignored).
/// A cell that is exactly <c>Answers.Load("Softmax", "LayerNorm")</c> then defines those functions in a later
/// notebook: yours where it was saved and still compiles, the library's otherwise, under the same name and signature,
/// and prints one line saying which is which. The work is done by the kernel bridge (<see cref="AnswerBook"/>), which
/// replaces such a cell before it runs; this method is what runs where there is no bridge.
/// </summary>
public static class Answers
{
    /// <summary>
    /// In the notebook kernel this call is replaced by the functions it names (see <see cref="Answers"/>). Outside it
    /// (a program, a test, another kernel) nothing can be defined, and it returns a line saying so.
    /// </summary>
    public static string Load(params string[] names) =>
        $"Answers.Load({string.Join(", ", names.Select(n => $"\"{n}\""))}) defines functions only in its own cell of a notebook run by the .NET Interactive kernel " +
        "after PicoGpt.Course.Setup(); here nothing was loaded";

    /// <summary>The exercises whose library version <see cref="Load"/> can stand in with: name -> a method of the same signature.</summary>
    public static IReadOnlyDictionary<string, string> Library { get; } = new Dictionary<string, string>
    {
        // notebook 00
        ["Embed"] = "global::TorchSharp.torch.Tensor Embed(global::TorchSharp.torch.Tensor ids, global::TorchSharp.torch.Tensor wte, global::TorchSharp.torch.Tensor wpe) => global::PicoGpt.Ops.Embed(ids, wte, wpe);",
        ["SinusoidalPositions"] = "global::TorchSharp.torch.Tensor SinusoidalPositions(long nCtx, long nEmbd) => global::PicoGpt.CourseOps.SinusoidalPositions(nCtx, nEmbd);",
        // 01
        ["Linear"] = "global::TorchSharp.torch.Tensor Linear(global::TorchSharp.torch.Tensor x, global::TorchSharp.torch.Tensor w, global::TorchSharp.torch.Tensor b) => global::PicoGpt.Ops.Linear(x, w, b);",
        // 02
        ["Softmax"] = "global::TorchSharp.torch.Tensor Softmax(global::TorchSharp.torch.Tensor x) => global::PicoGpt.Ops.Softmax(x);",
        ["LogSoftmax"] = "global::TorchSharp.torch.Tensor LogSoftmax(global::TorchSharp.torch.Tensor x) => global::PicoGpt.CourseOps.LogSoftmax(x);",
        // 03
        ["GeluExact"] = "global::TorchSharp.torch.Tensor GeluExact(global::TorchSharp.torch.Tensor x) => global::PicoGpt.CourseOps.GeluExact(x);",
        ["Gelu"] = "global::TorchSharp.torch.Tensor Gelu(global::TorchSharp.torch.Tensor x) => global::PicoGpt.Ops.Gelu(x);",
        // 04
        ["Normalize"] = "global::TorchSharp.torch.Tensor Normalize(global::TorchSharp.torch.Tensor x, double eps = 1e-5) => global::PicoGpt.Ops.Normalize(x, eps);",
        ["LayerNorm"] = "global::TorchSharp.torch.Tensor LayerNorm(global::TorchSharp.torch.Tensor x, global::TorchSharp.torch.Tensor g, global::TorchSharp.torch.Tensor b, double eps = 1e-5) => global::PicoGpt.Ops.LayerNorm(x, g, b, eps);",
        // 05
        ["CausalMask"] = "global::TorchSharp.torch.Tensor CausalMask(long nSeq, global::TorchSharp.torch.ScalarType dtype) => global::PicoGpt.Ops.CausalMask(nSeq, dtype);",
        ["Attention"] = "global::TorchSharp.torch.Tensor Attention(global::TorchSharp.torch.Tensor q, global::TorchSharp.torch.Tensor k, global::TorchSharp.torch.Tensor v, global::TorchSharp.torch.Tensor mask) => global::PicoGpt.Ops.Attention(q, k, v, mask);",
        // 06
        ["SplitHeads"] = "global::TorchSharp.torch.Tensor SplitHeads(global::TorchSharp.torch.Tensor x, int nHead) => global::PicoGpt.CourseOps.SplitHeads(x, nHead);",
        ["MergeHeads"] = "global::TorchSharp.torch.Tensor MergeHeads(global::TorchSharp.torch.Tensor x) => global::PicoGpt.CourseOps.MergeHeads(x);",
        ["MultiHeadAttention"] = "global::TorchSharp.torch.Tensor MultiHeadAttention(global::TorchSharp.torch.Tensor x, global::PicoGpt.AttentionParams p, int nHead) => global::PicoGpt.Ops.MultiHeadAttention(x, p, nHead);",
        // 07
        ["FeedForward"] = "global::TorchSharp.torch.Tensor FeedForward(global::TorchSharp.torch.Tensor x, global::PicoGpt.FeedForwardParams p) => global::PicoGpt.Ops.FeedForward(x, p);",
        ["TransformerBlock"] = "global::TorchSharp.torch.Tensor TransformerBlock(global::TorchSharp.torch.Tensor x, global::PicoGpt.BlockParams p, int nHead) => global::PicoGpt.Ops.TransformerBlock(x, p, nHead);",
        // 08
        ["Gpt2"] = "global::TorchSharp.torch.Tensor Gpt2(global::TorchSharp.torch.Tensor ids, global::PicoGpt.Gpt2Params p, int nHead) => global::PicoGpt.Ops.Gpt2(ids, p, nHead);",
        ["ParameterCount"] = "long ParameterCount(global::PicoGpt.Model.GptConfig c, bool tiedHead) => c.CountParameters(tiedHead).Total;",
        // 09
        ["TopK"] = "global::TorchSharp.torch.Tensor TopK(global::TorchSharp.torch.Tensor logits, int k) => global::PicoGpt.Sampling.Sampler.TopK(logits, k);",
        // 10
        ["GetBatch"] = "(global::TorchSharp.torch.Tensor X, global::TorchSharp.torch.Tensor Y) GetBatch(int[] data, int batchSize, int blockSize, global::System.Random rng) => global::PicoGpt.Training.TrainingOps.GetBatch(data, batchSize, blockSize, rng);",
        ["CrossEntropy"] = "global::TorchSharp.torch.Tensor CrossEntropy(global::TorchSharp.torch.Tensor logits, global::TorchSharp.torch.Tensor targets) => global::PicoGpt.Training.TrainingOps.CrossEntropy(logits, targets);",
        ["Decays"] = "bool Decays(string name, global::TorchSharp.Modules.Parameter p) => global::PicoGpt.Training.TrainingOps.Decays(name, p);",
        ["LearningRate"] = "double LearningRate(int step, double maxLr, double minLr, int warmup, int decaySteps) => new global::PicoGpt.Training.LrSchedule(maxLr, minLr, warmup, decaySteps).At(step);",
        ["TrainStep"] = "double TrainStep(global::PicoGpt.Model.Gpt model, global::TorchSharp.torch.optim.Optimizer optimizer, global::TorchSharp.torch.Tensor x, global::TorchSharp.torch.Tensor y, double lr, double gradClip) => global::PicoGpt.Training.TrainingOps.Step(model, optimizer, x, y, lr, gradClip);",
        ["EstimateLoss"] = "global::TorchSharp.torch.Tensor EstimateLoss(global::PicoGpt.Model.Gpt model, int[] data, int batchSize, int iters, int seed) => global::PicoGpt.Training.TrainingOps.EstimateLoss(model, data, batchSize, iters, seed);",
    };
}
