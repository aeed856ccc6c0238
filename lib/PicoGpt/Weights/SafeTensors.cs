using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

using PicoGpt.IO;

namespace PicoGpt.Weights;

/// <summary>One tensor's entry in a safetensors header. Offsets are relative to the start of the data section.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public long NumberOfElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors file, opened memory-mapped: an 8-byte little-endian header length N, N bytes of JSON
/// (name -> {dtype, shape, data_offsets}, optional "__metadata__"), then the raw little-endian data.
/// Every header field is validated against the file size before any tensor is read.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>dtype names of the format and their torch types and sizes.</summary>
    public static readonly IReadOnlyDictionary<string, (ScalarType Type, int Size)> DTypes = new Dictionary<string, (ScalarType, int)>
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Headers larger than this are refused (the format's reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly long _dataStart;

    public string Path { get; }
    public long FileLength { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafeTensorsFile(string path, long length, long dataStart, Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        FileLength = length;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
        if (length > dataStart)
        {
            _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        }
    }

    /// <summary>Opens and validates a file. Every problem is a <see cref="PicoGptException"/> naming the file.</summary>
    public static SafeTensorsFile Open(string path)
    {
        Exception Bad(string what) => new PicoGptException($"{path}: {what}");
        if (!File.Exists(path)) throw Bad("file not found");
        byte[] header;
        long length;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            length = fs.Length;
            if (length < 8) throw Bad($"truncated: {length} bytes, too short for the 8-byte header length");
            Span<byte> lenBytes = stackalloc byte[8];
            fs.ReadExactly(lenBytes);
            ulong n = BitConverter.ToUInt64(lenBytes);
            if (n == 0) throw Bad("header length is 0");
            if (n > (ulong)(length - 8)) throw Bad($"header length {n} runs past the end of the file ({length} bytes)");
            if (n > MaxHeaderBytes) throw Bad($"header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
            header = new byte[n];
            fs.ReadExactly(header);
        }
        long dataStart = 8 + header.Length, dataLength = length - dataStart;

        string json;
        try { json = new UTF8Encoding(false, true).GetString(header); }
        catch (DecoderFallbackException) { throw Bad("header is not valid UTF-8"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.TrimEnd(' ', '\0'), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw Bad($"header is not valid JSON ({e.Message.Split('\n')[0]})"); }

        var tensors = new Dictionary<string, SafeTensorInfo>();
        var metadata = new Dictionary<string, string>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header must be a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (tensors.ContainsKey(prop.Name) || (prop.Name == "__metadata__" && metadata.Count > 0))
                    throw Bad($"tensor \"{prop.Name}\" appears twice in the header");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ must be an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw Bad($"__metadata__ value \"{m.Name}\" must be a string");
                    continue;
                }
                tensors[prop.Name] = ParseEntry(prop.Name, prop.Value, dataLength, Bad);
            }
        }

        // byte ranges must not overlap
        SafeTensorInfo? prev = null;
        foreach (var t in tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (prev != null && t.Begin < prev.End && t.ByteLength > 0 && prev.ByteLength > 0)
                throw Bad($"tensors \"{prev.Name}\" and \"{t.Name}\" overlap (bytes {prev.Begin}..{prev.End} and {t.Begin}..{t.End})");
            if (t.ByteLength > 0) prev = t;
        }
        return new SafeTensorsFile(path, length, dataStart, tensors, metadata);
    }

    static SafeTensorInfo ParseEntry(string name, JsonElement e, long dataLength, Func<string, Exception> bad)
    {
        if (e.ValueKind != JsonValueKind.Object) throw bad($"entry \"{name}\" must be an object with dtype, shape and data_offsets");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw bad($"tensor \"{name}\" has no dtype string");
        var dtype = dt.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info))
            throw bad($"tensor \"{name}\" has unknown dtype \"{dtype}\" (expected one of {string.Join(", ", DTypes.Keys)})");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw bad($"tensor \"{name}\" has no shape array");
        var shape = new long[sh.GetArrayLength()];
        if (shape.Length > 8) throw bad($"tensor \"{name}\" has {shape.Length} dimensions (at most 8 supported)");
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw bad($"tensor \"{name}\" has an invalid shape entry {d.GetRawText()}");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw bad($"tensor \"{name}\" needs data_offsets [begin, end]");
        var o = off.EnumerateArray().ToArray();
        if (!o[0].TryGetInt64(out var begin) || !o[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw bad($"tensor \"{name}\" has invalid data_offsets {off.GetRawText()}");
        if (end > dataLength)
            throw bad($"tensor \"{name}\" data_offsets [{begin}, {end}] lie outside the data section ({dataLength} bytes; file truncated?)");
        long expected;
        try { expected = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * info.Size); }
        catch (OverflowException) { throw bad($"tensor \"{name}\" shape [{string.Join(", ", shape)}] is too large"); }
        if (expected != end - begin)
            throw bad($"tensor \"{name}\" shape [{string.Join(", ", shape)}] x {dtype} needs {expected} bytes, but data_offsets give {end - begin}");
        foreach (var p in e.EnumerateObject())
            if (p.Name is not ("dtype" or "shape" or "data_offsets")) throw bad($"tensor \"{name}\" has unknown field \"{p.Name}\"");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>Reads one tensor (a copy, on the cpu in its stored dtype unless asked otherwise).</summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!Tensors.TryGetValue(name, out var info))
            throw new PicoGptException($"{Path}: no tensor named \"{name}\"");
        var (type, _) = DTypes[info.DType];
        var t = torch.empty(info.Shape, type);
        if (info.ByteLength > 0) CopyBytes(info, t);
        if (dtype is ScalarType want && want != type) t = t.to(want);
        if (device != null && device.type != DeviceType.CPU) t = t.to(device);
        return t;
    }

    /// <summary>Copies a tensor's bytes straight into <paramref name="dest"/> (a contiguous cpu tensor of the same dtype and size).</summary>
    public void ReadInto(string name, Tensor dest)
    {
        if (!Tensors.TryGetValue(name, out var info))
            throw new PicoGptException($"{Path}: no tensor named \"{name}\"");
        if (DTypes[info.DType].Type != dest.dtype || !info.Shape.SequenceEqual(dest.shape) || !dest.is_contiguous() || dest.device.type != DeviceType.CPU)
            throw new PicoGptException($"{Path}: tensor \"{name}\" ({info.DType} [{string.Join(", ", info.Shape)}]) does not fit the destination ({dest.dtype} [{string.Join(", ", dest.shape)}])");
        if (info.ByteLength > 0) CopyBytes(info, dest);
    }

    unsafe void CopyBytes(SafeTensorInfo info, Tensor dest)
    {
        byte* basePtr = null;
        _view!.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        try
        {
            byte* src = basePtr + _view.PointerOffset + _dataStart + info.Begin;
            new ReadOnlySpan<byte>(src, checked((int)info.ByteLength)).CopyTo(dest.bytes); // dest.bytes: the tensor's own storage
        }
        finally { _view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }

    public void Dispose()
    {
        _view?.Dispose();
        _map?.Dispose();
    }

    /// <summary>
    /// Writes tensors (in the given order) as a safetensors file, via a temp file renamed into place, so a failure
    /// never leaves a half-written file.
    /// </summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>();
        using var buffer = new MemoryStream();
        using var w = new Utf8JsonWriter(buffer);
        w.WriteStartObject();
        if (metadata is { Count: > 0 })
        {
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) w.WriteString(k, v);
            w.WriteEndObject();
        }
        long offset = 0;
        var cpu = new List<Tensor>();
        foreach (var (name, tensor) in list)
        {
            if (!names.Add(name)) throw new PicoGptException($"{path}: tensor name \"{name}\" given twice");
            var dtype = DTypes.FirstOrDefault(kv => kv.Value.Type == tensor.dtype).Key
                        ?? throw new PicoGptException($"{path}: tensor \"{name}\" has dtype {tensor.dtype}, which safetensors cannot store here");
            var c = tensor.detach().cpu().contiguous();
            cpu.Add(c);
            long bytes = c.NumberOfElements * c.ElementSize;
            w.WriteStartObject(name);
            w.WriteString("dtype", dtype);
            w.WriteStartArray("shape");
            foreach (var d in c.shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteStartArray("data_offsets");
            w.WriteNumberValue(offset);
            w.WriteNumberValue(offset + bytes);
            w.WriteEndArray();
            w.WriteEndObject();
            offset += bytes;
        }
        w.WriteEndObject();
        w.Flush();
        var header = buffer.ToArray().ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');

        AtomicFile.Write(path, fs =>
        {
            fs.Write(BitConverter.GetBytes((ulong)header.Count));
            fs.Write(header.ToArray());
            foreach (var c in cpu) WriteTensorBytes(fs, c);
        });
        foreach (var c in cpu) c.Dispose();
    }

    static void WriteTensorBytes(Stream s, Tensor t) => s.Write(t.bytes); // the tensor's own storage, no copy
}
