using System.Text.Json;

namespace PicoGpt.Tokenizers;

/// <summary>Picks and loads the tokenizer of a model folder.</summary>
public static class Tokenizer
{
    /// <summary>
    /// The tokenizer of a model folder: a <see cref="CharTokenizer"/> when config.json has <c>"tokenizer": "char"</c>,
    /// otherwise a <see cref="Gpt2Tokenizer"/> from vocab.json + merges.txt (GPT-2's hub layout; config.json may say
    /// <c>"tokenizer": "gpt2"</c> or nothing). Anything else is a <see cref="PicoGptException"/> saying what was looked for.
    /// </summary>
    public static ITokenizer Load(string modelDir)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        if (!Directory.Exists(modelDir))
            throw new PicoGptException($"{modelDir}: model folder not found (expected vocab.json + merges.txt, or config.json with \"tokenizer\": \"char\" and vocab.json)");

        string? kind = ReadKind(Path.Combine(modelDir, "config.json"));
        switch (kind)
        {
            case "char":
                return CharTokenizer.FromFolder(modelDir);
            case null or "gpt2":
                string vocab = Path.Combine(modelDir, "vocab.json"), merges = Path.Combine(modelDir, "merges.txt");
                if (File.Exists(vocab) && File.Exists(merges)) return Gpt2Tokenizer.FromFiles(vocab, merges);
                var missing = string.Join(" and ", new[] { vocab, merges }.Where(p => !File.Exists(p)).Select(Path.GetFileName));
                throw new PicoGptException(kind == "gpt2"
                    ? $"{modelDir}: no tokenizer: config.json says \"tokenizer\": \"gpt2\" but {missing} is missing (expected vocab.json + merges.txt)"
                    : $"{modelDir}: no tokenizer found: {missing} missing and config.json has no \"tokenizer\": \"char\" (looked for vocab.json + merges.txt for GPT-2, or config.json with \"tokenizer\": \"char\" + vocab.json)");
            default:
                throw new PicoGptException($"{Path.Combine(modelDir, "config.json")}: \"tokenizer\" is {TokenText.Quote(kind)}; expected \"gpt2\" or \"char\"");
        }
    }

    /// <summary>config.json's "tokenizer" string, or null when the file or the key is absent.</summary>
    static string? ReadKind(string configPath)
    {
        if (!File.Exists(configPath)) return null;
        var text = TokenText.DecodeUtf8(TokenText.ReadFile(configPath, "config.json"), configPath);
        using var doc = TokenText.ParseJson(text, configPath, "a JSON object");
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new PicoGptException($"{configPath}: top level is a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected a JSON object");
        if (!doc.RootElement.TryGetProperty("tokenizer", out var t) || t.ValueKind == JsonValueKind.Null) return null;
        if (t.ValueKind != JsonValueKind.String)
            throw new PicoGptException($"{configPath}: \"tokenizer\" is {t.GetRawText()}; expected \"gpt2\" or \"char\"");
        return t.GetString();
    }
}
