using PicoGpt.Model;

namespace PicoGpt.Weights;

/// <summary>Finds model folders: a path, a bare hub name under weights/ (gpt2, gpt2-medium, ...), or the default.</summary>
public static class ModelStore
{
    public static readonly string[] HubNames = { "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl" };
    public const string ShippedModel = "shakespeare-char";

    static bool IsModelDir(string dir) => File.Exists(Path.Combine(dir, Gpt2Checkpoint.ConfigFile));

    /// <summary>
    /// The folder for <paramref name="model"/>: an existing folder as given; a bare name (gpt2, shakespeare-char, ...)
    /// under weights/; null: weights/gpt2 when downloaded, else the shipped weights/shakespeare-char.
    /// </summary>
    public static string Resolve(string? model)
    {
        var weights = Paths.WeightsDir;
        if (string.IsNullOrEmpty(model))
        {
            var gpt2 = Path.Combine(weights, "gpt2");
            if (IsModelDir(gpt2)) return gpt2;
            var shipped = Path.Combine(weights, ShippedModel);
            if (IsModelDir(shipped)) return shipped;
            throw new PicoGptException($"no model given and none found in {weights} (expected gpt2/ or {ShippedModel}/): pass --model DIR or run 'picogpt download gpt2'");
        }
        if (Directory.Exists(model))
            return IsModelDir(model) ? model : throw new PicoGptException($"{model}: not a model folder (no config.json)");
        bool bareName = !model.Contains('/') && !model.Contains('\\');
        if (bareName)
        {
            var dir = Path.Combine(weights, model);
            if (IsModelDir(dir)) return dir;
            if (HubNames.Contains(model))
                throw new PicoGptException($"model '{model}' is not downloaded (looked in {dir}): run 'picogpt download {model}'");
            throw new PicoGptException($"unknown model '{model}': not a folder, and not one of {string.Join(", ", HubNames.Append(ShippedModel))} under {weights}");
        }
        throw new PicoGptException($"{model}: model folder not found");
    }
}
