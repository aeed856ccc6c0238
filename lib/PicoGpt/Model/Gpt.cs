using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace PicoGpt.Model;

/// <summary>Causal self-attention with fused qkv projection (GPT-2's c_attn) and scaled dot-product attention.</summary>
public sealed class CausalSelfAttention : Module<Tensor, Tensor>
{
    readonly int _nHead;
    readonly double _dropout;
    readonly Linear c_attn, c_proj;
    readonly Dropout resid_dropout;

    public CausalSelfAttention(GptConfig c) : base(nameof(CausalSelfAttention))
    {
        _nHead = c.NHead;
        _dropout = c.Dropout;
        c_attn = Linear(c.NEmbd, 3 * c.NEmbd, hasBias: c.Bias && c.QkvBias);
        c_proj = Linear(c.NEmbd, c.NEmbd, hasBias: c.Bias);
        resid_dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null, -1, null);

    /// <param name="x">[B, T, C]</param>
    /// <param name="cache">keys/values of earlier positions, appended to (null: no cache)</param>
    /// <param name="layer">this block's index in the cache</param>
    /// <param name="attention">when not null, receives this layer's attention weights [B, n_head, T, T_total] (float32, detached)</param>
    public Tensor Forward(Tensor x, KvCache? cache, int layer, List<Tensor>? attention)
    {
        var (b, t, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var qkv = c_attn.forward(x).split(c, dim: 2);                                 // 3 x [B, T, C]
        var q = qkv[0].view(b, t, _nHead, c / _nHead).transpose(1, 2);               // [B, nh, T, hs]
        var k = qkv[1].view(b, t, _nHead, c / _nHead).transpose(1, 2);               // [B, nh, T, hs]
        var v = qkv[2].view(b, t, _nHead, c / _nHead).transpose(1, 2);               // [B, nh, T, hs]
        long past = cache?.Length ?? 0;
        if (cache != null) (k, v) = cache.Append(layer, k, v);                        // [B, nh, past+T, hs]

        Tensor y;                                                                     // [B, nh, T, hs]
        double p = training ? _dropout : 0.0;
        if (attention != null)
        {
            var att = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(k.shape[^1]);       // [B, nh, T, past+T]
            att = att.masked_fill(CausalMask(t, past, x.device).logical_not(), double.NegativeInfinity).softmax(-1);
            attention.Add(att.detach().to(ScalarType.Float32).cpu());
            y = F.dropout(att, p, training).matmul(v);
        }
        else if (past == 0)
            y = F.scaled_dot_product_attention(q, k, v, null, p, is_casual: true);
        else if (t == 1)
            y = F.scaled_dot_product_attention(q, k, v, null, p, is_casual: false);   // one new position sees everything
        else
            y = F.scaled_dot_product_attention(q, k, v, CausalMask(t, past, x.device), p, is_casual: false);

        y = y.transpose(1, 2).contiguous().view(b, t, c);                            // [B, T, C]
        return resid_dropout.forward(c_proj.forward(y));
    }

    /// <summary>True where query i (absolute position past+i) may see key j: j &lt;= past + i.</summary>
    static Tensor CausalMask(long t, long past, Device device) // [T, past+T] bool
        => torch.ones(t, past + t, dtype: ScalarType.Bool, device: device).tril(past);
}

/// <summary>The feed-forward network: c_fc (4x wider), tanh GELU, c_proj.</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    readonly Linear c_fc, c_proj;
    readonly Dropout dropout;

    public Mlp(GptConfig c) : base(nameof(Mlp))
    {
        c_fc = Linear(c.NEmbd, 4 * c.NEmbd, hasBias: c.Bias);
        c_proj = Linear(4 * c.NEmbd, c.NEmbd, hasBias: c.Bias);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // [B, T, C] -> [B, T, C]
        => dropout.forward(c_proj.forward(F.gelu(c_fc.forward(x), TorchSharp.Modules.GELU.Approximate.tanh)));
}

/// <summary>Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    readonly LayerNorm ln_1, ln_2;
    readonly CausalSelfAttention attn;
    readonly Mlp mlp;

    public Block(GptConfig c) : base(nameof(Block))
    {
        ln_1 = LayerNorm(c.NEmbd, c.LayerNormEps, bias: c.Bias);
        attn = new CausalSelfAttention(c);
        ln_2 = LayerNorm(c.NEmbd, c.LayerNormEps, bias: c.Bias);
        mlp = new Mlp(c);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null, -1, null);

