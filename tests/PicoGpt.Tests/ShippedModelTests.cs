using System.Text.Json;
using PicoGpt.Sampling;
using PicoGpt.Tokenizers;
using PicoGpt.Training;
using PicoGpt.Weights;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>A fact that is skipped (and says why) when GPT-2 124M has not been downloaded into weights/gpt2.</summary>
public sealed class Gpt2WeightsFactAttribute : FactAttribute
{
    public static string Dir => Path.Combine(TestPaths.RepoRoot, "weights", "gpt2");
    public Gpt2WeightsFactAttribute()
    {
        if (!File.Exists(Path.Combine(Dir, "model.safetensors")))
            Skip = "GPT-2 124M is not downloaded (run: picogpt download gpt2)";
    }
}

/// <summary>The model shipped in weights/shakespeare-char, and the CLI commands that use a tokenizer.</summary>
[Collection("console")]
public class ShippedModelTests
{
    static string Shipped => Path.Combine(TestPaths.RepoRoot, "weights", "shakespeare-char");
    static string Shakespeare => Paths.TinyShakespeare;

    [Fact]
    public void ShippedModelLoadsAndReachesItsPublishedValidationLoss()
    {
        using var model = Gpt2Checkpoint.Load(Shipped, CPU);
        var tok = Tokenizer.Load(Shipped);
        Assert.Equal("char", tok.Kind);
        Assert.Equal(65, tok.VocabSize);
        var data = new TokenDataset(tok.Encode(File.ReadAllText(Shakespeare)), tok.VocabSize);
        double val = Evaluation.Loss(model, data.Val.Take(20_000).ToArray());   // a fifth of the val split keeps this fast
        Assert.True(val < 1.80, $"val loss on the first 20k val characters: {val:F4} (target <= 1.80)");
    }

