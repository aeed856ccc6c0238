using PicoGpt.Exercises;
using PicoGpt.Model;
using PicoGpt.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static PicoGpt.Tests.CheckAssert;

namespace PicoGpt.Tests;

/// <summary>
/// Checks of notebook 12: MyGpt (names, initialisation, forward), the loader and the saver of GPT-2's files, and the
/// training comparison. Each wrong answer is written the way a learner would write it, as a switch on a learner-style
/// module or loader, independently of the checks' diagnoses.
/// </summary>
public class YourGptCheckTests
{
    /// <summary>The mistakes a learner's MyGpt can make.</summary>
    public sealed record Slips
    {
        public double Std { get; init; } = 0.02;
        /// <summary>"2L" (right), "none", "L"</summary>
        public string ProjScale { get; init; } = "2L";
        public bool RandomBiases { get; init; }
        public bool LayerNormZero { get; init; }
        public string WeightSuffix { get; init; } = ".weight";
        public bool Conv1DLayout { get; init; }
        public bool SeparateHead { get; init; }
        public bool ProjNotTransposed { get; init; }
        public bool LnSwapped { get; init; }
        public bool Uniform { get; init; }
    }

    /// <summary>A learner's MyGpt, parameterised by its mistakes; the forward pass is the reference Ops.Gpt2.</summary>
    sealed class LearnerGpt : nn.Module<Tensor, Tensor>
    {
        readonly GptConfig _c;
        readonly Slips _s;

        public LearnerGpt(GptConfig c, Slips s) : base("LearnerGpt")
        {
            _c = c; _s = s;
            long C = c.NEmbd;
            double proj = s.ProjScale switch { "none" => s.Std, "L" => s.Std / Math.Sqrt(c.NLayer), _ => s.Std / Math.Sqrt(2 * c.NLayer) };
            Tensor W(long o, long i, double std) => (s.Uniform ? torch.rand(s.Conv1DLayout ? new[] { i, o } : new[] { o, i }) : torch.randn(s.Conv1DLayout ? new[] { i, o } : new[] { o, i })) * std;
            Tensor Bias(long n) => s.RandomBiases ? torch.randn(n) * 0.02 : torch.zeros(n);
            void P(string name, Tensor t) => register_parameter(name, new Parameter(t));
            Tensor Emb(long n) => (s.Uniform ? torch.rand(n, C) : torch.randn(n, C)) * s.Std;
            P("wte.weight", Emb(c.VocabSize));
            P("wpe.weight", Emb(c.ContextLength));
            for (int l = 0; l < c.NLayer; l++)
            {
                P($"h.{l}.ln_1{s.WeightSuffix}", s.LayerNormZero ? torch.zeros(C) : torch.ones(C)); P($"h.{l}.ln_1.bias", torch.zeros(C));
                P($"h.{l}.attn.c_attn{s.WeightSuffix}", W(3 * C, C, s.Std)); P($"h.{l}.attn.c_attn.bias", Bias(3 * C));
                P($"h.{l}.attn.c_proj{s.WeightSuffix}", W(C, C, proj)); P($"h.{l}.attn.c_proj.bias", Bias(C));
                P($"h.{l}.ln_2{s.WeightSuffix}", s.LayerNormZero ? torch.zeros(C) : torch.ones(C)); P($"h.{l}.ln_2.bias", torch.zeros(C));
                P($"h.{l}.mlp.c_fc{s.WeightSuffix}", W(4 * C, C, s.Std)); P($"h.{l}.mlp.c_fc.bias", Bias(4 * C));
                P($"h.{l}.mlp.c_proj{s.WeightSuffix}", W(C, 4 * C, proj)); P($"h.{l}.mlp.c_proj.bias", Bias(C));
            }
            P($"ln_f{s.WeightSuffix}", s.LayerNormZero ? torch.zeros(C) : torch.ones(C)); P("ln_f.bias", torch.zeros(C));
            if (s.SeparateHead) P("lm_head.weight", torch.randn(c.VocabSize, C) * s.Std);
        }

        Gpt2Params Params()
        {
            Tensor G(string n) => get_parameter(n)!;
            LinearParams Lin(string n, bool transpose = true) => new(transpose ? G(n + _s.WeightSuffix).t() : G(n + _s.WeightSuffix), G(n + ".bias"));
            LayerNormParams Ln(string n) => new(G(n + _s.WeightSuffix), G(n + ".bias"));
            var blocks = Enumerable.Range(0, _c.NLayer).Select(i => new BlockParams(
                Ln(_s.LnSwapped ? $"h.{i}.ln_2" : $"h.{i}.ln_1"),
                new AttentionParams(Lin($"h.{i}.attn.c_attn"), Lin($"h.{i}.attn.c_proj", !_s.ProjNotTransposed)),
                Ln(_s.LnSwapped ? $"h.{i}.ln_1" : $"h.{i}.ln_2"),
                new FeedForwardParams(Lin($"h.{i}.mlp.c_fc"), Lin($"h.{i}.mlp.c_proj")))).ToList();
            return new Gpt2Params(G("wte.weight"), G("wpe.weight"), blocks, Ln("ln_f"));
        }

