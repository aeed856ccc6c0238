using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Model;

/// <summary>
/// Keys and values of every layer for the positions seen so far, preallocated to a fixed capacity so each new token
/// costs one position (no re-concatenation). One cache per sequence batch; it is not shared between generations.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] _k, _v; // n_layer x [B, n_head, capacity, head_size]

    public long Batch { get; }
    public long Capacity { get; }
    /// <summary>Positions already stored.</summary>
    public long Length { get; private set; }

    public KvCache(GptConfig config, long batch, long capacity, ScalarType dtype, Device device)
    {
        if (capacity > config.ContextLength)
            throw new PicoGptException($"KV cache capacity {capacity} exceeds the context length {config.ContextLength}");
        Batch = batch;
        Capacity = capacity;
        _k = new Tensor[config.NLayer];
        _v = new Tensor[config.NLayer];
        for (int i = 0; i < config.NLayer; i++)
        {
            // owned by the cache, not by whatever dispose scope the caller is in
            _k[i] = torch.zeros(new[] { batch, config.NHead, capacity, config.HeadSize }, dtype, device).DetachFromDisposeScope();
            _v[i] = torch.zeros(new[] { batch, config.NHead, capacity, config.HeadSize }, dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>Bytes held by the cache.</summary>
    public long Bytes => _k.Sum(t => t.NumberOfElements * t.ElementSize) * 2;

    /// <summary>Stores this step's k, v [B, n_head, T, hs] of one layer and returns all keys/values so far [B, n_head, Length+T, hs].</summary>
    internal (Tensor K, Tensor V) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (Length + t > Capacity)
            throw new PicoGptException($"KV cache is full: {Length} + {t} positions exceed its capacity {Capacity}");
        _k[layer].narrow(2, Length, t).copy_(k);
        _v[layer].narrow(2, Length, t).copy_(v);
        return (_k[layer].narrow(2, 0, Length + t), _v[layer].narrow(2, 0, Length + t));
    }

    /// <summary>Called by the model once every layer has appended a step of <paramref name="t"/> positions.</summary>
    internal void Advance(long t) => Length += t;

    /// <summary>Keep only the first <paramref name="length"/> positions (benchmarks re-run one step at a fixed position).</summary>
    internal void Truncate(long length) => Length = Math.Clamp(length, 0, Length);

    /// <summary>Forget everything (keeps the memory).</summary>
    public void Reset() => Length = 0;

    public void Dispose()
    {
        foreach (var t in _k) t.Dispose();
        foreach (var t in _v) t.Dispose();
    }
}