    public Tensor Forward(Tensor x, KvCache? cache, int layer, List<Tensor>? attention) // [B, T, C] -> [B, T, C]
    {
        x = x + attn.Forward(ln_1.forward(x), cache, layer, attention);
        return x + mlp.forward(ln_2.forward(x));
    }
}

/// <summary>
/// GPT-2 as a TorchSharp module (nanoGPT's structure, Hugging Face's parameter names): token + position embeddings,
/// pre-LN blocks, final LN, and a head tied to the token embedding. Parameter names match the hub's keys
/// (wte.weight, h.0.attn.c_attn.weight, ...) except that linear weights are [out, in] (nn.Linear), not Conv1D's [in, out].
/// </summary>
public sealed class Gpt : Module<Tensor, Tensor>
{
    readonly Embedding wte, wpe;
    readonly Dropout drop;
    readonly ModuleList<Block> h;
    readonly LayerNorm ln_f;

    public GptConfig Config { get; }

    /// <summary>Builds a randomly initialised model (nanoGPT's init) on <paramref name="device"/> (default: cuda if available) in <paramref name="dtype"/>.</summary>
    /// <param name="config">the sizes (validated here)</param>
    /// <param name="device">where the parameters live; null picks cuda when available, else cpu</param>
    /// <param name="dtype">the parameters' dtype</param>
    /// <param name="seed">seeds torch's generator before the initialisation, for reproducible weights (null: leave it)</param>
    /// <param name="initialize">false skips nanoGPT's initialisation (the loader overwrites every weight anyway)</param>
    public Gpt(GptConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, long? seed = null, bool initialize = true) : base("GPT")
    {
        Config = config.Validate();
        if (seed is long s) torch.manual_seed(s);
        // Without initialisation, build on the meta device (no memory, no init kernels) and give every parameter
        // uninitialised cpu storage afterwards: loading GPT-2 then costs little more than reading the file.
        var previous = torch.get_default_device();
        if (!initialize) torch.set_default_device(torch.META);
        try
        {
            wte = Embedding(config.VocabSize, config.NEmbd);
            wpe = Embedding(config.ContextLength, config.NEmbd);
            drop = Dropout(config.Dropout);
            h = new ModuleList<Block>(Enumerable.Range(0, config.NLayer).Select(_ => new Block(config)).ToArray());
            ln_f = LayerNorm(config.NEmbd, config.LayerNormEps, bias: config.Bias);
        }
        finally { if (!initialize) torch.set_default_device(previous); }
        RegisterComponents();
        if (initialize) InitWeights();
        else if (device?.type != DeviceType.META) MaterializeEmpty();
        eval();
        var target = device ?? Native.TorchRuntime.DefaultDevice;
        if (dtype != ScalarType.Float32) this.to(dtype);
        if (target.type != DeviceType.CPU || target.index > 0) this.to(target);
    }