        public override Tensor forward(Tensor ids) => Ops.Gpt2(ids, Params(), _c.NHead);
    }

    static CheckResult MyGpt(Slips s) => Checks.MyGpt(c => new LearnerGpt(c, s));

    // ---------------------------------------------------------------- MyGpt

    [Fact]
    public void MyGpt_right_passes() => Passes(MyGpt(new Slips()));

    [Fact]
    public void MyGpt_stub_is_not_implemented() => NotImplemented(Checks.MyGpt(_ => throw new NotImplementedException()));

    [Fact]
    public void MyGpt_short_names_fail() => FailsWith(MyGpt(new Slips { WeightSuffix = ".w" }), "end in .weight and .bias");

    [Fact]
    public void MyGpt_conv1d_layout_fails() => FailsWith(MyGpt(new Slips { Conv1DLayout = true }), "nn.Linear's layout [out, in]");

    [Fact]
    public void MyGpt_separate_head_fails() => FailsWith(MyGpt(new Slips { SeparateHead = true }), "head is tied");

    [Fact]
    public void MyGpt_std_one_fails() => FailsWith(MyGpt(new Slips { Std = 1 }), "torch.randn gives std 1");

    [Fact]
    public void MyGpt_std_001_fails() => FailsWith(MyGpt(new Slips { Std = 0.01 }), "0.02, not 0.01");

    [Fact]
    public void MyGpt_residual_scaling_missed_fails() => FailsWith(MyGpt(new Slips { ProjScale = "none" }), "scaled by 1/√(2·n_layer)");

    [Fact]
    public void MyGpt_residual_scaling_by_sqrt_n_layer_fails() => FailsWith(MyGpt(new Slips { ProjScale = "L" }), "not 1/√n_layer");

    [Fact]
    public void MyGpt_random_biases_fail() => FailsWith(MyGpt(new Slips { RandomBiases = true }), "biases start at exactly 0");

    [Fact]
    public void MyGpt_layer_norm_weights_zero_fail() => FailsWith(MyGpt(new Slips { LayerNormZero = true }), "start at 1, not 0");

    [Fact]
    public void MyGpt_uniform_init_fails() => FailsWith(MyGpt(new Slips { Uniform = true }), "torch.rand");

    [Fact]
    public void MyGpt_square_c_proj_not_transposed_fails() => FailsWith(MyGpt(new Slips { ProjNotTransposed = true }), "square");

    [Fact]
    public void MyGpt_layer_norms_swapped_fail() => FailsWith(MyGpt(new Slips { LnSwapped = true }), "swapped");

    // ---------------------------------------------------------------- loading

    static readonly string[] Conv1D = [".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"];

    /// <summary>A learner's loader: over the model's names (right) or the file's keys, with switches for typical slips.</summary>
    static nn.Module<Tensor, Tensor> Loader(string path, GptConfig c, bool overFileKeys = false, bool skipBuffers = true, bool skipHead = true,
        bool transposeOnlyWhenShapesDiffer = false, bool swallowErrors = false, bool ignoreMissing = false, bool nameTheFile = true)
    {
        var model = new LearnerGpt(c, new Slips());
        SafeTensorsFile file;
        try { file = SafeTensorsFile.Open(path); }
        catch (Exception) when (swallowErrors) { return model; }
        using (file)
        using (torch.no_grad())
        {
            var parameters = model.named_parameters().ToDictionary(np => np.name, np => np.parameter);
            void Copy(string name, Tensor t, Parameter p)
            {
                bool transpose = transposeOnlyWhenShapesDiffer ? !t.shape.SequenceEqual(p.shape) : Conv1D.Any(name.EndsWith);
                p.copy_(transpose ? t.t() : t);
            }
            if (overFileKeys)
                foreach (var key in file.Tensors.Keys)
                {
                    if (skipBuffers && key.EndsWith(".attn.bias")) continue;
                    if (skipHead && key == "lm_head.weight") continue;
                    if (!parameters.TryGetValue(key, out var p)) throw new InvalidOperationException($"{(nameTheFile ? path + ": " : "")}unknown tensor {key}");
                    Copy(key, file.Read(key), p);
                }
            else
                foreach (var (name, p) in parameters)
                {
                    if (!file.Tensors.ContainsKey(name))
                    {
                        if (ignoreMissing) continue;
                        throw new InvalidOperationException(nameTheFile ? $"{path}: no tensor {name}" : $"missing tensor {name}");
                    }
                    Copy(name, file.Read(name), p);
                }
        }
        return model;
    }

