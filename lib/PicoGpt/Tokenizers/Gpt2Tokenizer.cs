using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace PicoGpt.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE tokenizer, loaded from GPT-2's vocab.json + merges.txt and run by Microsoft.ML.Tokenizers'
/// <see cref="TiktokenTokenizer"/> (not by merging code of our own).
/// <para>
/// How: vocab.json is converted in memory to tiktoken's rank format, each token's raw bytes (GPT-2's byte-to-unicode
/// alphabet undone) with rank = id. That is exact for GPT-2 because merge rule i creates token 256 + i, which loading
/// checks. Text is split by GPT-2's regex (see <see cref="Gpt2SplitRegex"/>) in a <see cref="RegexPreTokenizer"/>.
/// (<c>CodeGenTokenizer</c> is not used: it encodes runs of spaces differently, "   the" must be [220, 220, 262].)
/// </para>
/// <para>
/// Agreement: ids equal OpenAI's encoder (encoder.py; the npm port gpt-3-encoder) on the fixture corpus in
/// tests/PicoGpt.Tests/Fixtures/tokenizer, and on all of tinyshakespeare. Deliberate choices where references differ:
/// a lone UTF-16 surrogate is replaced by U+FFFD before encoding (gpt-3-encoder's TextEncoder does the same to the
/// bytes; OpenAI's Python encoder raises); <c>\s</c> is Unicode White_Space as in OpenAI's Python encoder, so U+0085 is
/// white space and U+FEFF is not (JavaScript's <c>\s</c>, hence gpt-3-encoder, has it the other way round).
/// </para>
/// Thread-safe for Encode/Decode/TokenLabel; each <see cref="TokenStreamDecoder"/> belongs to one stream.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    /// <summary>GPT-2's one special token.</summary>
    public const string EndOfTextToken = "<|endoftext|>";

    readonly TiktokenTokenizer _bpe;
    readonly byte[][] _tokenBytes;          // id -> raw bytes
    readonly byte[] _vocabFile, _mergesFile; // as loaded, for Save

    Gpt2Tokenizer(TiktokenTokenizer bpe, byte[][] tokenBytes, int? endOfTextId, byte[] vocabFile, byte[] mergesFile)
    {
        _bpe = bpe;
        _tokenBytes = tokenBytes;
        EndOfTextId = endOfTextId;
        _vocabFile = vocabFile;
        _mergesFile = mergesFile;
    }

    /// <inheritdoc/>
    public string Kind => "gpt2";
    /// <inheritdoc/>
    public int VocabSize => _tokenBytes.Length;
    /// <inheritdoc/>
    public int? EndOfTextId { get; }

    /// <summary>Loads vocab.json and merges.txt from a model folder (GPT-2's hub layout).</summary>
    public static Gpt2Tokenizer FromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw new PicoGptException($"{dir}: folder not found (expected a model folder with vocab.json and merges.txt)");
        return FromFiles(Path.Combine(dir, "vocab.json"), Path.Combine(dir, "merges.txt"));
    }

    /// <summary>
    /// Loads GPT-2's vocab.json (token → id) and merges.txt (one merge rule per line). Any problem (missing file,
    /// invalid UTF-8 or JSON, wrong types, ids not 0..n-1, merges that do not build the vocabulary) is a
    /// <see cref="PicoGptException"/> naming the file.
    /// </summary>
    public static Gpt2Tokenizer FromFiles(string vocabPath, string mergesPath)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        ArgumentNullException.ThrowIfNull(mergesPath);
        var vocabFile = TokenText.ReadFile(vocabPath, "GPT-2's vocab.json");
        var mergesFile = TokenText.ReadFile(mergesPath, "GPT-2's merges.txt");
        var (tokenBytes, ids) = ParseVocab(vocabFile, vocabPath);
        int mergeCount = CheckMerges(mergesFile, mergesPath, ids, vocabPath);

        // Every single byte must be a token, or some text could not be encoded.
        var seen = new bool[256];
        foreach (var b in tokenBytes) if (b.Length == 1) seen[b[0]] = true;
        int missing = Array.IndexOf(seen, false);
        if (missing >= 0) throw new PicoGptException($"{vocabPath}: no token for byte 0x{missing:X2}; expected all 256 single-byte tokens");

        // Tokens past the merges are special tokens (GPT-2 has one, <|endoftext|> = 50256); they are never merged into.
        int? eot = ids.TryGetValue(EndOfTextToken, out int e) ? e : null;
        int mergeable = 256 + mergeCount;

        var ranks = new StringBuilder(tokenBytes.Length * 12);
        for (int id = 0; id < tokenBytes.Length; id++)
        {
            if (id >= mergeable && tokenBytes[id].Length > 1) continue;
            ranks.Append(Convert.ToBase64String(tokenBytes[id])).Append(' ').Append(id).Append('\n');
        }
        TiktokenTokenizer bpe;
        using (var stream = new MemoryStream(Encoding.ASCII.GetBytes(ranks.ToString())))
            bpe = TiktokenTokenizer.Create(stream, new RegexPreTokenizer(Gpt2SplitRegex.Regex, null),
                normalizer: null, specialTokens: null);
        return new Gpt2Tokenizer(bpe, tokenBytes, eot, vocabFile, mergesFile);
    }

    /// <inheritdoc/>
    public int[] Encode(string text, bool allowSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = TokenText.ReplaceLoneSurrogates(text);
        if (text.Length == 0) return [];
        if (!allowSpecial || EndOfTextId is not int eot || !text.Contains(EndOfTextToken, StringComparison.Ordinal))
            return EncodeOrdinary(text).ToArray();

        // <|endoftext|> splits the text; each piece is encoded on its own (as tiktoken does with allowed_special).
        var ids = new List<int>();
        int start = 0, at;
        while ((at = text.IndexOf(EndOfTextToken, start, StringComparison.Ordinal)) >= 0)
        {
            if (at > start) ids.AddRange(EncodeOrdinary(text.AsSpan(start, at - start)));
            ids.Add(eot);
            start = at + EndOfTextToken.Length;
        }
        if (start < text.Length) ids.AddRange(EncodeOrdinary(text.AsSpan(start)));
        return ids.ToArray();
    }

    IReadOnlyList<int> EncodeOrdinary(ReadOnlySpan<char> text) =>
        _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false);

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            TokenText.CheckId(id, _tokenBytes.Length, Kind);
            bytes.AddRange(_tokenBytes[id]);
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>The raw bytes of one token (a token can be part of a UTF-8 character).</summary>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        TokenText.CheckId(id, _tokenBytes.Length, Kind);
        return _tokenBytes[id];
    }

    /// <inheritdoc/>
    public string TokenLabel(int id)
    {
        TokenText.CheckId(id, _tokenBytes.Length, Kind);
        return TokenText.Label(_tokenBytes[id]);
    }

    /// <inheritdoc/>
    public TokenStreamDecoder NewStreamDecoder() => new(_tokenBytes, Kind);

    /// <summary>Writes vocab.json and merges.txt, byte for byte as they were loaded.</summary>
    public void Save(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        TokenText.WriteFile(dir, "vocab.json", _vocabFile);
        TokenText.WriteFile(dir, "merges.txt", _mergesFile);
    }

    // ---- loading ----

    /// <summary>GPT-2's byte-to-unicode alphabet: byte b is shown as char ByteToChar[b]; CharToByte undoes it (-1: not in the alphabet).</summary>
    internal static readonly char[] ByteToChar = BuildByteToChar();
    static readonly short[] CharToByte = BuildCharToByte();

    static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    static short[] BuildCharToByte()
    {
        var inv = new short[324];
        Array.Fill(inv, (short)-1);
        for (int b = 0; b < 256; b++) inv[ByteToChar[b]] = (short)b;
        return inv;
    }

    static (byte[][] TokenBytes, Dictionary<string, int> Ids) ParseVocab(byte[] file, string path)
    {
        const string what = "a JSON object mapping each GPT-2 token to its id";
        var text = TokenText.DecodeUtf8(file, path);
        using var doc = TokenText.ParseJson(text, path, what);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new PicoGptException($"{path}: top level is a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected {what}");

        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new PicoGptException($"{path}: token {TokenText.Quote(p.Name)} maps to {Short(p.Value)}; expected an integer id");
            if (p.Name.Length == 0)
                throw new PicoGptException($"{path}: empty token (id {id}); expected non-empty tokens");
            if (!ids.TryAdd(p.Name, id))
                throw new PicoGptException($"{path}: token {TokenText.Quote(p.Name)} appears twice; expected each token once");
        }
        if (ids.Count == 0) throw new PicoGptException($"{path}: empty object; expected {what}");

        var tokenBytes = new byte[ids.Count][];
        foreach (var (token, id) in ids)
        {
            if (id < 0 || id >= ids.Count)
                throw new PicoGptException($"{path}: token {TokenText.Quote(token)} has id {id}; expected ids 0..{ids.Count - 1} for {ids.Count} tokens");
            if (tokenBytes[id] != null)
                throw new PicoGptException($"{path}: id {id} is used twice; expected each id 0..{ids.Count - 1} once");
            var bytes = new byte[token.Length];
            for (int i = 0; i < token.Length; i++)
            {
                char c = token[i];
                int b = c < CharToByte.Length ? CharToByte[c] : -1;
                if (b < 0)
                    throw new PicoGptException($"{path}: token {TokenText.Quote(token)} has {TokenText.Describe(token, i, out _)}, which is not in GPT-2's byte-to-unicode alphabet");
                bytes[i] = (byte)b;
            }
            tokenBytes[id] = bytes;
        }
        return (tokenBytes, ids);
    }

    static string Short(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length <= 30 ? raw : raw[..30] + "…";
    }

    /// <summary>
    /// Checks merges.txt: an optional "#version" line, then lines "a b" where a, b and a+b are tokens and rule i makes
    /// token 256 + i (what makes tiktoken's rank = id encoding equal to applying the merges in order). Returns the count.
    /// </summary>
    static int CheckMerges(byte[] file, string path, Dictionary<string, int> ids, string vocabPath)
    {
        var text = TokenText.DecodeUtf8(file, path);
        var lines = text.Split('\n');
        int count = 0;
        for (int ln = 0; ln < lines.Length; ln++)
        {
            var line = lines[ln].TrimEnd('\r');
            if (ln == 0 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
            if (line.Length == 0)
            {
                if (lines.Skip(ln + 1).All(l => l.TrimEnd('\r').Length == 0)) break; // trailing blank lines
                throw new PicoGptException($"{path}: line {ln + 1} is empty; expected one merge \"a b\" per line");
            }
            int sp = line.IndexOf(' ');
            if (sp <= 0 || sp == line.Length - 1 || line.IndexOf(' ', sp + 1) >= 0)
                throw new PicoGptException($"{path}: line {ln + 1} is {TokenText.Quote(line)}; expected two tokens separated by one space");
            string a = line[..sp], b = line[(sp + 1)..];
            foreach (var part in (ReadOnlySpan<string>)[a, b, a + b])
                if (!ids.ContainsKey(part))
                    throw new PicoGptException($"{path}: line {ln + 1}: {TokenText.Quote(part)} is not a token of {vocabPath}; expected merges that match the vocabulary");
            int expected = 256 + count;
            if (ids[a + b] != expected)
                throw new PicoGptException($"{path}: line {ln + 1}: merge {TokenText.Quote(line)} makes token id {ids[a + b]} in {vocabPath}; expected id {expected} (merge rule i must make token 256 + i, as in GPT-2)");
            count++;
        }
        return count;
    }
}
