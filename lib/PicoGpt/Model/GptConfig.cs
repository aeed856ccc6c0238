using System.Text.Json;
using System.Text.Json.Nodes;

namespace PicoGpt.Model;

/// <summary>
/// The shape of a GPT-2 model. Field names follow nanoGPT; <see cref="ReadJson"/> / <see cref="ToJson"/> use the
/// Hugging Face GPT-2 config.json keys (n_embd, n_layer, n_head, n_positions, vocab_size, layer_norm_epsilon...).
/// </summary>
public sealed record GptConfig
{
    public int VocabSize { get; init; } = 50257;
    /// <summary>Context length (n_positions).</summary>
    public int ContextLength { get; init; } = 1024;
    public int NEmbd { get; init; } = 768;
    public int NLayer { get; init; } = 12;
    public int NHead { get; init; } = 12;
    /// <summary>
    /// Dropout probability in training mode, one rate for the three places GPT-2 drops: the embeddings (Hugging Face's
    /// embd_pdrop), the attention weights (attn_pdrop) and the residual branches after attention and MLP (resid_pdrop).
    /// Dropout does nothing in eval mode (generation, checks). 0 unless set; the GPT-2 presets have 0.1, as the hub's
    /// config.json files do. <see cref="ReadJson"/> says how three different rates map onto this one.
    /// </summary>
    public double Dropout { get; init; } = 0.0;
    /// <summary>Bias in the linear layers and layer norms (GPT-2: true; nanoGPT's bias = False turns all of them off).</summary>
    public bool Bias { get; init; } = true;
    /// <summary>
    /// Bias in the query/key/value projection c_attn (GPT-2: true). Some re-implementations turn it off
    /// (LLMs-from-scratch's qkv_bias = False, for training from scratch); it matters only when <see cref="Bias"/> is true.
    /// </summary>
    public bool QkvBias { get; init; } = true;
    public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>Tokenizer kind stored with the model: "gpt2" (BPE, vocab.json + merges.txt) or "char".</summary>
    public string Tokenizer { get; init; } = "gpt2";

    public int HeadSize => NEmbd / NHead;

    /// <summary>GPT-2 small ("gpt2", 124M): the hub's config.json, dropout 0.1 included.</summary>
    public static GptConfig Gpt2 { get; } = new() { Dropout = 0.1 };
    public static GptConfig Gpt2Medium { get; } = Gpt2 with { NEmbd = 1024, NLayer = 24, NHead = 16 };
    public static GptConfig Gpt2Large { get; } = Gpt2 with { NEmbd = 1280, NLayer = 36, NHead = 20 };
    public static GptConfig Gpt2Xl { get; } = Gpt2 with { NEmbd = 1600, NLayer = 48, NHead = 25 };
    /// <summary>A tiny model for tests: 2 layers, 4 heads, 32 wide, context 32, vocab 96.</summary>
    public static GptConfig Tiny { get; } = new() { VocabSize = 96, ContextLength = 32, NEmbd = 32, NLayer = 2, NHead = 4 };
    /// <summary>The character-level Shakespeare model shipped in weights/shakespeare-char (65 symbols).</summary>
    public static GptConfig ShakespeareChar { get; } = new()
        { VocabSize = 65, ContextLength = 128, NEmbd = 192, NLayer = 4, NHead = 4, Dropout = 0.1, Tokenizer = "char" };

    public static IReadOnlyDictionary<string, GptConfig> Presets { get; } = new Dictionary<string, GptConfig>
    {
        ["gpt2"] = Gpt2, ["gpt2-medium"] = Gpt2Medium, ["gpt2-large"] = Gpt2Large, ["gpt2-xl"] = Gpt2Xl,
        ["tiny"] = Tiny, ["shakespeare-char"] = ShakespeareChar,
    };

    public static GptConfig FromPreset(string name) =>
        Presets.TryGetValue(name, out var c) ? c
            : throw new PicoGptException($"unknown model preset '{name}': expected one of {string.Join(", ", Presets.Keys)}");

    /// <summary>Throws a PicoGptException (naming <paramref name="source"/>) when the sizes are inconsistent.</summary>
    public GptConfig Validate(string source = "config")
    {
        void Positive(int v, string key) { if (v <= 0) throw new PicoGptException($"{source}: {key} must be positive, got {v}"); }
        Positive(VocabSize, "vocab_size"); Positive(ContextLength, "n_positions"); Positive(NEmbd, "n_embd");
        Positive(NLayer, "n_layer"); Positive(NHead, "n_head");
        if (NEmbd % NHead != 0) throw new PicoGptException($"{source}: n_embd ({NEmbd}) must be divisible by n_head ({NHead})");
        if (Dropout < 0 || Dropout >= 1) throw new PicoGptException($"{source}: dropout must be in [0, 1), got {Dropout}");
        if (!(LayerNormEps > 0)) throw new PicoGptException($"{source}: layer_norm_epsilon must be positive, got {LayerNormEps}");
        if (Tokenizer is not ("gpt2" or "char")) throw new PicoGptException($"{source}: tokenizer must be \"gpt2\" or \"char\", got \"{Tokenizer}\"");
        if ((long)VocabSize * NEmbd > int.MaxValue || (long)NEmbd * NEmbd * 4 > int.MaxValue || NLayer > 1000 || ContextLength > 1 << 20)
            throw new PicoGptException($"{source}: sizes are implausibly large (vocab {VocabSize}, n_embd {NEmbd}, n_layer {NLayer}, n_positions {ContextLength})");
        return this;
    }