    [Fact]
    public void LoadGpt2_right_passes() => Passes(Checks.LoadGpt2((p, c) => Loader(p, c)));

    [Fact]
    public void LoadGpt2_over_the_files_keys_skipping_buffers_and_head_passes_only_with_a_missing_key_check()
    {
        // going over the file's keys never notices a tensor the file lacks
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, overFileKeys: true)), "every parameter of the model must come from the file");
    }

    [Fact]
    public void LoadGpt2_stub_is_not_implemented() => NotImplemented(Checks.LoadGpt2((_, _) => throw new NotImplementedException()));

    [Fact]
    public void LoadGpt2_transposing_only_where_shapes_differ_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, transposeOnlyWhenShapesDiffer: true)), "attn.c_proj.weight is square");

    [Fact]
    public void LoadGpt2_attn_bias_as_a_parameter_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, overFileKeys: true, skipBuffers: false)), "causal mask, a buffer");

    [Fact]
    public void LoadGpt2_lm_head_not_skipped_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, overFileKeys: true, skipHead: false)), "tied to wte");

    [Fact]
    public void LoadGpt2_truncated_file_swallowed_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, swallowErrors: true)), "a truncated file must be an error");

    [Fact]
    public void LoadGpt2_missing_tensor_ignored_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, ignoreMissing: true)), "every parameter of the model must come from the file");

    [Fact]
    public void LoadGpt2_error_without_the_file_name_fails() =>
        FailsWith(Checks.LoadGpt2((p, c) => Loader(p, c, nameTheFile: false)), "names the file");

    // ---------------------------------------------------------------- saving

    static void Saver(nn.Module model, string path, bool transpose = true, bool withHead = false, bool transposeOnlyNonSquare = false)
    {
        var tensors = new List<(string, Tensor)>();
        foreach (var (name, p) in model.named_parameters())
        {
            bool conv = Conv1D.Any(name.EndsWith) && transpose && !(transposeOnlyNonSquare && p.shape[0] == p.shape[1]);
            tensors.Add((name, conv ? p.detach().t() : p.detach()));
        }
        if (withHead) tensors.Add(("lm_head.weight", model.named_parameters().First(np => np.name == "wte.weight").parameter.detach()));
        SafeTensorsFile.Save(path, tensors);
    }

    static CheckResult Save(Action<nn.Module, string> save) =>
        Checks.SaveGpt2(save, (p, c) => Loader(p, c), c => new LearnerGpt(c, new Slips()));

    [Fact]
    public void SaveGpt2_right_passes() => Passes(Save((m, p) => Saver(m, p)));

    [Fact]
    public void SaveGpt2_the_librarys_own_model_saved_the_same_way_loads_too() =>
        Passes(Checks.SaveGpt2((m, p) => Saver(m, p), (p, c) => Loader(p, c), c => new Gpt(c, torch.CPU, seed: 1)));

    [Fact]
    public void SaveGpt2_stub_is_not_implemented() => NotImplemented(Save((_, _) => throw new NotImplementedException()));

    [Fact]
    public void SaveGpt2_with_MyGpt_still_a_stub_is_not_implemented() =>
        NotImplemented(Checks.SaveGpt2((m, p) => Saver(m, p), (p, c) => Loader(p, c), _ => throw new NotImplementedException()));

    [Fact]
    public void SaveGpt2_not_transposed_fails() => FailsWith(Save((m, p) => Saver(m, p, transpose: false)), "Conv1D layout [in, out]");

    [Fact]
    public void SaveGpt2_with_lm_head_fails() => FailsWith(Save((m, p) => Saver(m, p, withHead: true)), "no lm_head");

    [Fact]
    public void SaveGpt2_square_c_proj_not_transposed_fails() => FailsWith(Save((m, p) => Saver(m, p, transposeOnlyNonSquare: true)), "square");

    [Fact]
    public void SaveGpt2_writing_nothing_fails() => FailsWith(Save((_, _) => { }), "write the file at the path");

    // ---------------------------------------------------------------- training

    [Fact]
    public void Training_within_the_tolerance_passes() => Passes(Checks.TrainedLikeLibrary(2.03, 2.00, 2000));

    [Fact]
    public void Training_much_slower_fails() => FailsWith(Checks.TrainedLikeLibrary(2.20, 2.00, 2000), "learns more slowly");

    [Fact]
    public void Training_diverged_fails() => FailsWith(Checks.TrainedLikeLibrary(double.NaN, 2.00, 2000), "diverged");

    [Fact]
    public void Training_far_below_the_library_fails() => FailsWith(Checks.TrainedLikeLibrary(1.5, 2.00, 2000), "validation split");
}
