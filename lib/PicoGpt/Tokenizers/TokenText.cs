using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PicoGpt.Tokenizers;

/// <summary>Helpers shared by the tokenizers: id checks, lone surrogates, label escaping, strict file reading.</summary>
internal static class TokenText
{
    public static void CheckId(int id, int vocabSize, string kind)
    {
        if ((uint)id >= (uint)vocabSize)
            throw new PicoGptException($"token id {id} is out of range: the {kind} vocabulary has {vocabSize} ids (0..{vocabSize - 1})");
    }

    /// <summary>
    /// The text with every lone (unpaired) UTF-16 surrogate replaced by U+FFFD; the same string object when there is none.
    /// This is what a UTF-8 encoder (JavaScript's TextEncoder, .NET's Encoding.UTF8) does to such text anyway.
    /// </summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        int i = FirstLoneSurrogate(text);
        if (i < 0) return text;
        var sb = new StringBuilder(text.Length);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[i + 1]);
                i++;
            }
            else sb.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
        }
        return sb.ToString();
    }

    /// <summary>Index of the first unpaired surrogate, or -1.</summary>
    public static int FirstLoneSurrogate(ReadOnlySpan<char> text)
    {
        int start = 0;
        while (true)
        {
            int i = text[start..].IndexOfAnyInRange('\uD800', '\uDFFF');
            if (i < 0) return -1;
            i += start;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) start = i + 2;
            else return i;
        }
    }

    /// <summary>
    /// Display form of a token's bytes: valid UTF-8 as text with control characters escaped (\n, \t, \r, \uXXXX), and
    /// bytes that do not form a complete character as \xNN.
    /// </summary>
    public static string Label(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length + 4);
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out Rune rune, out int used);
            if (status == OperationStatus.Done) AppendEscaped(sb, rune);
            else for (int k = 0; k < used; k++) sb.Append("\\x").Append(bytes[k].ToString("X2", CultureInfo.InvariantCulture));
            bytes = bytes[used..];
        }
        return sb.ToString();
    }

    /// <summary>A character as it should appear in a one-line message or label: control and format characters escaped.</summary>
    public static void AppendEscaped(StringBuilder sb, Rune r)
    {
        switch (r.Value)
        {
            case '\n': sb.Append("\\n"); return;
            case '\r': sb.Append("\\r"); return;
            case '\t': sb.Append("\\t"); return;
            case '\\': sb.Append("\\\\"); return;
        }
        var cat = Rune.GetUnicodeCategory(r);
        if (cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned)
            sb.Append(r.Value <= 0xFFFF ? $"\\u{r.Value:X4}" : $"\\U{r.Value:X8}");
        else sb.Append(r.ToString());
    }

    /// <summary>One character (or a lone surrogate) for an error message: quoted, escaped, with its code point.</summary>
    public static string Describe(string s, int index, out int length)
    {
        var status = Rune.DecodeFromUtf16(s.AsSpan(index), out Rune r, out length);
        if (status != OperationStatus.Done) { length = 1; return $"lone surrogate U+{(int)s[index]:X4}"; }
        var sb = new StringBuilder("'");
        AppendEscaped(sb, r);
        return sb.Append("' (U+").Append(r.Value.ToString("X4", CultureInfo.InvariantCulture)).Append(')').ToString();
    }

    /// <summary>The bytes of a file; a missing or unreadable file is a <see cref="PicoGptException"/> naming it.</summary>
    public static byte[] ReadFile(string path, string what)
    {
        if (!File.Exists(path))
            throw new PicoGptException($"{path}: file not found (expected {what})");
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PicoGptException($"{path}: cannot read ({e.Message})", e);
        }
    }

    /// <summary>The text of UTF-8 bytes (a leading BOM is skipped); invalid UTF-8 is a <see cref="PicoGptException"/> naming the file and byte offset.</summary>
    public static string DecodeUtf8(byte[] bytes, string path)
    {
        int start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var src = bytes.AsSpan(start);
        var chars = new char[src.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(src, chars, out int read, out int written, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
            throw new PicoGptException($"{path}: not valid UTF-8 (bad byte 0x{src[read]:X2} at offset {start + read}); expected UTF-8 text");
        return new string(chars, 0, written);
    }

    /// <summary>Parses a JSON file's text; bad JSON is a <see cref="PicoGptException"/> naming the file and line.</summary>
    public static JsonDocument ParseJson(string text, string path, string what)
    {
        try { return JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow }); }
        catch (JsonException e)
        {
            throw new PicoGptException($"{path}: not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}); expected {what}", e);
        }
    }

    /// <summary>A short, escaped, quoted excerpt of a string for messages.</summary>
    public static string Quote(string s, int max = 40)
    {
        var sb = new StringBuilder("\"");
        int shown = 0;
        foreach (var r in s.EnumerateRunes())
        {
            if (shown++ == max) { sb.Append('…'); break; }
            if (r.Value == '"') sb.Append("\\\""); else AppendEscaped(sb, r);
        }
        return sb.Append('"').ToString();
    }

    public static void WriteFile(string dir, string name, ReadOnlySpan<byte> bytes)
    {
        try
        {
            Directory.CreateDirectory(dir);
            IO.AtomicFile.WriteAllBytes(Path.Combine(dir, name), bytes.ToArray());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PicoGptException($"{Path.Combine(dir, name)}: cannot write ({e.Message})", e);
        }
    }
}
