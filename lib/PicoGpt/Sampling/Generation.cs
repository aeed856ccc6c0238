using PicoGpt.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Sampling;

/// <summary>How to generate: length, sampling, seed, stops, and whether to use the KV cache.</summary>
public sealed record GenerateOptions
{
    public int MaxNewTokens { get; init; } = 50;
    /// <summary>0 means greedy (argmax).</summary>
    public double Temperature { get; init; } = 1.0;
    public int? TopK { get; init; }
    public double? TopP { get; init; }
    /// <summary>Seed of the sampler's own random generator: the same seed gives the same tokens (on cpu).</summary>
    public long? Seed { get; init; }
    /// <summary>Stop when this id is produced (it is not yielded), e.g. &lt;|endoftext|&gt;.</summary>
    public int? StopId { get; init; }
    /// <summary>Stop before any of these strings appears in the text (used by the text-level API).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = Array.Empty<string>();
    /// <summary>Keep keys/values of past positions (one position per new token); false recomputes the whole window each step.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>These options, stopping at the tokenizer's end-of-text token unless a stop id is already set.</summary>
    public GenerateOptions WithEndOfText(Tokenizers.ITokenizer tokenizer) =>
        StopId == null && tokenizer.EndOfTextId is int eot ? this with { StopId = eot } : this;

    public GenerateOptions Validate(int vocabSize)
    {
        if (MaxNewTokens < 0) throw new PicoGptException($"max new tokens must be >= 0, got {MaxNewTokens}");
        if (Temperature < 0 || !double.IsFinite(Temperature)) throw new PicoGptException($"temperature must be >= 0, got {Temperature}");
        if (TopK is int k && k < 1) throw new PicoGptException($"top-k must be at least 1, got {k}");
        if (TopP is double p && !(p > 0 && p <= 1)) throw new PicoGptException($"top-p must be in (0, 1], got {p}");
        if (StopId is int s && (s < 0 || s >= vocabSize)) throw new PicoGptException($"stop id {s} is outside the vocabulary [0, {vocabSize})");
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new PicoGptException("stop strings must not be empty");
        return this;
    }
}

/// <summary>Autoregressive generation over a <see cref="Gpt"/>, streaming token ids as they are produced.</summary>
public static class Generation
{
    /// <summary>
    /// Yields new token ids one at a time. Prompts longer than the context are cropped from the left (reported through
    /// <paramref name="warn"/>). With the cache, each step runs one position; when the context fills up, the cache is
    /// refilled from the last half of the window. Each call has its own cache and generator, so concurrent calls on one
    /// model do not interfere (the model is only read).
    /// </summary>
    public static IEnumerable<int> Generate(Gpt model, IReadOnlyList<int> prompt, GenerateOptions options, Action<string>? warn = null)
    {
        var o = options.Validate(model.Config.VocabSize);
        int ctx = model.Config.ContextLength;
        if (prompt.Count == 0) throw new PicoGptException("the prompt is empty: give at least one token");
        foreach (var id in prompt)
            if (id < 0 || id >= model.Config.VocabSize)
                throw new PicoGptException($"prompt token id {id} is outside the vocabulary [0, {model.Config.VocabSize})");
        var ids = prompt.ToList();
        if (ids.Count > ctx)
        {
            warn?.Invoke($"the prompt has {ids.Count} tokens, more than the context length {ctx}: keeping the last {ctx}");
            ids = ids.Skip(ids.Count - ctx).ToList();
        }
        if (o.MaxNewTokens == 0) yield break;
        if (model.training) throw new PicoGptException("the model is in training mode: call model.eval() before generating");

        using var generator = o.Seed is long seed ? new Generator((ulong)seed, model.Device) : null;
        using var cache = o.UseCache ? new KvCache(model.Config, 1, ctx, model.DType, model.Device) : null;
        using var noGrad = torch.no_grad();
        int pending = ids.Count;                       // positions not yet in the cache (the prompt at first)
        for (int step = 0; step < o.MaxNewTokens; step++)
        {
            int next;
            using (var scope = torch.NewDisposeScope())
            {
                Tensor logits;
                if (cache != null)
                {
                    if (cache.Length + pending > ctx)   // full: start again from the last half of the window
                    {
                        cache.Reset();
                        pending = ctx / 2;
                    }
                    var input = Tensor(ids.Skip(ids.Count - pending), model.Device);             // [1, pending]
                    logits = model.Forward(input, cache, lastOnly: true, checkIds: false);         // [1, 1, V]
                }
                else
                {
                    var window = ids.Skip(Math.Max(0, ids.Count - ctx));
                    logits = model.Forward(Tensor(window, model.Device), lastOnly: true, checkIds: false);
                }
                next = (int)Sampler.Next(logits[.., -1], o.Temperature, o.TopK, o.TopP, generator).item<long>();
            }
            if (next == o.StopId) yield break;
            ids.Add(next);
            pending = 1;
            yield return next;
        }
    }

