using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Training;

/// <summary>
/// A token stream split 90/10 by position into train and val, with random contiguous blocks for batches.
/// Stored once as a compact binary file (uint16 when the vocabulary fits, else int32) next to the run.
/// </summary>
public sealed class TokenDataset
{
    public int[] Train { get; }
    public int[] Val { get; }
    public int VocabSize { get; }

    public TokenDataset(IReadOnlyList<int> ids, int vocabSize, double trainFraction = 0.9)
    {
        if (ids.Count < 4) throw new PicoGptException($"the training text has only {ids.Count} tokens");
        int n = (int)(ids.Count * trainFraction);
        Train = ids.Take(n).ToArray();
        Val = ids.Skip(n).ToArray();
        VocabSize = vocabSize;
    }

    public int[] Split(string split) => split switch
    {
        "train" => Train, "val" => Val,
        _ => throw new ArgumentException($"split must be train or val, got {split}"),
    };

    /// <summary>
    /// A batch of <paramref name="batchSize"/> random windows of a split (<see cref="TrainingOps.GetBatch"/>):
    /// x = ids[i..i+T), y = ids[i+1..i+T+1). Starts come from <paramref name="rng"/> so a seeded run draws the same
    /// batches. [B, T] int64 each, on <paramref name="device"/>.
    /// </summary>
    public (Tensor X, Tensor Y) Batch(string split, int batchSize, int blockSize, Random rng, Device? device = null)
    {
        var data = Split(split);
        if (data.Length < blockSize + 1)
            throw new PicoGptException($"the {split} split has {data.Length} tokens, fewer than block_size + 1 = {blockSize + 1}");
        var (x, y) = TrainingOps.GetBatch(data, batchSize, blockSize, rng);
        var d = device ?? CPU;
        return (x.to(d), y.to(d));
    }

    /// <summary>Writes the ids as little-endian uint16 (vocab ≤ 65536) or int32, with a 16-byte header, atomically.</summary>
    public static void WriteIds(string path, IReadOnlyList<int> ids, int vocabSize)
    {
        IO.AtomicFile.Write(path, fs =>
        {
            using var w = new BinaryWriter(fs, System.Text.Encoding.UTF8, leaveOpen: true);
            bool small = vocabSize <= 65536;
            w.Write("PGID"u8.ToArray());
            w.Write(small ? 2 : 4);
            w.Write(vocabSize);
            w.Write(ids.Count);
            foreach (var id in ids)
                if (small) w.Write((ushort)id); else w.Write(id);
        });
    }

    /// <summary>Reads a file written by <see cref="WriteIds"/>, validating its header and length.</summary>
    public static (int[] Ids, int VocabSize) ReadIds(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 16 || bytes[0] != 'P' || bytes[1] != 'G' || bytes[2] != 'I' || bytes[3] != 'D')
            throw new PicoGptException($"{path}: not a picogpt token file");
        int width = BitConverter.ToInt32(bytes, 4), vocab = BitConverter.ToInt32(bytes, 8), count = BitConverter.ToInt32(bytes, 12);
        if (width is not (2 or 4) || count < 0 || 16L + (long)count * width != bytes.Length)
            throw new PicoGptException($"{path}: truncated or corrupt token file");
        var ids = new int[count];
        for (int i = 0; i < count; i++)
            ids[i] = width == 2 ? BitConverter.ToUInt16(bytes, 16 + 2 * i) : BitConverter.ToInt32(bytes, 16 + 4 * i);
        return (ids, vocab);
    }
}
