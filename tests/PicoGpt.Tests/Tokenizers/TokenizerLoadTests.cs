using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

public class TokenizerLoadTests
{
    static void CopyGpt2(string dir)
    {
        File.Copy(SavedGpt2.Vocab, Path.Combine(dir, "vocab.json"));
        File.Copy(SavedGpt2.Merges, Path.Combine(dir, "merges.txt"));
    }

    [Fact]
    public void Gpt2FolderWithoutConfig()
    {
        using var tmp = TestPaths.Temp();
        CopyGpt2(tmp.Path);
        var tok = Tokenizer.Load(tmp.Path);
        Assert.IsType<Gpt2Tokenizer>(tok);
        Assert.Equal(new[] { 15496, 11, 314, 716 }, tok.Encode("Hello, I am"));
    }

    [Fact]
    public void Gpt2FolderWithHubConfig()
    {
        using var tmp = TestPaths.Temp();
        CopyGpt2(tmp.Path);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{\"model_type\": \"gpt2\", \"n_embd\": 768, \"vocab_size\": 50257}");
        Assert.Equal("gpt2", Tokenizer.Load(tmp.Path).Kind);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{\"tokenizer\": \"gpt2\"}");
        Assert.Equal("gpt2", Tokenizer.Load(tmp.Path).Kind);
    }

    [Fact]
    public void CharFolder()
    {
        using var tmp = TestPaths.Temp();
        CharTokenizer.FromText("to be or not").Save(tmp.Path);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{\"n_layer\": 6, \"tokenizer\": \"char\"}");
        var tok = Tokenizer.Load(tmp.Path);
        Assert.IsType<CharTokenizer>(tok);
        Assert.Equal(7, tok.VocabSize);
        Assert.Equal("not to be", tok.Decode(tok.Encode("not to be")));
    }

    [Fact]
    public void CharConfigWinsOverGpt2Files()
    {
        using var tmp = TestPaths.Temp();
        File.Copy(SavedGpt2.Merges, Path.Combine(tmp.Path, "merges.txt"));
        CharTokenizer.FromText("xyz").Save(tmp.Path);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{\"tokenizer\": \"char\"}");
        Assert.Equal("char", Tokenizer.Load(tmp.Path).Kind);
    }

    [Fact]
    public void EmptyFolderListsWhatWasLookedFor()
    {
        using var tmp = TestPaths.Temp();
        var e = Assert.Throws<PicoGptException>(() => Tokenizer.Load(tmp.Path));
        Assert.Contains(tmp.Path, e.Message);
        Assert.Contains("vocab.json", e.Message);
        Assert.Contains("merges.txt", e.Message);
        Assert.Contains("\"tokenizer\": \"char\"", e.Message);
    }

    [Fact]
    public void CharVocabWithoutConfigIsNotGuessed()
    {
        using var tmp = TestPaths.Temp();
        CharTokenizer.FromText("abc").Save(tmp.Path);
        var e = Assert.Throws<PicoGptException>(() => Tokenizer.Load(tmp.Path));
        Assert.Contains("merges.txt missing", e.Message);
    }

    [Theory]
    [InlineData("{\"tokenizer\": \"bpe\"}", "\"bpe\"")]
    [InlineData("{\"tokenizer\": 3}", "expected \"gpt2\" or \"char\"")]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[]", "expected a JSON object")]
    public void BadConfigNamesIt(string config, string fragment)
    {
        using var tmp = TestPaths.Temp();
        CopyGpt2(tmp.Path);
        var path = Path.Combine(tmp.Path, "config.json");
        File.WriteAllText(path, config);
        var e = Assert.Throws<PicoGptException>(() => Tokenizer.Load(tmp.Path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void MissingFolder()
    {
        var e = Assert.Throws<PicoGptException>(() => Tokenizer.Load("/nonexistent/picogpt-model"));
        Assert.Contains("/nonexistent/picogpt-model", e.Message);
    }
}
