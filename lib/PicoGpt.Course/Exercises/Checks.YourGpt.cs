using PicoGpt.Model;
using PicoGpt.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Exercises;

// The checks of notebooks/12-your-gpt.ipynb: the learner's GPT-2 as a trainable TorchSharp module (MyGpt), its loader
// for GPT-2's model.safetensors, its saver, and the training run compared with the library's. Each is compared with the
// library's Gpt / Gpt2Checkpoint on small seeded models; torch's global random state is saved and restored.
public static partial class Checks
{
    /// <summary>One step of a module check: null when it passes, else (what differs, hint or null).</summary>
    delegate (string Problem, string? Hint)? ModuleCase();

    /// <summary>Runs named cases in order, stopping at the first failure; a NotImplementedException anywhere is "not implemented yet".</summary>
    static CheckResult RunModuleCases(string name, string summary, params (string Name, ModuleCase Run)[] cases)
    {
        var details = new List<string>();
        foreach (var (caseName, run) in cases)
        {
            (string Problem, string? Hint)? failure;
            try
            {
                using var scope = torch.NewDisposeScope();
                failure = run();
            }
            catch (Exception e) when (IsNotImplemented(e)) { return StubResult(name, e); }
            catch (Exception e)
            {
                var inner = e is System.Reflection.TargetInvocationException { InnerException: { } ie } ? ie : e;
                failure = ($"your code threw {inner.GetType().Name}: {FirstLineOf(inner.Message)}", ModuleExceptionHint(inner));
            }
            if (failure is { } f)
            {
                details.Add($"✗ {caseName}: {f.Problem}");
                foreach (var (rest, _) in cases.SkipWhile(c => c.Name != caseName).Skip(1)) details.Add($"· {rest}: not run (the check stops at the first failing case)");
                return new CheckResult(name, false, false, $"case '{caseName}': {f.Problem}" + (f.Hint != null ? ". Hint: " + f.Hint : ""), f.Hint, details);
            }
            details.Add($"✓ {caseName}");
        }
        return new CheckResult(name, true, false, summary, null, details);
    }

    static CheckResult StubResult(string name, Exception e) =>
        new(name, false, true, CheckEngine.StubMessage(e)?.Replace(".ctor", "the constructor") ?? "your code still throws NotImplementedException: replace the stub with your code", null, []);

    static bool IsNotImplemented(Exception e) =>
        e is NotImplementedException || e.InnerException is { } inner && IsNotImplemented(inner) || e is AggregateException a && a.InnerExceptions.Any(IsNotImplemented);

    static string FirstLineOf(string s) { var i = s.IndexOf('\n'); return i < 0 ? s : s[..i]; }

    static string? ModuleExceptionHint(Exception e)
    {
        var m = e.Message;
        if (m.Contains("already registered")) return "each name is registered once: a second register_parameter with the same name (an untied lm_head named like wte, or a loop that runs twice) throws";
        if (m.Contains("attn.bias") || m.Contains("masked_bias")) return ".attn.bias in a GPT-2 file is not a parameter: it is the causal mask, a buffer [1, 1, n_ctx, n_ctx] that some exports carry; skip keys ending in .attn.bias and .attn.masked_bias";
        if (m.Contains("lm_head")) return "GPT-2's head is tied to wte (the logits are x @ wteᵀ): lm_head.weight, when a file has it, is a copy of wte.weight; skip it, do not register it";
        if (m.Contains("do not fit") || m.Contains("shape") || m.Contains("size"))
            return "the module keeps nn.Linear's layout [out, in] (c_attn [3C, C]) like the library's Gpt, the file and Linear(x, W, b) use Conv1D's [in, out]: " +
                   "transpose exactly the four Conv1D weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj .weight) between them, nothing else (wte, wpe, biases, layer norms)";
        return null;
    }

    /// <summary>The parameters' names and shapes, in order.</summary>
    static List<(string Name, long[] Shape)> Layout(nn.Module m) => m.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();

    static string Shape(long[] s) => "[" + string.Join(", ", s) + "]";

