using System.Security.Cryptography;
using System.Text;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

public class Gpt2TokenizerTests
{
    static Gpt2Tokenizer Tok => Gpt2Tokenizer.Default;

    /// <summary>The committed corpus, checked against the fixture's digest (the text the fixture's ids were made from).</summary>
    static readonly Lazy<string> Shakespeare = new(() =>
    {
        var bytes = File.ReadAllBytes(Paths.TinyShakespeare);
        Assert.Equal(Gpt2ReferenceFixture.TinyShakespeare.FileSha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        return Encoding.UTF8.GetString(bytes);
    });

    [Fact]
    public void Shape()
    {
        Assert.Equal("gpt2", Tok.Kind);
        Assert.Equal(50257, Tok.VocabSize);
        Assert.Equal(50256, Tok.EndOfTextId);
    }

    [Theory]
    [InlineData("Hello, I am", new[] { 15496, 11, 314, 716 })]
    [InlineData("Every effort moves you", new[] { 6109, 3626, 6100, 345 })]
    [InlineData("Not all heroes wear capes.", new[] { 3673, 477, 10281, 5806, 1451, 274, 13 })]
    [InlineData("Alan Turing theorized that computers would one day become", new[] { 36235, 39141, 18765, 1143, 326, 9061, 561, 530, 1110, 1716 })]
    [InlineData("   the", new[] { 220, 220, 262 })]
    [InlineData(" the", new[] { 262 })]
    [InlineData("\n\n\n", new[] { 628, 198 })]
    [InlineData("", new int[0])]
    public void PublishedIds(string text, int[] ids)
    {
        Assert.Equal(ids, Tok.Encode(text));
        Assert.Equal(text, Tok.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(Gpt2ReferenceFixture.CaseNames), MemberType = typeof(Gpt2ReferenceFixture))]
    public void MatchesReferenceEncoder(string name)
    {
        var c = Gpt2ReferenceFixture.Get(name);
        var ids = Tok.Encode(c.Text);
        Assert.True(c.Expected.SequenceEqual(ids),
            $"{name}: expected [{string.Join(", ", c.Expected)}]\n got [{string.Join(", ", ids)}]");
        // Decoding gives the text back (after the lone-surrogate replacement for invalid UTF-16).
        Assert.Equal(c.Replaced ?? c.Text, Tok.Decode(ids));
    }

    [Fact]
    public void FixtureIsBroadAndItsKnownDeviationsAreExactlyTheWhiteSpaceOnes()
    {
        var cases = Gpt2ReferenceFixture.Cases;
        Assert.True(cases.Count >= 80, $"only {cases.Count} cases");
        Assert.Contains(cases, c => c.Text.Length == 0);
        Assert.Contains(cases, c => c.Replaced != null);
        // encoder.py and gpt-3-encoder disagree only where their regex dialects disagree on \s (U+0085, U+FEFF).
        Assert.Equal(new[] { "bom runs", "nel runs" }, cases.Where(c => c.OpenAiIds != null).Select(c => c.Name).Order());
        Assert.All(cases.Where(c => c.OpenAiIds != null), c => Assert.False(c.OpenAiIds!.SequenceEqual(c.Gpt3EncoderIds)));
    }

    [Fact]
    public void TinyShakespeareMatchesReferenceEncoder()
    {
        var s = Gpt2ReferenceFixture.TinyShakespeare;
        Assert.Equal("tinyshakespeare.txt", Path.GetFileName(s.File));
        var text = Shakespeare.Value;

        var ids = Tok.Encode(text);

        Assert.Equal(s.First200, ids.Take(200));
        Assert.Equal(s.IdCount, ids.Length);
        Assert.Equal(338025, ids.Length); // nanoGPT's shakespeare prepare.py: 301,966 train + 36,059 val
        Assert.Equal(s.IdsSha256, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", ids)))));
        Assert.Equal(text, Tok.Decode(ids));
    }

    [Fact]
    public void EndOfTextIsSpecialOnlyWhenAllowed()
    {
        Assert.Equal(new[] { 50256 }, Tok.Encode("<|endoftext|>", allowSpecial: true));
        var plain = Tok.Encode("<|endoftext|>");
        Assert.Equal(new[] { 27, 91, 437, 1659, 5239, 91, 29 }, plain);
        Assert.DoesNotContain(50256, plain);
        Assert.Equal("<|endoftext|>", Tok.Decode(plain));
        Assert.Equal("<|endoftext|>", Tok.Decode([50256]));

        var mixed = Tok.Encode("Hello<|endoftext|><|endoftext|> world<|endoftext|>", allowSpecial: true);
        Assert.Equal(new[] { 15496, 50256, 50256, 995, 50256 }, mixed);
        Assert.Equal("Hello<|endoftext|><|endoftext|> world<|endoftext|>", Tok.Decode(mixed));
        // Text around the special token is encoded as if it were separate documents.
        Assert.Equal(Tok.Encode("a b").Concat([50256]).Concat(Tok.Encode(" c")), Tok.Encode("a b<|endoftext|> c", allowSpecial: true));
    }

    [Theory]
    [InlineData("The quick brown fox\n\n  jumps   over\tthe lazy dog.  ")]
    [InlineData("Ünïcödé ✓ 日本語 👨‍👩‍👧 𝐁𝐨𝐥𝐝 \u0000\u0085\ufeff")]
    [InlineData("<|endoftext|>")]
    [InlineData("  \n\r\n\t ")]
    public void DecodeEncodeRoundTrips(string text)
    {
        Assert.Equal(text, Tok.Decode(Tok.Encode(text)));
        Assert.Equal(text, Tok.Decode(Tok.Encode(text, allowSpecial: true)));
    }

    [Fact]
    public void LoneSurrogatesAreReplacedBeforeEncoding()
    {
        Assert.Equal(Tok.Encode("\uFFFD"), Tok.Encode("\uD800"));
        Assert.Equal(new[] { 4210 }, Tok.Encode("\uD800")); // U+FFFD is one token
        Assert.Equal(Tok.Encode("a\uFFFDb\uFFFD"), Tok.Encode("a\uDC00b\uD83D"));
        Assert.Equal("x\uD83D\uDE00\uFFFD", Tok.Decode(Tok.Encode("x\uD83D\uDE00\uD83D")));
    }

    [Fact]
    public void SplitsSupplementaryLettersAsLetters()
    {
        // 𝐀 (U+1D400) is a letter: " 𝐀b" is one pre-token, as in encoder.py; .NET's plain \p{L} would split it.
        var c = Gpt2ReferenceFixture.Get("supplementary letters");
        Assert.Equal(c.Expected, Tok.Encode(c.Text));
        var chunks = Gpt2SplitRegex.Regex.Matches(" 𝐀b 😀!𝟏2 x").Select(m => m.Value);
        Assert.Equal(new[] { " 𝐀b", " 😀!", "𝟏2", " x" }, chunks);
    }

    [Fact]
    public void SplitRegexIsGpt2sOnBmpText()
    {
        var text = "It's   the  \"end\"...\n\n  of 2024's I'LL tabs\t\there ";
        var ours = Gpt2SplitRegex.Regex.Matches(text).Select(m => m.Value);
        var plain = System.Text.RegularExpressions.Regex.Matches(text, Gpt2SplitRegex.Gpt2Pattern).Select(m => m.Value);
        Assert.Equal(plain, ours);
        Assert.Equal(text, string.Concat(ours));
    }

    [Fact]
    public void StreamDecoderHoldsSplitCharacters()
    {
        const string text = "Family: 👨‍👩‍👧 ok 日本";
        var ids = Tok.Encode(text);
        var dec = Tok.NewStreamDecoder();
        var pieces = ids.Select(dec.Push).ToList();
        pieces.Add(dec.Flush());

        Assert.Equal(text, string.Concat(pieces));
        // The emoji's bytes are spread over tokens that are not whole characters, so some pushes must give "".
        Assert.True(ids.Length > pieces.Count(p => p.Length > 0), "expected held bytes");
        Assert.Contains(ids, id => !IsCompleteUtf8(Tok.TokenBytes(id)));
        foreach (var p in pieces)
        {
            Assert.DoesNotContain('\uFFFD', p);
            Assert.Equal(-1, FirstLoneSurrogate(p));
        }
    }

    [Fact]
    public void StreamDecoderFlushesLeftoversAsReplacement()
    {
        var emoji = Tok.Encode("😀");
        Assert.True(emoji.Length > 1, "😀 should take several tokens");
        var dec = Tok.NewStreamDecoder();
        foreach (var id in emoji[..^1]) Assert.Equal("", dec.Push(id));
        Assert.Equal("\uFFFD", dec.Flush());
        Assert.Equal("", dec.Flush());
        // Same as Decode of the incomplete sequence, and the decoder is reusable after Flush.
        Assert.Equal("\uFFFD", Tok.Decode(emoji[..^1]));
        Assert.Equal("😀", string.Concat(emoji.Select(dec.Push)) + dec.Flush());
        // A byte that can never start a character comes out at once, as in Decode.
        var dec2 = Tok.NewStreamDecoder();
        int contByte = Enumerable.Range(0, 256).Single(i => Tok.TokenBytes(i) is [0x80]);
        Assert.Equal("\uFFFD", dec2.Push(contByte));
        Assert.Equal("a", dec2.Push(Tok.Encode("a")[0]));
    }

    [Fact]
    public void TokenLabels()
    {
        Assert.Equal(" the", Tok.TokenLabel(262));
        Assert.Equal("\\n", Tok.TokenLabel(198));
        Assert.Equal("\\n\\n", Tok.TokenLabel(628));
        Assert.Equal("\\t", Tok.TokenLabel(Tok.Encode("\t")[0]));
        Assert.Equal("<|endoftext|>", Tok.TokenLabel(50256));
        int f0 = Enumerable.Range(0, 256).Single(i => Tok.TokenBytes(i) is [0xF0]);
        Assert.Equal("\\xF0", Tok.TokenLabel(f0));
        Assert.Equal("\\u0000", Tok.TokenLabel(Tok.Encode("\0")[0]));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(50257)]
    [InlineData(int.MaxValue)]
    public void OutOfRangeIdsAreErrors(int id)
    {
        foreach (var act in new Action[]
                 {
                     () => Tok.Decode([15496, id]),
                     () => Tok.TokenLabel(id),
                     () => Tok.NewStreamDecoder().Push(id),
                 })
        {
            var e = Assert.Throws<PicoGptException>(act);
            Assert.Contains($"token id {id}", e.Message);
            Assert.Contains("50257", e.Message);
        }
    }

    // ---- the merges, Save and the files it writes ----

    // SHA-256 of GPT-2's published vocab.json and merges.txt (openai-community/gpt2 on the Hugging Face hub, the same
    // bytes as OpenAI's encoder.json and vocab.bpe re-serialised: 1,042,301 and 456,318 bytes).
    const string Gpt2VocabJsonSha256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783";
    const string Gpt2MergesTxtSha256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5";

    [Fact]
    public void MergesStartAndEndAsGpt2sMergesTxt()
    {
        var m = Tok.Merges;
        Assert.Equal(50_000, m.Count);
        // the first lines of GPT-2's merges.txt (after "#version: 0.2"); Ġ is the space in GPT-2's byte alphabet
        Assert.Equal(new[] { ("Ġ", "t"), ("Ġ", "a"), ("h", "e"), ("i", "n"), ("r", "e") }, m.Take(5));
        Assert.Equal(("Ġg", "azed"), m[^1]);                 // makes 50255, " gazed"
        Assert.Equal(("Ġinform", "ants"), m[^2]);            // makes 50254, " informants"
        Assert.Same(m, Tok.Merges);                          // derived once
    }

    [Fact]
    public void EachMergeJoinsTwoEarlierTokensIntoItsOwnToken()
    {
        // The ranks' own structure: rule i joins two tokens below 256 + i into token 256 + i, and is what BPE of that
        // token's bytes with the ranks below it leaves (checked independently here by a plain byte-pair loop).
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < 50256; id++) ids.Add(Alphabet(Tok.TokenBytes(id)), id);
        var m = Tok.Merges;
        for (int i = 0; i < m.Count; i++)
        {
            var (left, right) = m[i];
            int made = 256 + i;
            Assert.True(ids.TryGetValue(left, out int l) && ids.TryGetValue(right, out int r) && l < made && r < made,
                $"rule {i} ({left} {right}): parts must be tokens below {made}");
            Assert.Equal(made, ids[left + right]);
        }
        // spot check against a naive BPE: " the" merges as Ġ t -> Ġt, h e -> he, Ġt he -> Ġthe
        Assert.Equal(("Ġt", "he"), m[262 - 256]);
        Assert.Equal(("Ġt", "he"), NaiveSplit(ids, "Ġthe"));
        foreach (int t in new[] { 300, 1000, 5000, 20000, 40000, 50255 })
            Assert.Equal(NaiveSplit(ids, Alphabet(Tok.TokenBytes(t))), m[t - 256]);
    }

    /// <summary>Merges single characters of a token (in the byte alphabet) by the lowest-id pair below the token's id until two parts remain.</summary>
    static (string, string) NaiveSplit(Dictionary<string, int> ids, string token)
    {
        int max = ids[token];
        var parts = token.Select(c => c.ToString()).ToList();
        while (parts.Count > 2)
        {
            var best = Enumerable.Range(0, parts.Count - 1)
                .Select(k => (k, id: ids.TryGetValue(parts[k] + parts[k + 1], out int v) && v < max ? v : int.MaxValue))
                .MinBy(p => p.id);
            Assert.NotEqual(int.MaxValue, best.id);
            parts[best.k] += parts[best.k + 1];
            parts.RemoveAt(best.k + 1);
        }
        return (parts[0], parts[1]);
    }

    static string Alphabet(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes) sb.Append(Gpt2Tokenizer.ByteToChar[b]);
        return sb.ToString();
    }

