using System.Runtime.InteropServices;

namespace PicoGpt.Decode;

/// <summary>
/// A block of native memory, 64-byte aligned, zeroed, owned by this object: weights pinned once at load time (the GC
/// never moves or scans them). Freed on Dispose (and by the finalizer if forgotten).
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    void* _p;

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    public NativeBuffer(long bytes)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        Bytes = bytes;
        _p = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 64), 64);
        NativeMemory.Clear(_p, (nuint)Math.Max(bytes, 64));
        if (bytes > 0) GC.AddMemoryPressure(bytes);
    }

    /// <summary>The start of the block, typed.</summary>
    public T* As<T>() where T : unmanaged
        => _p != null ? (T*)_p : throw new ObjectDisposedException(nameof(NativeBuffer));

    /// <summary>The block as a span of <typeparamref name="T"/> (its size must fit an int count).</summary>
    public Span<T> Span<T>() where T : unmanaged => new(As<T>(), checked((int)(Bytes / sizeof(T))));

    public void Dispose()
    {
        if (_p == null) return;
        NativeMemory.AlignedFree(_p);
        _p = null;
        if (Bytes > 0) GC.RemoveMemoryPressure(Bytes);
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() { if (_p != null) NativeMemory.AlignedFree(_p); }
}