    static readonly string[] Conv1DSuffixes = [".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"];
    static bool IsConv1DKey(string key) => Conv1DSuffixes.Any(key.EndsWith);

    /// <summary>Names, shapes and count of the learner's module against the library's Gpt of the same configuration.</summary>
    static (string, string?)? SameLayout(nn.Module yours, GptConfig config)
    {
        using var reference = new Gpt(config, torch.META, initialize: false);
        var want = Layout(reference);
        var got = Layout(yours);
        var wantNames = want.Select(w => w.Name).ToHashSet();
        var gotNames = got.Select(g => g.Name).ToList();
        var missing = want.Where(w => !gotNames.Contains(w.Name)).Select(w => w.Name).ToList();
        var extra = gotNames.Where(n => !wantNames.Contains(n)).Distinct().ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            var problem = (missing.Count > 0 ? $"missing {missing.Count} name{(missing.Count == 1 ? "" : "s")} ({string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? ", ..." : "")})" : "") +
                          (missing.Count > 0 && extra.Count > 0 ? "; " : "") +
                          (extra.Count > 0 ? $"names the library's Gpt does not have ({string.Join(", ", extra.Take(4))}{(extra.Count > 4 ? ", ..." : "")})" : "");
            string? hint =
                extra.Any(n => n.StartsWith("lm_head")) ? "GPT-2's head is tied: the logits are x @ wteᵀ with wte.weight itself, so there is no lm_head parameter (a separate one would add V × C parameters and break loading)"
                : extra.Any(n => n.EndsWith(".w") || n.EndsWith(".b") || n.EndsWith(".g")) ? "Hugging Face's names end in .weight and .bias (h.0.attn.c_attn.weight, h.0.ln_1.bias), not .w/.b/.g"
                : extra.Any(n => n.StartsWith("transformer.")) ? "no transformer. prefix: the module's names are wte.weight, h.0.ln_1.weight, ... (a loader strips the prefix some files have)"
                : extra.Any(n => n.StartsWith("h") && !n.StartsWith("h.")) ? "a block's names are h.<i>.<part>, with a dot after h (h.0.attn.c_attn.weight), counted from 0"
                : extra.Any(n => n.StartsWith($"h.{config.NLayer}.")) || missing.Any(n => n.StartsWith("h.0.")) ? $"blocks are numbered from 0: h.0 ... h.{config.NLayer - 1}"
                : extra.Any(n => !n.EndsWith(".weight") && !n.EndsWith(".bias")) || missing.Any(n => n.Contains(".ln_")) && extra.Any(n => n.Contains(".ln")) ? "the names are Hugging Face's: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj in each block h.<i>, then ln_f; each with .weight and .bias"
                : null;
            return (problem, hint);
        }
        if (gotNames.Count != gotNames.Distinct().Count())
            return ($"a name is registered twice ({gotNames.GroupBy(n => n).First(g => g.Count() > 1).Key})", null);
        foreach (var (name, shape) in want)
        {
            var mine = got.First(g => g.Name == name).Shape;
            if (mine.SequenceEqual(shape)) continue;
            var transposed = mine.Length == 2 && shape.Length == 2 && mine[0] == shape[1] && mine[1] == shape[0];
            return ($"{name} is {Shape(mine)}, the library's Gpt has {Shape(shape)}",
                transposed && IsConv1DKey(name) ? "the module keeps nn.Linear's layout [out, in], as the library's Gpt does (c_attn [3C, C]); Conv1D's [in, out] is the file's layout, and Params() gives Linear(x, W, b) its W as weight.t()"
                : transposed ? $"{name} is transposed: embeddings are [rows, n_embd] (wte [n_vocab, n_embd], wpe [n_ctx, n_embd])"
                : name.Contains(".mlp.") ? "the MLP is 4 × n_embd wide: c_fc [4C, C] and [4C], c_proj [C, 4C]"
                : name.Contains("c_attn") ? "c_attn makes q, k and v at once: [3C, C] and bias [3C]"
                : null);
        }
        long wantCount = want.Sum(w => w.Shape.Aggregate(1L, (a, b) => a * b));
        long gotCount = yours.parameters().Sum(p => p.numel());
        if (gotCount != wantCount)
            return ($"{gotCount:N0} parameters, the library's Gpt has {wantCount:N0}",
                gotCount - wantCount == (long)config.VocabSize * config.NEmbd ? "the tied head is counted twice: register wte.weight once and use it as the head too" : null);
        return null;
    }

    /// <summary>
    /// GPT-2's initialisation, from the statistics of a fresh model (4 layers, so the residual scaling is visible):
    /// weights N(0, 0.02), the c_proj weights N(0, 0.02/√(2·n_layer)); biases exactly 0; layer norms weight 1, bias 0.
    /// </summary>
    static (string, string?)? InitStatistics(nn.Module yours, int nLayer)
    {
        var groups = new Dictionary<string, List<Tensor>>();
        void Add(string g, Tensor t) { if (!groups.TryGetValue(g, out var l)) groups[g] = l = []; l.Add(t.detach().flatten()); }
        foreach (var (name, p) in yours.named_parameters())
        {
            if (name.Contains("ln_") && name.EndsWith(".weight")) Add("layer norm weights", p);
            else if (name.EndsWith(".bias")) Add(name.Contains("ln_") ? "layer norm biases" : "linear biases", p);
            else if (name.EndsWith("c_proj.weight")) Add("c_proj weights", p);
            else Add("other weights (wte, wpe, c_attn, c_fc)", p);
        }
        Tensor All(string g) => torch.cat(groups[g].ToArray());
        double proj = 0.02 / Math.Sqrt(2 * nLayer);
        var lnW = All("layer norm weights");
        if (!lnW.eq(1).all().item<bool>())
            return ($"layer norm weights should all be exactly 1, got mean {lnW.mean().item<float>():G3}, std {lnW.std().item<float>():G3}",
                lnW.eq(0).any().item<bool>() ? "layer norm weights (gains) start at 1, not 0: a gain of 0 switches the layer's output off (ones, like init.ones_)"
                : "layer norm weights (gains) start at exactly 1, not random: the normalised x passes through unchanged at first");
        foreach (var g in new[] { "layer norm biases", "linear biases" })
        {
            var b = All(g);
            if (!b.eq(0).all().item<bool>())
                return ($"{g} should all be exactly 0, got std {b.std().item<float>():G3}", "biases start at exactly 0 (torch.zeros), not random: GPT-2 initialises only the weight matrices randomly");
        }
        foreach (var (g, want) in new[] { ("other weights (wte, wpe, c_attn, c_fc)", 0.02), ("c_proj weights", proj) })
        {
            var w = All(g);
            double std = w.std().item<float>(), mean = w.mean().item<float>();
            if (Math.Abs(std - want) <= 0.1 * want && Math.Abs(mean) <= 0.1 * want) continue;
            var problem = $"{g}: std {std:G3}, mean {mean:G3}; expected std {want:G3} (within 10%), mean 0";
            string? hint =
                std == 0 ? "the weights must start random (normal, std 0.02): with all weights zero every unit computes the same thing and they never differ"
                : Math.Abs(mean) > 0.25 * std ? "the weights should have mean 0: torch.rand is uniform on [0, 1) (mean 0.5); the initialisation is normal, torch.randn(shape) * std"
                : Math.Abs(std - 1) < 0.1 ? "torch.randn gives std 1: multiply by the std you want (torch.randn(shape) * 0.02)"
                : g == "c_proj weights" && Math.Abs(std - 0.02) < 0.1 * 0.02 ? $"the residual projections (attn.c_proj and mlp.c_proj weights) are scaled by 1/√(2·n_layer): std 0.02/√(2·{nLayer}) = {proj:G3}, because each block adds two of them to the residual stream"
                : g == "c_proj weights" && Math.Abs(std - 0.02 / Math.Sqrt(nLayer)) < 0.1 * 0.02 / Math.Sqrt(nLayer) ? $"scale by 1/√(2·n_layer), not 1/√n_layer: each block adds TWO projections (attention and MLP) to the residual stream, so std 0.02/√(2·{nLayer}) = {proj:G3}"
                : Math.Abs(std - 0.01) < 0.001 ? "GPT-2's std is 0.02, not 0.01"
                : g != "c_proj weights" && Math.Abs(std - proj) < 0.1 * proj ? "only the c_proj weights are scaled by 1/√(2·n_layer); wte, wpe, c_attn and c_fc keep std 0.02"
                : null;
            return (problem, hint);
        }
        return null;
    }

    /// <summary>Copies the library model's weights into the learner's module by name (same shapes: checked before).</summary>
    static void CopyWeights(Gpt from, nn.Module to)
    {
        var source = from.state_dict();
        using var _ = torch.no_grad();
        foreach (var (name, p) in to.named_parameters()) p.copy_(source[name]);
    }

    /// <summary>Logits of the learner's module and of the library's Gpt on the same ids; null when they agree within tol.</summary>
    static (string, string?)? SameLogits(nn.Module<Tensor, Tensor> yours, Gpt reference, Tensor ids, double tol, Func<string?>? diagnose = null)
    {
        Tensor got, want;
        using (torch.no_grad())
        {
            yours.eval();
            got = yours.forward(ids);
            want = reference.forward(ids);
        }
        var (diff, _) = CheckEngine.Compare(want, got, tol);
        return diff == null ? null : ($"logits on ids [{string.Join(", ", ids.shape)}]: {diff} (tolerance {tol:G2})", diagnose?.Invoke());
    }

    static Tensor RandomIds(int seed, int vocab, params long[] shape)
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        return torch.tensor(Enumerable.Range(0, (int)n).Select(_ => (long)rng.Next(vocab)).ToArray(), shape);
    }

    static readonly GptConfig SmallConfig = new() { VocabSize = 50, ContextLength = 16, NEmbd = 32, NLayer = 2, NHead = 4 };
    static readonly GptConfig InitConfig = new() { VocabSize = 300, ContextLength = 64, NEmbd = 64, NLayer = 6, NHead = 4 };

    /// <summary>Params() mistakes a learner makes that still run: the square attn.c_proj not transposed, ln_1/ln_2 swapped.</summary>
    static string? ForwardDiagnosis(Gpt reference, Tensor ids, Tensor got)
    {
        var p = reference.ToParams();
        var blocksNoT = p.Blocks.Select(b => b with { Attn = b.Attn with { CProj = b.Attn.CProj with { W = b.Attn.CProj.W.t() } } }).ToList();
        var swapped = p.Blocks.Select(b => b with { Ln1 = b.Ln2, Ln2 = b.Ln1 }).ToList();
        using var _ = torch.no_grad();
        if (CheckEngine.Matches(Ops.Gpt2(ids, p with { Blocks = blocksNoT }, reference.Config.NHead), got, 1e-4))
            return "attn.c_proj.weight is square ([C, C]), so forgetting its .t() in Params() raises no shape error: every Conv1D weight goes to Linear as weight.t()";
        if (CheckEngine.Matches(Ops.Gpt2(ids, p with { Blocks = swapped }, reference.Config.NHead), got, 1e-4))
            return "ln_1 is the layer norm before attention, ln_2 the one before the MLP: yours are swapped";
        if (CheckEngine.Matches(Ops.Gpt2(ids, p with { LnF = p.Blocks[^1].Ln2 }, reference.Config.NHead), got, 1e-4))
            return "the final layer norm is ln_f (its own weight and bias), not the last block's";
        return null;
    }

    /// <summary>
    /// The learner's GPT-2 module, built by <paramref name="create"/> for a configuration: its parameter names, shapes and
    /// count equal the library's <see cref="Gpt"/> (Hugging Face's names, nn.Linear's [out, in], the head tied to wte);
    /// a fresh model has GPT-2's initial statistics; and with the library model's weights copied in by name, its logits
    /// on a batch of ids equal the library's within 1e-5 (float32).
    /// </summary>
    public static CheckResult MyGpt(Func<GptConfig, nn.Module<Tensor, Tensor>> create) => KeepingTorchRng(() =>
    {
        return RunModuleCases("MyGpt", "names, shapes and count equal the library's Gpt, GPT-2's initialisation, and the same logits as Gpt on the same weights (batch of 3, within 1e-5)",
            ("names, shapes and count (2 layers, n_embd 32, vocab 50)", () => { using var m = create(SmallConfig); return SameLayout(m, SmallConfig); }),
            ("the same for 6 layers, n_embd 64, vocab 300", () => { using var m = create(InitConfig); return SameLayout(m, InitConfig); }),
            ("initial statistics (6 layers, n_embd 64; seed 0)", () => { torch.manual_seed(0); using var m = create(InitConfig); return InitStatistics(m, InitConfig.NLayer); }),
            ("logits equal Gpt's on the same weights: ids [3, 12], float32, tolerance 1e-5", () =>
            {
                using var reference = new Gpt(SmallConfig, torch.CPU, seed: 5);
                using (torch.no_grad())                                  // layer norms and biases away from 1 and 0, so mix-ups show
                    foreach (var (name, p) in reference.named_parameters().Where(np => np.parameter.dim() == 1))
                        p.copy_(torch.randn_like(p) * 0.2 + (name.Contains("ln_") && name.EndsWith(".weight") ? 1 : 0));
                using var small = create(SmallConfig);
                CopyWeights(reference, small);
                var ids = RandomIds(3, SmallConfig.VocabSize, 3, 12);
                return SameLogits(small, reference, ids, 1e-5, () => { using var _ = torch.no_grad(); return ForwardDiagnosis(reference, ids, small.forward(ids)); });
            }));
    });

    // ---------------------------------------------------------------- loading and saving GPT-2's files

    /// <summary>A model.safetensors as the hub has it: Conv1D weights [in, out], optionally the attn.bias mask buffers and lm_head.</summary>
    internal static void WriteHubFile(Gpt model, string path, bool withBuffers, bool withHead, string? leaveOut = null)
    {
        using var scope = torch.NewDisposeScope();
        var tensors = new List<(string, Tensor)>();
        foreach (var (key, t) in model.state_dict())
        {
            if (key == leaveOut) continue;
            tensors.Add((key, IsConv1DKey(key) ? t.t().contiguous() : t));
            if (withBuffers && key.EndsWith(".ln_1.weight"))
            {
                var n = model.Config.ContextLength;
                tensors.Add((key.Replace(".ln_1.weight", ".attn.bias"), torch.ones(n, n).tril().view(1, 1, n, n)));
            }
        }
        if (withHead) tensors.Add(("lm_head.weight", model.TokenEmbedding));
        SafeTensorsFile.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// The learner's loader of GPT-2's model.safetensors (path, config -> their module): on files written in the check
    /// (a model in the library's layout; one like the hub's, with the attn.bias buffers and lm_head.weight) its logits
    /// equal the library's Gpt with the same weights; a truncated file and a file missing a tensor throw an exception
    /// naming the file.
    /// </summary>
    public static CheckResult LoadGpt2(Func<string, GptConfig, nn.Module<Tensor, Tensor>> load) => KeepingTorchRng(() =>
    {
        var dir = Directory.CreateTempSubdirectory("picogpt-check-").FullName;
        try
        {
            using var reference = new Gpt(SmallConfig, torch.CPU, seed: 11);
            var ids = RandomIds(4, SmallConfig.VocabSize, 2, 10);
            (string, string?)? Loads(string file, bool buffers, bool head)
            {
                var path = Path.Combine(dir, file);
                WriteHubFile(reference, path, buffers, head);
                using var m = load(path, SmallConfig);
                return SameLogits(m, reference, ids, 1e-5, () => { using var _ = torch.no_grad(); return LoaderDiagnosis(reference, path, m.forward(ids), ids); });
            }
            (string, string?)? Refuses(string file, string what, Action<string> write, string hint)
            {
                var path = Path.Combine(dir, file);
                write(path);
                try { using var m = load(path, SmallConfig); }
                catch (Exception e) when (!IsNotImplemented(e))
                {
                    var message = e.Message + (e.InnerException?.Message ?? "");
                    return message.Contains(path) || message.Contains(file) ? null
                        : ($"{what}: your loader threw {e.GetType().Name}: {FirstLineOf(e.Message)}, which does not name the file", "an error about a file names the file (its path), so the user knows which one to fix: e.g. throw new PicoGptException($\"{path}: ...\"); SafeTensorsFile.Open does this for a damaged file");
                }
                return ($"{what}: your loader returned a model instead of throwing", hint);
            }
            return RunModuleCases("load GPT-2", "your loader gives the library's logits on GPT-2-layout files (with and without the attn.bias buffers and lm_head) and refuses a truncated file and a missing tensor, naming the file",
                ("a model saved in the library's layout (no buffers, no lm_head)", () => Loads("plain.safetensors", false, false)),
                ("a file like the hub's: h.<i>.attn.bias mask buffers and lm_head.weight", () => Loads("hub.safetensors", true, true)),
                ("a truncated file", () => Refuses("truncated.safetensors", "a file cut in half", path =>
                {
                    WriteHubFile(reference, path + ".full", true, true);
                    var bytes = File.ReadAllBytes(path + ".full");
                    File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
                }, "a truncated file must be an error, not a model with some weights missing: open it with SafeTensorsFile.Open (it checks that every tensor lies inside the file) and let its exception through")),
                ("a file without h.1.mlp.c_fc.bias", () => Refuses("missing.safetensors", "a file that lacks h.1.mlp.c_fc.bias", path => WriteHubFile(reference, path, true, true, leaveOut: "h.1.mlp.c_fc.bias"),
                    "every parameter of the model must come from the file: a key the file lacks is an error naming the file and the key (otherwise that weight silently keeps its random initial value)")));
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    });

    /// <summary>Loader mistakes that still run: the square attn.c_proj left as [in, out], lm_head loaded over wte, the model left untouched.</summary>
    static string? LoaderDiagnosis(Gpt reference, string path, Tensor got, Tensor ids)
    {
        var p = reference.ToParams();
        var noT = p.Blocks.Select(b => b with { Attn = b.Attn with { CProj = b.Attn.CProj with { W = b.Attn.CProj.W.t() } } }).ToList();
        if (CheckEngine.Matches(Ops.Gpt2(ids, p with { Blocks = noT }, reference.Config.NHead), got, 1e-4))
            return "attn.c_proj.weight is square ([C, C]), so copying it without .t() raises no shape error: transpose all four Conv1D weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj), not only those whose shapes differ";
        var sameLogits = CheckEngine.Matches(Ops.Gpt2(ids, p, reference.Config.NHead), got, 1e-3);
        return sameLogits ? null : "compare your model's named_parameters with the file's keys: every one must be copied (Conv1D weights transposed), and lm_head.weight and .attn.bias skipped";
    }

    /// <summary>
    /// The learner's saver (module, path) and loader: a model the learner builds (<paramref name="create"/>) is saved in
    /// GPT-2's layout, which the library's <see cref="Gpt2Checkpoint.Load"/> reads to the same logits (Conv1D [in, out],
    /// no lm_head, no prefix), and the learner's loader reads it back to the same logits (the round trip).
    /// </summary>
    public static CheckResult SaveGpt2(Action<nn.Module, string> save, Func<string, GptConfig, nn.Module<Tensor, Tensor>> load, Func<GptConfig, nn.Module<Tensor, Tensor>> create) => KeepingTorchRng(() =>
    {
        var dir = Directory.CreateTempSubdirectory("picogpt-check-").FullName;
        try
        {
            torch.manual_seed(3);
            nn.Module<Tensor, Tensor> made;
            try { made = create(SmallConfig); }
            catch (Exception e) when (IsNotImplemented(e)) { return StubResult("save GPT-2", e); }
            catch (Exception e) { return new CheckResult("save GPT-2", false, false, $"case 'a model to save': making it threw {e.GetType().Name}: {FirstLineOf(e.Message)} (pass the MyGpt check first)", null, []); }
            using var mine = made;
            var ids = RandomIds(6, SmallConfig.VocabSize, 2, 9);
            var path = Path.Combine(dir, Gpt2Checkpoint.WeightsFile);
            return RunModuleCases("save GPT-2", "the saved file loads in the library's Gpt2Checkpoint and in your loader to the same logits",
                ("saved file read by the library's Gpt2Checkpoint.Load", () =>
                {
                    save(mine, path);
                    if (!File.Exists(path)) return ($"nothing was written to {path}", "write the file at the path you are given: SafeTensorsFile.Save(path, tensors)");
                    File.WriteAllText(Path.Combine(dir, Gpt2Checkpoint.ConfigFile), SmallConfig.ToJson());
                    using var file = SafeTensorsFile.Open(path);
                    if (file.Tensors.ContainsKey("lm_head.weight")) return ("the file has lm_head.weight", "GPT-2's files have no lm_head (the head is wte): save each parameter once");
                    var c_attn = file.Tensors.GetValueOrDefault("h.0.attn.c_attn.weight");
                    if (c_attn != null && c_attn.Shape.SequenceEqual(new long[] { 3 * SmallConfig.NEmbd, SmallConfig.NEmbd }))
                        return ("h.0.attn.c_attn.weight is saved as [3C, C]", "GPT-2's files keep the Conv1D layout [in, out]: save the four Conv1D weights transposed (weight.t()), everything else as it is");
                    Gpt reference;
                    try { reference = Gpt2Checkpoint.Load(dir, torch.CPU); }
                    catch (PicoGptException e) { return ($"the library cannot load it: {FirstLineOf(e.Message)}", e.Message.Contains("wrong shape") ? "transpose exactly the four Conv1D weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj), nothing else" : null); }
                    using (reference)
                        return SameLogits(mine, reference, ids, 1e-5, () => "attn.c_proj.weight is square, so saving it without .t() still loads: transpose all four Conv1D weights");
                }),
                ("round trip: your loader reads your file back", () =>
                {
                    using var back = load(path, SmallConfig);
                    Tensor a, b;
                    using (torch.no_grad()) { mine.eval(); back.eval(); a = mine.forward(ids); b = back.forward(ids); }
                    var (diff, _) = CheckEngine.Compare(a, b, 1e-6);      // the same numbers; a fused kernel may round differently
                    return diff == null ? null : ($"logits after the round trip: {diff}", "save and load must be exact inverses: the same keys, and the same transposes both ways");
                }));
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    });

    /// <summary>
    /// Your model, trained with your loop, against the library's Gpt trained with the same loop, steps and seed: the final
    /// validation losses within <paramref name="tolerance"/> (0.05 nats, as different initial draws allow).
    /// </summary>
    public static CheckResult TrainedLikeLibrary(double yourValLoss, double libraryValLoss, int steps, double tolerance = 0.05)
    {
        var d = yourValLoss - libraryValLoss;
        var line = $"after {steps} steps: your model's val loss {yourValLoss:F3} (perplexity {Math.Exp(yourValLoss):F2}), the library's {libraryValLoss:F3} (perplexity {Math.Exp(libraryValLoss):F2}), difference {d:+0.000;-0.000}";
        var details = new List<string> { $"{(Math.Abs(d) <= tolerance ? "✓" : "✗")} {line} (tolerance {tolerance})" };
        if (double.IsFinite(yourValLoss) && Math.Abs(d) <= tolerance) return new CheckResult("training", true, false, line, null, details);
        string hint = !double.IsFinite(yourValLoss) ? "the loss is not finite: training diverged (a learning rate or an initialisation far too large?)"
            : d > 0 ? "yours learns more slowly: compare the initialisation (MyGpt check) and that the optimizer got all parameters (model.parameters() of your module)"
            : "yours is much lower than the library's: is the val loss computed on the validation split, in eval mode, on the same batches?";
        return new CheckResult("training", false, false, $"case 'validation loss': {line}, more than {tolerance}. Hint: {hint}", hint, details);
    }
}