    [Fact]
    public void SaveWritesGpt2sPublishedFiles()
    {
        using var tmp = TestPaths.Temp();
        var dir = Path.Combine(tmp.Path, "model");
        Tok.Save(dir);
        Assert.Equal(["merges.txt", "vocab.json"], Directory.GetFiles(dir).Select(Path.GetFileName).Order()); // no temp files left
        var vocab = File.ReadAllBytes(Path.Combine(dir, "vocab.json"));
        var merges = File.ReadAllBytes(Path.Combine(dir, "merges.txt"));
        Assert.StartsWith("#version: 0.2\nĠ t\nĠ a\nh e\ni n\nr e\n", Encoding.UTF8.GetString(merges));
        Assert.EndsWith("\nĠg azed\n", Encoding.UTF8.GetString(merges));
        Assert.StartsWith("{\"!\": 0, \"\\\"\": 1, \"#\": 2,", Encoding.UTF8.GetString(vocab));
        Assert.EndsWith("\"\\u0120gazed\": 50255, \"<|endoftext|>\": 50256}", Encoding.UTF8.GetString(vocab));
        Assert.Equal((1_042_301, 456_318), (vocab.Length, merges.Length));
        Assert.Equal(Gpt2VocabJsonSha256, Convert.ToHexStringLower(SHA256.HashData(vocab)));
        Assert.Equal(Gpt2MergesTxtSha256, Convert.ToHexStringLower(SHA256.HashData(merges)));
    }