    /// <summary>Replaces every (meta) parameter with uninitialised cpu storage of the same shape.</summary>
    void MaterializeEmpty()
    {
        Parameter Empty(Tensor like) => new(torch.empty(like.shape, ScalarType.Float32, torch.CPU));
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case TorchSharp.Modules.Linear l:
                    l.weight = Empty(l.weight!);
                    if (l.bias is not null) l.bias = Empty(l.bias);
                    break;
                case TorchSharp.Modules.Embedding e:
                    e.weight = Empty(e.weight!);
                    break;
                case TorchSharp.Modules.LayerNorm n:
                    if (n.weight is not null) n.weight = Empty(n.weight);
                    if (n.bias is not null) n.bias = Empty(n.bias);
                    break;
            }
        }
    }

    void InitWeights()
    {
        using var _ = torch.no_grad();
        double projStd = 0.02 / Math.Sqrt(2 * Config.NLayer);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("c_proj.weight")) init.normal_(p, 0, projStd);
            else if (p.dim() == 2) init.normal_(p, 0, 0.02);      // linear and embedding weights
            else if (name.Contains("ln") && name.EndsWith("weight")) init.ones_(p);
            else init.zeros_(p);                                  // biases
        }
    }

    public Device Device => wte.weight!.device;
    public ScalarType DType => wte.weight!.dtype;

    /// <summary>The token embedding [n_vocab, n_embd], also the output head.</summary>
    public Tensor TokenEmbedding => wte.weight!;

    /// <summary>Parameters, with the tied head counted once.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Logits for every position: [B, T] int64 ids -> [B, T, n_vocab].</summary>
    public override Tensor forward(Tensor ids) => Forward(ids);

    /// <summary>
    /// The forward pass. With a <paramref name="cache"/>, <paramref name="ids"/> are the positions after those already
    /// cached, and their keys/values are appended. With <paramref name="attention"/>, each layer's weights
    /// [B, n_head, T, T_total] are added to the list (explicit softmax path; the normal path uses fused attention).
    /// <paramref name="lastOnly"/> computes logits for the last position only ([B, 1, n_vocab]), as generation needs.
    /// </summary>
    public Tensor Forward(Tensor ids, KvCache? cache = null, List<Tensor>? attention = null, bool lastOnly = false, bool checkIds = true)
    {
        if (ids.dim() == 1) ids = ids.unsqueeze(0);                                 // [T] -> [1, T]
        if (ids.dim() != 2) throw new PicoGptException($"ids must be [B, T], got shape [{string.Join(", ", ids.shape)}]");
        if (ids.dtype != ScalarType.Int64) ids = ids.to(ScalarType.Int64);
        var (b, t) = (ids.shape[0], ids.shape[1]);
        long past = cache?.Length ?? 0;
        if (t == 0) throw new PicoGptException("ids are empty: need at least one token");
        if (past + t > Config.ContextLength)
            throw new PicoGptException($"sequence of {past + t} tokens is longer than the context length {Config.ContextLength}");
        if (cache != null && cache.Batch != b)
            throw new PicoGptException($"KV cache was made for batch {cache.Batch}, got ids of batch {b}");
        if (checkIds) CheckIds(ids);

        var pos = torch.arange(past, past + t, dtype: ScalarType.Int64, device: ids.device);
        var x = drop.forward(wte.forward(ids) + wpe.forward(pos));                   // [B, T, C]
        for (int i = 0; i < h.Count; i++)
            x = h[i].Forward(x, cache, i, attention);                               // [B, T, C]
        cache?.Advance(t);
        if (lastOnly) x = x.narrow(1, t - 1, 1);                                      // [B, 1, C]
        x = ln_f.forward(x);
        return F.linear(x, wte.weight!);                                             // [B, T, n_vocab]
    }

    /// <summary>Throws when an id is outside [0, n_vocab): a clear error instead of a native index failure.</summary>
    public void CheckIds(Tensor ids)
    {
        if (ids.numel() == 0) return;
        long min = ids.min().item<long>(), max = ids.max().item<long>();
        if (min < 0 || max >= Config.VocabSize)
            throw new PicoGptException($"token id {(min < 0 ? min : max)} is outside the vocabulary [0, {Config.VocabSize})");
    }

    /// <summary>Attention weights of every layer and head for one sequence: [T] ids -> [n_layer, n_head, T, T] (float32, cpu).</summary>
    public Tensor AttentionWeights(Tensor ids)
    {
        using var _ = torch.no_grad();
        var maps = new List<Tensor>();
        using (var scope = torch.NewDisposeScope())
        {
            Forward(ids.dim() == 1 ? ids.unsqueeze(0) : ids.narrow(0, 0, 1), attention: maps);
            var stacked = torch.stack(maps.Select(m => m[0]).ToArray());             // [n_layer, n_head, T, T]
            return stacked.MoveToOuterDisposeScope();
        }
    }

    /// <summary>The weights as the reference ops take them (Conv1D orientation [in, out]); views, no copies except transposes (absent biases become zeros).</summary>
    public Gpt2Params ToParams()
    {
        var p = state_dict();
        Tensor T(string k) => p[k].detach();
        LinearParams Lin(string k) => new(T(k + ".weight").t(), p.ContainsKey(k + ".bias") ? T(k + ".bias") : torch.zeros(T(k + ".weight").shape[0], dtype: DType, device: Device));
        LayerNormParams Ln(string k) => new(T(k + ".weight"), Config.Bias ? T(k + ".bias") : torch.zeros_like(T(k + ".weight")));
        var blocks = Enumerable.Range(0, Config.NLayer).Select(i => new BlockParams(
            Ln($"h.{i}.ln_1"),
            new AttentionParams(Lin($"h.{i}.attn.c_attn"), Lin($"h.{i}.attn.c_proj")),
            Ln($"h.{i}.ln_2"),
            new FeedForwardParams(Lin($"h.{i}.mlp.c_fc"), Lin($"h.{i}.mlp.c_proj")))).ToList();
        return new Gpt2Params(T("wte.weight"), T("wpe.weight"), blocks, Ln("ln_f"));
    }

    /// <summary>The parameter count of a configuration, computed on the meta device (nothing allocated).</summary>
    public static long CountParameters(GptConfig config)
    {
        using var m = new Gpt(config, torch.META, initialize: false);   // the constructor's meta-device path
        return m.ParameterCount;
    }
}
