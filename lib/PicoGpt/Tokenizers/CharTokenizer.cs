using System.Text;
using System.Text.Json;

namespace PicoGpt.Tokenizers;

/// <summary>
/// Character-level tokenizer, as nanoGPT's shakespeare_char: the vocabulary is the sorted set of characters (Unicode
/// code points, like Python's str) of a training text, ids 0..n-1 in code point order. Saved to and loaded from a
/// model folder's vocab.json, an object mapping each character to its id. Decode is exact; encoding a character that
/// is not in the vocabulary is an error. No special tokens (<see cref="EndOfTextId"/> is null).
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    readonly string[] _chars;                 // id -> character (1 or 2 UTF-16 units)
    readonly byte[][] _charBytes;             // id -> UTF-8, for the stream decoder
    readonly Dictionary<int, int> _ids;       // code point -> id
    readonly int[] _asciiIds;                 // fast path: code point < 128 -> id, -1 if absent

    CharTokenizer(IReadOnlyList<Rune> chars)
    {
        _chars = new string[chars.Count];
        _charBytes = new byte[chars.Count][];
        _ids = new Dictionary<int, int>(chars.Count);
        _asciiIds = new int[128];
        Array.Fill(_asciiIds, -1);
        for (int id = 0; id < chars.Count; id++)
        {
            var r = chars[id];
            _chars[id] = r.ToString();
            _charBytes[id] = Encoding.UTF8.GetBytes(_chars[id]);
            _ids[r.Value] = id;
            if (r.Value < 128) _asciiIds[r.Value] = id;
        }
    }

    /// <inheritdoc/>
    public string Kind => "char";
    /// <inheritdoc/>
    public int VocabSize => _chars.Length;
    /// <inheritdoc/>
    public int? EndOfTextId => null;

    /// <summary>The characters, in id order.</summary>
    public IReadOnlyList<string> Characters => _chars;

    /// <summary>The vocabulary of a text: its distinct characters sorted by code point get ids 0..n-1 (nanoGPT's rule).</summary>
    public static CharTokenizer FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int bad = TokenText.FirstLoneSurrogate(text);
        if (bad >= 0) throw new PicoGptException($"text for the character vocabulary has a lone surrogate U+{(int)text[bad]:X4} at position {bad}; expected valid UTF-16 text");
        var set = new HashSet<int>();
        foreach (var r in text.EnumerateRunes()) set.Add(r.Value);
        if (set.Count == 0) throw new PicoGptException("text for the character vocabulary is empty; expected at least one character");
        return new CharTokenizer(set.Order().Select(v => new Rune(v)).ToList());
    }

    /// <summary>Loads vocab.json from a model folder.</summary>
    public static CharTokenizer FromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw new PicoGptException($"{dir}: folder not found (expected a model folder with vocab.json)");
        return FromFile(Path.Combine(dir, "vocab.json"));
    }

    /// <summary>Loads a character vocabulary file: a JSON object mapping each character to its id, ids 0..n-1 each once.</summary>
    public static CharTokenizer FromFile(string vocabPath)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        const string what = "a JSON object mapping each character to its id";
        var text = TokenText.DecodeUtf8(TokenText.ReadFile(vocabPath, "a character vocab.json"), vocabPath);
        using var doc = TokenText.ParseJson(text, vocabPath, what);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new PicoGptException($"{vocabPath}: top level is a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected {what}");
        var entries = new List<(Rune Char, int Id)>();
        var seen = new HashSet<int>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name.Length == 0 || Rune.DecodeFromUtf16(p.Name, out Rune r, out int used) != System.Buffers.OperationStatus.Done || used != p.Name.Length)
                throw new PicoGptException($"{vocabPath}: key {TokenText.Quote(p.Name)} is not one character; expected {what}");
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new PicoGptException($"{vocabPath}: character {TokenText.Quote(p.Name)} maps to {p.Value.GetRawText()}; expected an integer id");
            if (!seen.Add(r.Value))
                throw new PicoGptException($"{vocabPath}: character {TokenText.Quote(p.Name)} appears twice; expected each character once");
            entries.Add((r, id));
        }
        if (entries.Count == 0) throw new PicoGptException($"{vocabPath}: empty object; expected {what}");
        var chars = new Rune?[entries.Count];
        foreach (var (c, id) in entries)
        {
            if (id < 0 || id >= chars.Length)
                throw new PicoGptException($"{vocabPath}: character {TokenText.Quote(c.ToString())} has id {id}; expected ids 0..{chars.Length - 1} for {chars.Length} characters");
            if (chars[id] != null)
                throw new PicoGptException($"{vocabPath}: id {id} is used twice; expected each id 0..{chars.Length - 1} once");
            chars[id] = c;
        }
        return new CharTokenizer(chars.Select(c => c!.Value).ToList());
    }

    /// <summary>
    /// One id per character. A character outside the vocabulary (or a lone surrogate) is a <see cref="PicoGptException"/>
    /// naming it (escaped, with its code point) and its position (UTF-16 index). <paramref name="allowSpecial"/> has no
    /// effect: there are no special tokens.
    /// </summary>
    public int[] Encode(string text, bool allowSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (c < 128 && _asciiIds[c] >= 0) { ids.Add(_asciiIds[c]); i++; continue; }
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out Rune r, out int used) == System.Buffers.OperationStatus.Done
                && _ids.TryGetValue(r.Value, out int id))
            {
                ids.Add(id);
                i += used;
                continue;
            }
            var what = TokenText.Describe(text, i, out _);
            throw new PicoGptException($"character {what} at position {i} is not in the character vocabulary ({VocabSize} characters)");
        }
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            TokenText.CheckId(id, _chars.Length, Kind);
            sb.Append(_chars[id]);
        }
        return sb.ToString();
    }

    /// <inheritdoc/>
    public string TokenLabel(int id)
    {
        TokenText.CheckId(id, _chars.Length, Kind);
        return TokenText.Label(_charBytes[id]);
    }

    /// <inheritdoc/>
    public TokenStreamDecoder NewStreamDecoder() => new(_charBytes, Kind);

    /// <summary>Writes vocab.json: {"\n": 0, " ": 1, ...} in id order, one entry per line.</summary>
    public void Save(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        TokenText.WriteFile(dir, "vocab.json", ToJson());
    }

    /// <summary>vocab.json's bytes. Written by hand so that every character appears as itself (System.Text.Json would
    /// escape non-ASCII and emoji); only '"', '\\' and control characters are escaped.</summary>
    internal byte[] ToJson()
    {
        var sb = new StringBuilder("{\n");
        for (int id = 0; id < _chars.Length; id++)
        {
            sb.Append("  \"");
            foreach (char c in _chars[id])
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20 || c is '\u007f' or '\u2028' or '\u2029') sb.Append($"\\u{(int)c:x4}");
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append("\": ").Append(id).Append(id < _chars.Length - 1 ? ",\n" : "\n");
        }
        sb.Append("}\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}