    [Fact]
    public void SavedFilesLoadIntoTheSameTokenizer()
    {
        // Default.Save's files, loaded by FromFolder, give Default's ids on every fixture and on all of tinyshakespeare.
        var files = SavedGpt2.Tokenizer;
        Assert.Equal((50257, 50256), (files.VocabSize, files.EndOfTextId));
        Assert.Equal(Tok.Merges, files.Merges);                 // merges.txt as parsed = the merges derived from the ranks
        foreach (var c in Gpt2ReferenceFixture.Cases)
        {
            Assert.Equal(c.Expected, files.Encode(c.Text));
            Assert.Equal(Tok.Encode(c.Text, allowSpecial: true), files.Encode(c.Text, allowSpecial: true));
        }
        Assert.Equal(Tok.Encode(Shakespeare.Value), files.Encode(Shakespeare.Value));
        for (int id = 0; id < Tok.VocabSize; id++) Assert.True(Tok.TokenBytes(id).SequenceEqual(files.TokenBytes(id)), $"token {id}");
    }

    [Fact]
    public void SaveOfLoadedFilesIsByteForByte()
    {
        using var tmp = TestPaths.Temp();
        var again = Gpt2Tokenizer.FromFolder(SavedGpt2.Dir);
        again.Save(tmp.Path);
        Assert.Equal(File.ReadAllBytes(SavedGpt2.Vocab), File.ReadAllBytes(Path.Combine(tmp.Path, "vocab.json")));
        Assert.Equal(File.ReadAllBytes(SavedGpt2.Merges), File.ReadAllBytes(Path.Combine(tmp.Path, "merges.txt")));
        var loaded = Gpt2Tokenizer.FromFolder(tmp.Path);
        loaded.Save(tmp.Path); // saving over the files it was loaded from
        Assert.Equal(Tok.Encode("Saved and loaded 👍"), Gpt2Tokenizer.FromFolder(tmp.Path).Encode("Saved and loaded 👍"));
        Assert.Equal(1_042_301, new FileInfo(Path.Combine(tmp.Path, "vocab.json")).Length);
    }

    [Fact]
    public void DefaultIsOneInstanceForAllThreads()
    {
        var seen = new Gpt2Tokenizer[8];
        Parallel.For(0, seen.Length, i => seen[i] = Gpt2Tokenizer.Default);
        Assert.All(seen, t => Assert.Same(Gpt2Tokenizer.Default, t));
    }

    [Fact]
    public void ConcurrentEncodingAgrees()
    {
        var texts = Gpt2ReferenceFixture.Cases.Where(c => c.Replaced == null).ToArray();
        Parallel.For(0, 400, i =>
        {
            var c = texts[i % texts.Length];
            Assert.Equal(c.Expected, Tok.Encode(c.Text));
        });
    }

    static bool IsCompleteUtf8(ReadOnlySpan<byte> b) => System.Text.Unicode.Utf8.IsValid(b);

    static int FirstLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return i;
        }
        return -1;
    }
}