    /// <summary>
    /// Greedy decoding in its plainest form (nanoGPT's generate at temperature 0, without a cache): keep the last
    /// <paramref name="contextLength"/> ids, run the model, append the argmax of the last position's logits; n times.
    /// <paramref name="model"/> maps ids [B, T] to logits [B, T, n_vocab]. The reference of notebook 09's exercise;
    /// <see cref="Generate"/> with Temperature = 0 gives the same ids (tested; with its cache only while the sequence
    /// fits the context, as it then restarts from half a window).
    /// </summary>
    public static Tensor Greedy(Func<Tensor, Tensor> model, Tensor ids, int maxNewTokens, int contextLength) // [B, T] (int64) -> [B, T + n]
    {
        if (ids.dim() != 2) throw new PicoGptException($"ids must be [B, T], got shape [{string.Join(", ", ids.shape)}]");
        if (maxNewTokens <= 0) return ids;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        for (int i = 0; i < maxNewTokens; i++)
        {
            long t = ids.shape[1];
            var context = t <= contextLength ? ids : ids.narrow(1, t - contextLength, contextLength);  // [B, min(T, n_ctx)]
            var logits = model(context);                                                               // [B, T', n_vocab]
            var next = logits[.., -1].argmax(-1, keepdim: true);                                       // [B, 1]
            ids = torch.cat(new[] { ids, next }, dim: 1);                                              // [B, T + 1]
        }
        return ids.MoveToOuterDisposeScope();
    }

    static Tensor Tensor(IEnumerable<int> ids, Device device) // [1, T]
        => torch.tensor(ids.Select(i => (long)i).ToArray(), device: device).unsqueeze(0);

    /// <summary>
    /// Text in, text out, streamed: yields pieces of text as tokens complete characters. Stops at the stop id, at
    /// MaxNewTokens, or before a stop string (text that might begin a stop string is held back until it cannot).
    /// </summary>
    public static IEnumerable<string> GenerateText(Gpt model, Tokenizers.ITokenizer tokenizer, string prompt, GenerateOptions options,
        Action<string>? warn = null, List<int>? newIds = null)
    {
        var o = options.WithEndOfText(tokenizer);
        var ids = tokenizer.Encode(prompt);
        return StreamText(Generate(model, ids, o, warn), tokenizer, o.StopStrings, newIds);
    }

    /// <summary>Turns a stream of ids into a stream of text, honouring stop strings.</summary>
    public static IEnumerable<string> StreamText(IEnumerable<int> ids, Tokenizers.ITokenizer tokenizer, IReadOnlyList<string> stops, List<int>? newIds = null)
    {
        var decoder = tokenizer.NewStreamDecoder();
        var held = "";
        foreach (var id in ids)
        {
            newIds?.Add(id);
            held += decoder.Push(id);
            foreach (var s in stops)
            {
                int at = held.IndexOf(s, StringComparison.Ordinal);
                if (at >= 0)
                {
                    if (at > 0) yield return held[..at];
                    yield break;
                }
            }
            int keep = stops.Count == 0 ? 0 : stops.Max(s => LongestSuffixThatStarts(held, s));
            if (held.Length > keep)
            {
                yield return held[..^keep];
                held = held[^keep..];
            }
        }
        held += decoder.Flush();
        foreach (var s in stops)
        {
            int at = held.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0) held = held[..at];
        }
        if (held.Length > 0) yield return held;
    }

    /// <summary>Length of the longest suffix of text that is a proper prefix of stop.</summary>
    static int LongestSuffixThatStarts(string text, string stop)
    {
        for (int n = Math.Min(text.Length, stop.Length - 1); n > 0; n--)
            if (string.CompareOrdinal(text, text.Length - n, stop, 0, n) == 0) return n;
        return 0;
    }
}