    /// <summary>Parameters with the head tied to the token embedding (counted once): 124,439,808 for gpt2.</summary>
    public long ParameterCount => CountParameters().Total;

    /// <summary>
    /// The parameters of this configuration by part, from the sizes alone (no weights). With <paramref name="tiedHead"/>
    /// (GPT-2, nanoGPT, our <see cref="Gpt"/>) the output head is wte itself and adds nothing; without it, the head is
    /// a separate [n_vocab, n_embd] matrix without bias (as in LLMs-from-scratch's GPTModel): gpt2 then has 163,037,184.
    /// </summary>
    public ParameterCounts CountParameters(bool tiedHead = true)
    {
        long c = NEmbd, v = VocabSize, b = Bias ? 1 : 0, qkvB = Bias && QkvBias ? 1 : 0;
        long ln = c + b * c;                                         // gain, and shift when Bias
        return new ParameterCounts(
            TokenEmbedding: v * c,
            PositionEmbedding: (long)ContextLength * c,
            AttentionPerBlock: (c * 3 * c + qkvB * 3 * c) + (c * c + b * c),   // c_attn + c_proj
            MlpPerBlock: (c * 4 * c + b * 4 * c) + (4 * c * c + b * c),        // c_fc + c_proj
            NormsPerBlock: 2 * ln,                                             // ln_1 + ln_2
            Blocks: NLayer,
            FinalNorm: ln,                                                     // ln_f
            Head: tiedHead ? 0 : v * c);
    }

    // Keys of Hugging Face's GPT2Config (and its base class) that we accept; the values of the ones we do not use are
    // checked where they could change the model's meaning.
    static readonly HashSet<string> IgnoredKeys = new()
    {
        "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "initializer_range",
        "bos_token_id", "eos_token_id", "pad_token_id", "summary_activation", "summary_first_dropout", "summary_proj_to_labels",
        "summary_type", "summary_use_proj", "task_specific_params", "use_cache", "scale_attn_weights",
        "reorder_and_upcast_attn", "gradient_checkpointing", "tokenizer_class", "n_ctx", "output_past", "torchscript",
        "tie_word_embeddings", "id2label", "label2id", "problem_type", "return_dict", "output_hidden_states",
        "output_attentions", "add_cross_attention", "is_decoder", "is_encoder_decoder", "prefix",
    };

