using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

/// <summary>Bad GPT-2 tokenizer files give a <see cref="PicoGptException"/> that names the file.</summary>
public class Gpt2TokenizerFileTests
{
    static string GoodVocab => SavedGpt2.Vocab;   // GPT-2's files as Gpt2Tokenizer.Default.Save writes them
    static string GoodMerges => SavedGpt2.Merges;

    static PicoGptException LoadFails(Action<string> arrange, string expectedFile, params string[] fragments)
    {
        using var tmp = TestPaths.Temp();
        File.Copy(GoodVocab, Path.Combine(tmp.Path, "vocab.json"));
        File.Copy(GoodMerges, Path.Combine(tmp.Path, "merges.txt"));
        arrange(tmp.Path);
        var e = Assert.Throws<PicoGptException>(() => Gpt2Tokenizer.FromFolder(tmp.Path));
        Assert.Contains(Path.Combine(tmp.Path, expectedFile), e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void MissingMerges() =>
        LoadFails(d => File.Delete(Path.Combine(d, "merges.txt")), "merges.txt", "not found");

    [Fact]
    public void MissingVocab() =>
        LoadFails(d => File.Delete(Path.Combine(d, "vocab.json")), "vocab.json", "not found");

    [Fact]
    public void VocabNotJson() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "vocab.json"), "this is not JSON {"), "vocab.json", "not valid JSON");

    [Fact]
    public void VocabTruncatedJson() =>
        LoadFails(d => File.WriteAllBytes(Path.Combine(d, "vocab.json"), File.ReadAllBytes(GoodVocab)[..5000]), "vocab.json", "not valid JSON");

    [Fact]
    public void VocabInvalidUtf8() =>
        LoadFails(d =>
        {
            var bytes = File.ReadAllBytes(GoodVocab);
            int at = Array.IndexOf(bytes, (byte)'a', 100);
            bytes[at] = 0xFF;
            File.WriteAllBytes(Path.Combine(d, "vocab.json"), bytes);
        }, "vocab.json", "not valid UTF-8", "0xFF");

    [Fact]
    public void MergesInvalidUtf8() =>
        LoadFails(d =>
        {
            var bytes = File.ReadAllBytes(GoodMerges);
            bytes[200] = 0xC3; bytes[201] = 0x28;
            File.WriteAllBytes(Path.Combine(d, "merges.txt"), bytes);
        }, "merges.txt", "not valid UTF-8");

    [Fact]
    public void VocabWrongTopLevelType() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "vocab.json"), "[1, 2, 3]"), "vocab.json", "array", "expected a JSON object");

    [Fact]
    public void VocabIdNotAnInteger() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "vocab.json"),
            File.ReadAllText(GoodVocab).Replace("\"!\": 0,", "\"!\": \"zero\",")), "vocab.json", "\"!\"", "expected an integer id");

    [Fact]
    public void VocabIdOutOfRange() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "vocab.json"),
            File.ReadAllText(GoodVocab).Replace("\"!\": 0,", "\"!\": 99999,")), "vocab.json", "99999", "0..50256");

    [Fact]
    public void VocabCharacterOutsideByteAlphabet() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "vocab.json"),
            File.ReadAllText(GoodVocab).Replace("\"!\": 0,", "\"\u4e2d\": 0,")), "vocab.json", "U+4E2D", "byte-to-unicode");

    [Fact]
    public void MergesBadLine() =>
        LoadFails(d => File.WriteAllText(Path.Combine(d, "merges.txt"),
            File.ReadAllText(GoodMerges).Replace("\nĠ t\n", "\nĠt\n")), "merges.txt", "line 2", "two tokens");

    [Fact]
    public void MergesOutOfOrder() =>
        LoadFails(d =>
        {
            var lines = File.ReadAllLines(GoodMerges);
            (lines[1], lines[2]) = (lines[2], lines[1]);
            File.WriteAllLines(Path.Combine(d, "merges.txt"), lines);
        }, "merges.txt", "line 2", "expected id 256");

    [Fact]
    public void MissingFolder()
    {
        var e = Assert.Throws<PicoGptException>(() => Gpt2Tokenizer.FromFolder("/nonexistent/picogpt-model"));
        Assert.Contains("/nonexistent/picogpt-model", e.Message);
    }

    [Fact]
    public void FromFilesNamesTheMissingFile()
    {
        var e = Assert.Throws<PicoGptException>(() => Gpt2Tokenizer.FromFiles(GoodVocab, "/nonexistent/merges.txt"));
        Assert.Contains("/nonexistent/merges.txt", e.Message);
    }
}
