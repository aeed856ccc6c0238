using System.Text.Json;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

/// <summary>
/// Fixtures/tokenizer/gpt2-reference.json: ids from gpt-3-encoder (tests/tools/gpt2-reference.js), with openaiIds where
/// OpenAI's encoder.py differs (tests/tools/gpt2-openai-check.py). PicoGpt follows encoder.py.
/// </summary>
public static class Gpt2ReferenceFixture
{
    public sealed record Case(string Name, string Text, int[] Gpt3EncoderIds, int[]? OpenAiIds, string? Replaced)
    {
        /// <summary>What PicoGpt must produce: encoder.py's ids where they differ, else gpt-3-encoder's.</summary>
        public int[] Expected => OpenAiIds ?? Gpt3EncoderIds;
        public override string ToString() => Name;
    }

    public sealed record Shakespeare(string File, string FileSha256, int IdCount, string IdsSha256, int[] First200);

    static readonly Lazy<(List<Case> Cases, Shakespeare Shakespeare)> Data = new(Load);

    public static IReadOnlyList<Case> Cases => Data.Value.Cases;
    public static Shakespeare TinyShakespeare => Data.Value.Shakespeare;
    public static Case Get(string name) => Cases.Single(c => c.Name == name);

    public static string Path => System.IO.Path.Combine(TestPaths.Fixtures, "tokenizer", "gpt2-reference.json");

    static (List<Case>, Shakespeare) Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path));
        var cases = new List<Case>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.TryGetProperty("text", out var t)
                ? t.GetString()!
                : new string(c.GetProperty("utf16").EnumerateArray().Select(u => (char)u.GetInt32()).ToArray());
            cases.Add(new Case(
                c.GetProperty("name").GetString()!,
                text,
                Ids(c.GetProperty("ids")),
                c.TryGetProperty("openaiIds", out var o) ? Ids(o) : null,
                c.TryGetProperty("replaced", out var r) ? r.GetString() : null));
        }
        var s = doc.RootElement.GetProperty("tinyshakespeare");
        var shakes = new Shakespeare(s.GetProperty("file").GetString()!, s.GetProperty("fileSha256").GetString()!,
            s.GetProperty("idCount").GetInt32(), s.GetProperty("idsSha256").GetString()!, Ids(s.GetProperty("first200")));
        return (cases, shakes);
    }

    static int[] Ids(JsonElement a) => a.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static TheoryData<string> CaseNames()
    {
        var d = new TheoryData<string>();
        foreach (var c in Cases) d.Add(c.Name);
        return d;
    }
}

/// <summary>
/// GPT-2's vocab.json + merges.txt as <see cref="Gpt2Tokenizer.Default"/>'s Save writes them (one temp folder per test
/// run, removed at exit), and the tokenizer <see cref="Gpt2Tokenizer.FromFolder"/> loads from them: the input of the
/// tests that load, damage or fuzz tokenizer files.
/// </summary>
public static class SavedGpt2
{
    static readonly Lazy<string> Folder = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "picogpt-test-gpt2-" + Guid.NewGuid().ToString("N")[..12]);
        Gpt2Tokenizer.Default.Save(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        return dir;
    });
    static readonly Lazy<Gpt2Tokenizer> Tok = new(() => Gpt2Tokenizer.FromFolder(Dir));

    public static string Dir => Folder.Value;
    public static string Vocab => Path.Combine(Dir, "vocab.json");
    public static string Merges => Path.Combine(Dir, "merges.txt");
    public static Gpt2Tokenizer Tokenizer => Tok.Value;
}
