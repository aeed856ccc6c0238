using System.Text;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests.Tokenizers;

public class CharTokenizerTests
{
    static readonly Lazy<string> Shakespeare = new(() => File.ReadAllText(Paths.TinyShakespeare));

    [Fact]
    public void ShakespeareVocabularyIsNanoGptsSixtyFiveCharacters()
    {
        var tok = CharTokenizer.FromText(Shakespeare.Value);
        Assert.Equal("char", tok.Kind);
        Assert.Null(tok.EndOfTextId);
        Assert.Equal(65, tok.VocabSize);
        // nanoGPT's shakespeare_char: sorted(set(text)) => "\n !$&',-.3:;?ABC...XYZabc...xyz"
        Assert.Equal("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", string.Concat(tok.Characters));
        Assert.Equal(new[] { 20, 43, 50, 50, 53, 1, 58, 46, 43, 56, 43, 2 }, tok.Encode("Hello there!"));
        Assert.Equal(new[] { 46, 47, 47, 1, 58, 46, 43, 56, 43 }, tok.Encode("hii there")); // Karpathy's "Let's build GPT"
    }

    [Fact]
    public void RoundTripsExactly()
    {
        var text = Shakespeare.Value;
        var tok = CharTokenizer.FromText(text);
        var ids = tok.Encode(text);
        Assert.Equal(text.Length, ids.Length);
        Assert.Equal(text, tok.Decode(ids));
        Assert.Equal(0, tok.Encode("\n")[0]);
        Assert.Equal(1, tok.Encode(" ")[0]);
        Assert.Equal(new int[0], tok.Encode(""));
        Assert.Equal("", tok.Decode([]));
    }

    [Fact]
    public void SortsByCodePointAndKeepsSupplementaryCharactersWhole()
    {
        // U+1F600 (a surrogate pair) sorts after U+FF01 by code point, though its first UTF-16 unit (D83D) sorts before.
        var tok = CharTokenizer.FromText("b😀a！a\n");
        Assert.Equal(new[] { "\n", "a", "b", "！", "😀" }, tok.Characters);
        Assert.Equal(new[] { 4, 1, 2 }, tok.Encode("😀ab"));
        Assert.Equal("😀ab", tok.Decode([4, 1, 2]));
        Assert.Equal("😀", tok.TokenLabel(4));
        Assert.Equal("\\n", tok.TokenLabel(0));
    }

    [Fact]
    public void UnknownCharacterIsAnErrorNamingItAndItsPosition()
    {
        var tok = CharTokenizer.FromText("abc \n");
        var e = Assert.Throws<PicoGptException>(() => tok.Encode("ab\tc"));
        Assert.Contains("'\\t' (U+0009)", e.Message);
        Assert.Contains("position 2", e.Message);
        e = Assert.Throws<PicoGptException>(() => tok.Encode("abc 😀"));
        Assert.Contains("'😀' (U+1F600)", e.Message);
        Assert.Contains("position 4", e.Message);
        e = Assert.Throws<PicoGptException>(() => tok.Encode("a\uD800"));
        Assert.Contains("lone surrogate U+D800", e.Message);
        Assert.Contains("position 1", e.Message);
    }

    [Fact]
    public void OutOfRangeIdsAreErrors()
    {
        var tok = CharTokenizer.FromText("abc");
        foreach (var act in new Action[] { () => tok.Decode([0, 3]), () => tok.TokenLabel(-1), () => tok.NewStreamDecoder().Push(3) })
        {
            var e = Assert.Throws<PicoGptException>(act);
            Assert.Matches(@"token id (3|-1) is out of range: the char vocabulary has 3 ids", e.Message);
        }
    }

    [Fact]
    public void SaveAndLoad()
    {
        using var tmp = TestPaths.Temp();
        var tok = CharTokenizer.FromText("Hello, \"world\"\n\t\\ 😀é\u0001\u007f\u2028\r");
        tok.Save(tmp.Path);
        var json = File.ReadAllText(Path.Combine(tmp.Path, "vocab.json"), Encoding.UTF8);
        Assert.StartsWith("{\n  \"\\u0001\": 0,\n  \"\\t\": 1,\n  \"\\n\": 2,\n  \"\\r\": 3,\n  \" \": 4,\n", json);
        Assert.Contains("\"\\\"\": ", json);
        Assert.Contains("\"😀\": ", json);

        var back = CharTokenizer.FromFolder(tmp.Path);
        Assert.Equal(tok.Characters, back.Characters);
        Assert.Equal(tok.Encode("Hello 😀"), back.Encode("Hello 😀"));
        Assert.Equal(json, Encoding.UTF8.GetString(back.ToJson()));
    }

    [Fact]
    public void LoadsAHandWrittenVocabInAnyKeyOrder()
    {
        using var tmp = TestPaths.Temp();
        File.WriteAllText(Path.Combine(tmp.Path, "vocab.json"), "{\"b\": 1, \"\\n\": 2, \"a\": 0}");
        var tok = CharTokenizer.FromFolder(tmp.Path);
        Assert.Equal(new[] { "a", "b", "\n" }, tok.Characters);
        Assert.Equal(new[] { 1, 0, 2 }, tok.Encode("ba\n"));
    }

    [Theory]
    [InlineData("{\"ab\": 0}", "not one character")]
    [InlineData("{\"a\": 0, \"b\": 0}", "id 0 is used twice")]
    [InlineData("{\"a\": 0, \"b\": 2}", "expected ids 0..1")]
    [InlineData("{\"a\": \"0\"}", "expected an integer id")]
    [InlineData("{\"a\": 0.5}", "expected an integer id")]
    [InlineData("{\"a\": 0, \"a\": 1}", "appears twice")]
    [InlineData("{}", "empty object")]
    [InlineData("[\"a\"]", "expected a JSON object")]
    [InlineData("{\"a\": 0,}", "not valid JSON")]
    public void BadVocabFilesNameTheFile(string content, string fragment)
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "vocab.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<PicoGptException>(() => CharTokenizer.FromFolder(tmp.Path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void InvalidUtf8VocabNamesTheFile()
    {
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "vocab.json");
        File.WriteAllBytes(path, [(byte)'{', (byte)'"', 0xC0, 0x80, (byte)'"', (byte)':', (byte)'0', (byte)'}']);
        var e = Assert.Throws<PicoGptException>(() => CharTokenizer.FromFolder(tmp.Path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void FromTextRejectsEmptyAndInvalidText()
    {
        Assert.Contains("empty", Assert.Throws<PicoGptException>(() => CharTokenizer.FromText("")).Message);
        Assert.Contains("lone surrogate U+DC00 at position 1", Assert.Throws<PicoGptException>(() => CharTokenizer.FromText("a\uDC00")).Message);
    }

    [Fact]
    public void StreamDecoderGivesWholeCharacters()
    {
        var tok = CharTokenizer.FromText("ab😀");
        var dec = tok.NewStreamDecoder();
        Assert.Equal("😀", dec.Push(2));
        Assert.Equal("a", dec.Push(0));
        Assert.Equal("", dec.Flush());
    }
}