    [Fact]
    public void GenerateStreamsTextAndJsonFromTheShippedModel()
    {
        var (code, stdout, err) = CliTests.Cli("generate", "--model", Shipped, "--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "7", "--json");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        var ids = j.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(40, ids.Length);
        Assert.Equal(Tokenizer.Load(Shipped).Decode(ids), j.GetProperty("text").GetString());
        var again = CliTests.Cli("generate", "--model", Shipped, "--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "7", "--json");
        Assert.Equal(stdout, again.Out);                                       // seeded: identical
        var (code2, text, _) = CliTests.Cli("generate", "--model", Shipped, "--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "7");
        Assert.Equal(0, code2);
        Assert.Equal("ROMEO:" + j.GetProperty("text").GetString() + "\n", text);
    }

    [Fact]
    public void TokenizeAndDecodeRoundTrip()
    {
        var (code, stdout, _) = CliTests.Cli("tokenize", "--model", Shipped, "--text", "hii there", "--json");
        Assert.Equal(0, code);
        Assert.Equal("{\"ids\":[46,47,47,1,58,46,43,56,43]}", stdout.Trim());
        var (code2, text, _) = CliTests.Cli("decode", "--model", Shipped, "--ids", "46,47,47,1,58,46,43,56,43");
        Assert.Equal(0, code2);
        Assert.Equal("hii there\n", text);
    }

    [Theory]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--prompt", "a", "--temperature", "-1" }, 2, "--temperature must be >= 0, got -1")]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--prompt", "a", "--top-k", "0" }, 2, "--top-k must be at least 1, got 0")]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--prompt", "a", "--top-p", "1.5" }, 2, "--top-p must be in (0, 1], got 1.5")]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--ids", "1,65" }, 1, "prompt token id 65 is outside the vocabulary [0, 65)")]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--prompt", "a", "--ids", "1" }, 2, "--prompt and --ids cannot be used together")]
    [InlineData(new[] { "generate", "--model", "SHIPPED" }, 2, "give one of --prompt, --ids")]
    [InlineData(new[] { "generate", "--model", "gpt9", "--prompt", "a" }, 1, "unknown model 'gpt9'")]
    [InlineData(new[] { "generate", "--model", "SHIPPED", "--prompt", "a", "--max-new-tokens", "x" }, 2, "--max-new-tokens must be an integer, got 'x'")]
    [InlineData(new[] { "tokenize", "--model", "SHIPPED", "--text", "Zebra 1€" }, 1, "")]
    [InlineData(new[] { "tokenize", "--model", "SHIPPED", "--file", "/nonexistent.txt" }, 1, "/nonexistent.txt: file not found")]
    [InlineData(new[] { "decode", "--model", "SHIPPED", "--ids", "70" }, 1, "70")]
    [InlineData(new[] { "eval", "--model", "SHIPPED", "--data", "/nonexistent.txt" }, 1, "/nonexistent.txt: file not found")]
    [InlineData(new[] { "tokenize", "--tokenizer", "char", "--text", "a" }, 2, "--tokenizer must be gpt2 (GPT-2's tokenizer; other tokenizers come with a --model), got 'char'")]
    [InlineData(new[] { "tokenize", "--model", "SHIPPED", "--tokenizer", "gpt2", "--text", "a" }, 2, "--model and --tokenizer cannot be used together")]
    [InlineData(new[] { "decode", "--tokenizer", "gpt2", "--ids", "50257" }, 1, "token id 50257 is out of range")]
    [InlineData(new[] { "train", "--out", "/tmp/x", "--bpe-dir", "/tmp" }, 2, "--bpe-dir needs --tokenizer gpt2")]
    [InlineData(new[] { "train", "--data", "/nonexistent.txt", "--out", "/tmp/x" }, 1, "/nonexistent.txt: file not found")]
    [InlineData(new[] { "train", "--data", "x", "--out", "/tmp/x", "--tokenizer", "bpe" }, 2, "--tokenizer must be char or gpt2, got 'bpe'")]
    [InlineData(new[] { "train", "--data", "x", "--out", "/tmp/x", "--batch-size", "0" }, 2, "--batch-size must be at least 1, got 0")]
    public void BadArgumentsGiveOneLineErrors(string[] args, int code, string message)
        => CliTests.AssertOneLineError(args.Select(a => a == "SHIPPED" ? Shipped : a).ToArray(), code, message);

    [Fact]
    public void Gpt2TokenizerNeedsNoModelFolder()
    {
        // GPT-2's tokenizer is built in: no --model, no weights/gpt2, no vocab.json/merges.txt
        var (code, stdout, err) = CliTests.Cli("tokenize", "--tokenizer", "gpt2", "--text", "The cat<|endoftext|>", "--allow-special", "--json");
        Assert.True(code == 0, err);
        Assert.Equal("{\"ids\":[464,3797,50256]}", stdout.Trim());
        var (code2, text, err2) = CliTests.Cli("decode", "--tokenizer", "gpt2", "--ids", "15496,11,314,716");
        Assert.True(code2 == 0, err2);
        Assert.Equal("Hello, I am\n", text);
    }

    [Theory]
    [InlineData("gpt2", 338_025, 50257)]   // nanoGPT's shakespeare prepare.py: 301,966 train + 36,059 val tokens
    [InlineData("char", 1_115_394, 65)]
    public void TrainDefaultsToTheCommittedCorpus(string tokenizer, int tokens, int vocab)
    {
        using var tmp = TestPaths.Temp();
        var (code, stdout, err) = CliTests.Cli("train", "--out", tmp.Path, "--tokenizer", tokenizer, "--n-layer", "1", "--n-head", "2",
            "--n-embd", "16", "--block-size", "8", "--batch-size", "2", "--max-steps", "2", "--warmup", "1", "--eval-interval", "2", "--eval-iters", "1", "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("\"steps\":2", stdout);
        var (ids, vocabSize) = TokenDataset.ReadIds(Path.Combine(tmp.Path, "data.bin"));
        Assert.Equal((tokens, vocab), (ids.Length, vocabSize));
        var saved = Tokenizer.Load(tmp.Path);   // the run's folder carries its tokenizer (GPT-2's: vocab.json + merges.txt written by Save)
        Assert.Equal((tokenizer, vocab), (saved.Kind, saved.VocabSize));
        Assert.Equal(ids.Take(100), saved.Encode(File.ReadAllText(Paths.TinyShakespeare)[..2000]).Take(100));
    }

    [Fact]
    public void EvalPrintsBothLossesAsJson()
    {
        using var tmp = TestPaths.Temp();
        var text = Path.Combine(tmp.Path, "small.txt");
        File.WriteAllText(text, File.ReadAllText(Shakespeare)[..30_000]);
        var (code, stdout, err) = CliTests.Cli("eval", "--model", Shipped, "--data", text, "--json");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        Assert.InRange(j.GetProperty("val_loss").GetDouble(), 0.5, 2.5);
        Assert.InRange(j.GetProperty("train_loss").GetDouble(), 0.5, 2.5);
        double val = j.GetProperty("val_loss").GetDouble();
        Assert.Equal(Math.Exp(val), j.GetProperty("val_perplexity").GetDouble(), 1e-9);   // perplexity is exp(loss)
    }

    [Gpt2WeightsFact]
    public void PublishedGpt2GreedyContinuationAndIds()
    {
        var tok = Tokenizer.Load(Gpt2WeightsFactAttribute.Dir);
        var prompt = tok.Encode("Alan Turing theorized that computers would one day become");
        Assert.Equal(new[] { 36235, 39141, 18765, 1143, 326, 9061, 561, 530, 1110, 1716 }, prompt);
        using var model = Gpt2Checkpoint.Load(Gpt2WeightsFactAttribute.Dir, CPU);
        var ids = Generation.Generate(model, prompt, new GenerateOptions { MaxNewTokens = 8, Temperature = 0 }).ToArray();
        Assert.Equal(new[] { 262, 749, 3665, 8217, 319, 262, 5440, 13 }, ids);
        Assert.Equal(" the most powerful machines on the planet.", tok.Decode(ids));
        Assert.Equal(124_439_808, model.ParameterCount);
    }
}
