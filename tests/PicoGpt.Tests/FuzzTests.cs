using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using PicoGpt.Model;
using PicoGpt.Tokenizers;
using PicoGpt.Weights;

namespace PicoGpt.Tests;

/// <summary>
/// Property tests: thousands of mutated weight, config and tokenizer files. Every case must end in a correct load or
/// our own PicoGptException (never another exception type, a native crash or a hang), within bounded time.
/// </summary>
public class FuzzTests
{
    static readonly string GoodWeights = Path.Combine(TestPaths.Fixtures, "golden", "tiny-plain", "model.safetensors");

    /// <summary>Runs <paramref name="load"/> on each mutated input; returns (loaded, refused) counts.</summary>
    static (int Ok, int Refused) Fuzz(int cases, int seed, Func<Random, byte[]> mutate, Action<string> load, string fileName, TimeSpan budget)
    {
        using var tmp = TestPaths.Temp();
        var rng = new Random(seed);
        int ok = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            var bytes = mutate(rng);
            var path = Path.Combine(tmp.Path, fileName);
            File.WriteAllBytes(path, bytes);
            try { load(path); ok++; }
            catch (PicoGptException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                Assert.DoesNotContain('\n', e.Message.TrimEnd());
                refused++;
            }
            catch (Exception e) { Assert.Fail($"case {i} (seed {seed}): {e.GetType().Name}: {e.Message}"); }
            Assert.True(clock.Elapsed < budget, $"fuzzing took longer than {budget} after {i} cases");
        }
        return (ok, refused);
    }

    static byte[] MutateSafetensors(Random rng, byte[] good)
    {
        var b = (byte[])good.Clone();
        ulong n = BitConverter.ToUInt64(b, 0);
        int headerEnd = 8 + (int)n;
        switch (rng.Next(8))
        {
            case 0: // flip bytes in the header
                for (int k = rng.Next(1, 4); k > 0; k--) b[8 + rng.Next((int)n)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 1: // truncate anywhere
                return b[..rng.Next(b.Length)];
            case 2: // lie about the header length
                BitConverter.GetBytes(rng.Next(3) switch { 0 => (ulong)rng.Next(0, headerEnd * 2), 1 => ulong.MaxValue - (ulong)rng.Next(100), _ => n + (ulong)rng.Next(-8, 9) }).CopyTo(b, 0);
                return b;
            case 3: // change a number inside the JSON (offsets, shapes)
            {
                var header = Encoding.UTF8.GetString(b, 8, (int)n);
                var digits = Enumerable.Range(0, header.Length).Where(i => char.IsDigit(header[i])).ToList();
                int at = digits[rng.Next(digits.Count)];
                var replaced = header[..at] + rng.Next(3) switch { 0 => "9", 1 => "-1", _ => rng.Next(0, 100000).ToString() } + header[(at + 1)..];
                return Rebuild(replaced, b[headerEnd..]);
            }
            case 4: // swap a dtype
            {
                var header = Encoding.UTF8.GetString(b, 8, (int)n);
                var dtypes = new[] { "F16", "BF16", "F64", "I8", "BOOL", "Q4", "f32", "" };
                int at = header.IndexOf("\"F32\"", rng.Next(header.Length / 2), StringComparison.Ordinal);
                if (at < 0) at = header.IndexOf("\"F32\"", StringComparison.Ordinal);
                return Rebuild(header[..at] + "\"" + dtypes[rng.Next(dtypes.Length)] + "\"" + header[(at + 5)..], b[headerEnd..]);
            }
            case 5: // garbage JSON
            {
                var garbage = new[] { "", "{", "[]", "null", "{\"a\": 1}", "{\"a\": {\"dtype\": \"F32\"}}", "\"x\"", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e40],\"data_offsets\":[0,4]}}" };
                return Rebuild(garbage[rng.Next(garbage.Length)], b[headerEnd..]);
            }
            case 6: // invalid UTF-8 in the header
                b[8 + rng.Next((int)n)] = (byte)(0x80 | rng.Next(0x40));
                return b;
            default: // random bytes in the data (must load: data is not validated beyond NaN checks elsewhere)
                for (int k = 0; k < 16; k++) b[headerEnd + rng.Next(b.Length - headerEnd)] = (byte)rng.Next(256);
                return b;
        }
    }

    static byte[] Rebuild(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        return BitConverter.GetBytes((ulong)h.Length).Concat(h).Concat(data).ToArray();
    }

    [Fact]
    public void MutatedSafetensorsEitherLoadOrAreRefusedClearly()
    {
        var good = File.ReadAllBytes(GoodWeights);
        var (ok, refused) = Fuzz(3000, 1, rng => MutateSafetensors(rng, good), path =>
        {
            using var f = SafeTensorsFile.Open(path);
            long total = 0;
            foreach (var name in f.Tensors.Keys)
            {
                using var t = f.Read(name);
                total += t.NumberOfElements * t.ElementSize;
            }
            Assert.True(total <= f.FileLength, "read more bytes than the file holds");
        }, "model.safetensors", TimeSpan.FromSeconds(90));
        Assert.True(refused > 1500 && ok > 200, $"{ok} loaded, {refused} refused: the mutations should exercise both");
    }

    [Fact]
    public void MutatedModelFoldersEitherLoadOrAreRefusedClearly()
    {
        // whole-model loading: wrong shapes, names and NaNs through the loader (smaller count: each load builds a model)
        var good = File.ReadAllBytes(GoodWeights);
        var config = File.ReadAllText(Path.Combine(TestPaths.Fixtures, "golden", "tiny-plain", "config.json"));
        using var dir = TestPaths.Temp();
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), config);
        var rng = new Random(2);
        int ok = 0, refused = 0;
        for (int i = 0; i < 300; i++)
        {
            File.WriteAllBytes(Path.Combine(dir.Path, "model.safetensors"), MutateSafetensors(rng, good));
            try { Gpt2Checkpoint.Load(dir.Path, TorchSharp.torch.CPU).Dispose(); ok++; }
            catch (PicoGptException) { refused++; }
        }
        Assert.True(ok > 0 && refused > 0, $"{ok} loaded, {refused} refused");
    }

    [Fact]
    public void MutatedConfigsEitherLoadOrAreRefusedClearly()
    {
        var good = File.ReadAllText(Path.Combine(TestPaths.Fixtures, "golden", "tiny-plain", "config.json"));
        var values = new JsonNode?[] { null, 0, -1, 1, 3, 7, 1e300, 2147483648L, 9.5, "12", true, new JsonArray(), new JsonObject(), "gpt2", "char", "relu" };
        var (ok, refused) = Fuzz(2000, 3, rng =>
        {
            if (rng.Next(5) == 0)                                                     // byte-level damage
            {
                var b = Encoding.UTF8.GetBytes(good);
                if (rng.Next(2) == 0) return b[..rng.Next(b.Length)];
                b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return b;
            }
            var o = JsonNode.Parse(good)!.AsObject();
            var keys = o.Select(kv => kv.Key).ToList();
            int edits = rng.Next(1, 3);
            for (int e = 0; e < edits; e++)
            {
                switch (rng.Next(3))
                {
                    case 0: o.Remove(keys[rng.Next(keys.Count)]); break;
                    case 1: o[keys[rng.Next(keys.Count)]] = values[rng.Next(values.Length)]?.DeepClone(); break;
                    default: o["key_" + rng.Next(3)] = 1; break;
                }
            }
            return Encoding.UTF8.GetBytes(o.ToJsonString());
        }, path =>
        {
            var c = GptConfig.ReadJson(path);
            Assert.True(c.NEmbd % c.NHead == 0 && c.VocabSize > 0 && c.ContextLength > 0);
        }, "config.json", TimeSpan.FromSeconds(60));
        Assert.True(ok > 50 && refused > 500, $"{ok} loaded, {refused} refused");
    }

    [Fact]
    public void MutatedTokenizerFilesEitherLoadOrAreRefusedClearly()
    {
        // a small GPT-2-style vocabulary: the 256 byte tokens and the first 200 merges of the real one (GPT-2's files as
        // Gpt2Tokenizer.Default.Save writes them)
        var vocabAll = JsonNode.Parse(File.ReadAllText(PicoGpt.Tests.Tokenizers.SavedGpt2.Vocab))!.AsObject();
        var vocab = new JsonObject();
        foreach (var (k, v) in vocabAll.Where(kv => (int)kv.Value! < 456).OrderBy(kv => (int)kv.Value!)) vocab[k] = (int)v!;
        var mergeLines = File.ReadLines(PicoGpt.Tests.Tokenizers.SavedGpt2.Merges).Take(201).ToList(); // header + 200
        var goodVocab = Encoding.UTF8.GetBytes(vocab.ToJsonString());
        var goodMerges = Encoding.UTF8.GetBytes(string.Join("\n", mergeLines) + "\n");
        using var tmp = TestPaths.Temp();
        var mergesPath = Path.Combine(tmp.Path, "merges.txt");
        var vocabPath = Path.Combine(tmp.Path, "vocab.json");
        File.WriteAllBytes(mergesPath, goodMerges);
        File.WriteAllBytes(vocabPath, goodVocab);
        var t = Gpt2Tokenizer.FromFiles(vocabPath, mergesPath);
        Assert.Equal(456, t.VocabSize);
        Assert.Equal(new[] { 40, 256 }, t.Encode("I t"));                       // "I", then " t" (the first merge, "Ġ t")

        static byte[] Damage(Random rng, byte[] good)
        {
            var b = (byte[])good.Clone();
            switch (rng.Next(4))
            {
                case 0: return b[..rng.Next(b.Length)];
                case 1: b[rng.Next(b.Length)] = (byte)(0x80 | rng.Next(0x40)); return b;   // invalid UTF-8
                case 2: b[rng.Next(b.Length)] = (byte)rng.Next(32, 127); return b;
                default:
                    var s = Encoding.UTF8.GetString(b);
                    int at = rng.Next(s.Length);
                    return Encoding.UTF8.GetBytes(s[..at] + new[] { "\"", "}", "999999", "-3", "\n", " ", "Ġ" }[rng.Next(7)] + s[at..]);
            }
        }
        // damage vocab.json
        var (ok1, ref1) = Fuzz(400, 4, rng => Damage(rng, goodVocab), path => Gpt2Tokenizer.FromFiles(path, mergesPath).Encode("Hello world"), "vocab.json", TimeSpan.FromSeconds(60));
        // damage merges.txt
        File.WriteAllBytes(vocabPath, goodVocab);
        var (ok2, ref2) = Fuzz(400, 5, rng => Damage(rng, goodMerges), path => Gpt2Tokenizer.FromFiles(vocabPath, path).Encode("Hello world"), "merges.txt", TimeSpan.FromSeconds(60));
        Assert.True(ref1 > 100 && ref2 > 100, $"vocab: {ok1} ok/{ref1} refused; merges: {ok2} ok/{ref2} refused");
    }
}