    /// <summary>
    /// Reads a Hugging Face GPT-2 config.json. Unknown keys, missing keys and wrong types are errors naming the file.
    /// Dropout: GPT-2's file has three rates (resid_pdrop, embd_pdrop, attn_pdrop; 0.1 each for every GPT-2 size), this
    /// library one (<see cref="Dropout"/>). A missing rate counts as 0.1 (Hugging Face's GPT2Config default); when the
    /// three differ, the largest is used, so training regularises at least as much as the file asks anywhere (inference
    /// is unaffected: dropout acts only in training mode). Each rate must be in [0, 1).
    /// </summary>
    public static GptConfig ReadJson(string path)
    {
        string text;
        try { text = File.ReadAllText(path, new System.Text.UTF8Encoding(false, true)); }
        catch (FileNotFoundException) { throw new PicoGptException($"{path}: file not found (a model folder needs config.json)"); }
        catch (DirectoryNotFoundException) { throw new PicoGptException($"{path}: folder not found"); }
        catch (System.Text.DecoderFallbackException) { throw new PicoGptException($"{path}: not valid UTF-8"); }
        JsonObject obj;
        try { obj = JsonNode.Parse(text) as JsonObject ?? throw new PicoGptException($"{path}: expected a JSON object"); }
        catch (JsonException e) { throw new PicoGptException($"{path}: not valid JSON ({e.Message.Split('\n')[0]})"); }

        int Int(string key, int? fallback = null)
        {
            if (!obj.TryGetPropertyValue(key, out var n) || n == null)
                return fallback ?? throw new PicoGptException($"{path}: missing key \"{key}\"");
            if (n is JsonValue v && v.TryGetValue<long>(out var l) && l >= int.MinValue && l <= int.MaxValue) return (int)l;
            if (n is JsonValue v2 && v2.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
            throw new PicoGptException($"{path}: \"{key}\" must be an integer, got {n.ToJsonString()}");
        }
        double Num(string key, double fallback)
        {
            if (!obj.TryGetPropertyValue(key, out var n) || n == null) return fallback;
            if (n is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d)) return d;
            throw new PicoGptException($"{path}: \"{key}\" must be a number, got {n.ToJsonString()}");
        }
        string Str(string key, string fallback)
        {
            if (!obj.TryGetPropertyValue(key, out var n) || n == null) return fallback;
            if (n is JsonValue v && v.TryGetValue<string>(out var s)) return s;
            throw new PicoGptException($"{path}: \"{key}\" must be a string, got {n.ToJsonString()}");
        }

        var known = new HashSet<string>(IgnoredKeys)
        {
            "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "layer_norm_epsilon", "resid_pdrop", "embd_pdrop",
            "attn_pdrop", "activation_function", "n_inner", "bias", "qkv_bias", "tokenizer", "scale_attn_by_inverse_layer_idx",
        };
        foreach (var (key, _) in obj)
            if (!known.Contains(key)) throw new PicoGptException($"{path}: unknown config key \"{key}\"");

        var act = Str("activation_function", "gelu_new");
        if (act is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
            throw new PicoGptException($"{path}: activation_function \"{act}\" is not supported (GPT-2 uses the tanh GELU, \"gelu_new\")");
        int nEmbd = Int("n_embd");
        if (obj["n_inner"] is JsonNode inner && Int("n_inner") != 4 * nEmbd)
            throw new PicoGptException($"{path}: n_inner {inner.ToJsonString()} is not supported (only 4 * n_embd = {4 * nEmbd})");
        if (obj["scale_attn_by_inverse_layer_idx"] is JsonValue sv && sv.TryGetValue<bool>(out var sb) && sb)
            throw new PicoGptException($"{path}: scale_attn_by_inverse_layer_idx = true is not supported");
        bool Bool(string key)
        {
            if (obj[key] is not JsonNode n) return true;
            return n is JsonValue v && v.TryGetValue<bool>(out var b) ? b
                : throw new PicoGptException($"{path}: \"{key}\" must be true or false, got {n.ToJsonString()}");
        }
        // one dropout rate for GPT-2's three: a missing one is GPT2Config's default 0.1; different ones give the largest
        double Rate(string key)
        {
            var r = Num(key, 0.1);
            return r >= 0 && r < 1 ? r : throw new PicoGptException($"{path}: {key} must be in [0, 1), got {r}");
        }
        double dropout = new[] { "resid_pdrop", "embd_pdrop", "attn_pdrop" }.Max(Rate);

        return new GptConfig
        {
            VocabSize = Int("vocab_size"),
            ContextLength = Int("n_positions", obj.ContainsKey("n_ctx") ? Int("n_ctx") : null),
            NEmbd = nEmbd,
            NLayer = Int("n_layer"),
            NHead = Int("n_head"),
            LayerNormEps = Num("layer_norm_epsilon", 1e-5),
            Dropout = dropout,
            Bias = Bool("bias"),
            QkvBias = Bool("qkv_bias"),
            Tokenizer = Str("tokenizer", "gpt2"),
        }.Validate(path);
    }

    /// <summary>
    /// The Hugging Face GPT-2 config.json for this model (plus "tokenizer", "bias" and "qkv_bias" when not GPT-2's
    /// defaults); <see cref="Dropout"/> is written as all three rates.
    /// </summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["activation_function"] = "gelu_new",
            ["vocab_size"] = VocabSize,
            ["n_positions"] = ContextLength,
            ["n_ctx"] = ContextLength,
            ["n_embd"] = NEmbd,
            ["n_layer"] = NLayer,
            ["n_head"] = NHead,
            ["layer_norm_epsilon"] = LayerNormEps,
            ["resid_pdrop"] = Dropout,
            ["embd_pdrop"] = Dropout,
            ["attn_pdrop"] = Dropout,
        };
        if (Tokenizer == "gpt2") { o["bos_token_id"] = VocabSize - 1; o["eos_token_id"] = VocabSize - 1; }
        if (!Bias) o["bias"] = false;
        if (!QkvBias) o["qkv_bias"] = false;
        if (Tokenizer != "gpt2") o["tokenizer"] = Tokenizer;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>
/// A configuration's parameters by part (see <see cref="GptConfig.CountParameters"/>). Per-block counts are for one of
/// the <see cref="Blocks"/> blocks; <see cref="Head"/> is 0 when the head is tied to the token embedding.
/// </summary>
public sealed record ParameterCounts(long TokenEmbedding, long PositionEmbedding, long AttentionPerBlock, long MlpPerBlock,
    long NormsPerBlock, int Blocks, long FinalNorm, long Head)
{
    /// <summary>One transformer block: attention + MLP + its two layer norms.</summary>
    public long PerBlock => AttentionPerBlock + MlpPerBlock + NormsPerBlock;
    /// <summary>Everything: wte + wpe + blocks + ln_f + head.</summary>
    public long Total => TokenEmbedding + PositionEmbedding + Blocks * PerBlock + FinalNorm + Head;
}
