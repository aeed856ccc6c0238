using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Native;

/// <summary>
/// Makes TorchSharp's native libraries load, and explains in plain words when they do not.
/// Call <see cref="Initialize"/> before the first tensor operation (the notebooks' setup cell does).
/// </summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool _initialized;
    static readonly List<string> _notes = new();

    /// <summary>What Initialize did (repairs, preloads), one line each.</summary>
    public static IReadOnlyList<string> Notes { get { lock (Gate) return _notes.ToList(); } }

    /// <summary>
    /// Repairs libLibTorchSharp.so where the system libstdc++ lacks GLIBCXX_3.4.32, preloads the package's libtorch
    /// by full path when TorchSharp runs from the NuGet cache (a notebook), so a system libtorch cannot shadow it,
    /// and runs one tensor operation. Throws a <see cref="PicoGptException"/> saying what is wrong and how to fix it.
    /// </summary>
    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) PrepareLinux();
            try
            {
                using var t = torch.ones(2, 2).matmul(torch.ones(2, 2));
                _ = t.sum().item<float>();
            }
            catch (Exception e) when (e is not PicoGptException)
            {
                throw new PicoGptException(Explain(e), e);
            }
            _initialized = true;
        }
    }

    static void PrepareLinux()
    {
        foreach (var dir in NativeDirectories())
        {
            var lib = Path.Combine(dir, "libLibTorchSharp.so");
            if (!File.Exists(lib)) continue;
            try
            {
                var outcome = GlibcxxRepair.RepairIfNeeded(lib);
                if (outcome == RepairOutcome.Repaired) _notes.Add($"marked {GlibcxxRepair.MissingVersion} weak in {lib}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                _notes.Add($"could not repair {lib}: {e.Message}");
            }
        }
        // In a notebook kernel TorchSharp is loaded by path (the course's lib/PicoGpt.Interactive build folder) or from the
        // NuGet cache, and looks libtorch up by bare name, which can resolve to a system libtorch (Debian's python3-torch
        // ships 1.13) or make TorchSharp copy its natives into a cpu/ folder first. Load the right copies by full path.
        var appNative = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        if (File.Exists(Path.Combine(appNative, "libtorch_cpu.so")) || File.Exists(Path.Combine(AppContext.BaseDirectory, "libtorch_cpu.so")))
            return; // an application whose deps.json lists the natives: the package copies already win
        var (libtorchDir, sharpDir) = BesideTorchSharp() is { } beside ? (beside, beside) : (FindPackageLibtorchDir(), TorchSharpPackageNativeDir());
        if (libtorchDir == null) return;
        foreach (var name in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            var path = Path.Combine(libtorchDir, name);
            if (File.Exists(path) && NativeLibrary.TryLoad(path, out _)) _notes.Add($"preloaded {path}");
        }
        if (sharpDir != null && NativeLibrary.TryLoad(Path.Combine(sharpDir, "libLibTorchSharp.so"), out _))
            _notes.Add($"preloaded {Path.Combine(sharpDir, "libLibTorchSharp.so")}");
    }

    /// <summary>
    /// runtimes/linux-x64/native beside the loaded TorchSharp.dll when it holds libtorch (a build folder with the
    /// TorchSharp-cpu natives copied in, as lib/PicoGpt.Interactive's), else null.
    /// </summary>
    static string? BesideTorchSharp()
    {
        var asmDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (string.IsNullOrEmpty(asmDir)) return null;
        var dir = Path.Combine(asmDir, "runtimes", "linux-x64", "native");
        return File.Exists(Path.Combine(dir, "libtorch_cpu.so")) ? dir : null;
    }

    /// <summary>Folders that may hold the libLibTorchSharp.so this process will load.</summary>
    static IEnumerable<string> NativeDirectories()
    {
        yield return AppContext.BaseDirectory;
        yield return Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        var pkg = TorchSharpPackageNativeDir();
        if (pkg != null) yield return pkg;
        if (BesideTorchSharp() is { } beside) yield return beside;
        // TorchSharp's own notebook fallback copies the natives next to TorchSharp.dll (lib/net8.0/cpu or cuda)
        var asmDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(asmDir))
        {
            yield return Path.Combine(asmDir, "cpu");
            yield return Path.Combine(asmDir, "cuda");
        }
    }

    /// <summary>runtimes/linux-x64/native of the TorchSharp package the loaded TorchSharp.dll came from (NuGet cache layout).</summary>
    static string? TorchSharpPackageNativeDir()
    {
        var asm = typeof(torch).Assembly.Location;
        if (string.IsNullOrEmpty(asm)) return null;
        var pkgRoot = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(asm))); // .../torchsharp/0.107.0
        if (pkgRoot == null) return null;
        var dir = Path.Combine(pkgRoot, "runtimes", "linux-x64", "native");
        return Directory.Exists(dir) ? dir : null;
    }

    /// <summary>The libtorch-cpu-linux-x64 package's native folder beside the TorchSharp package in the NuGet cache.</summary>
    static string? FindPackageLibtorchDir()
    {
        var sharp = TorchSharpPackageNativeDir();
        if (sharp == null) return null;
        var packages = Path.GetFullPath(Path.Combine(sharp, "..", "..", "..", "..", ".."));
        foreach (var name in new[] { "libtorch-cpu-linux-x64" })
        {
            var root = Path.Combine(packages, name);
            if (!Directory.Exists(root)) continue;
            var best = Directory.GetDirectories(root).OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault();
            var dir = best == null ? null : Path.Combine(best, "runtimes", "linux-x64", "native");
            if (dir != null && Directory.Exists(dir)) return dir;
        }
        return null;
    }

    /// <summary>
    /// A libtorch installed in the system library folders (e.g. Debian's python3-torch), which a notebook kernel can
    /// pick up instead of TorchSharp's own unless <see cref="Initialize"/> preloads the package's copy. Null when none.
    /// </summary>
    public static string? SystemLibtorch()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return null;
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib" })
        {
            if (!Directory.Exists(dir)) continue;
            var hit = Directory.EnumerateFiles(dir, "libtorch_cpu.so*").FirstOrDefault();
            if (hit != null) return hit;
        }
        return null;
    }

    /// <summary>Turns a native load failure into a sentence with the fix.</summary>
    public static string Explain(Exception e)
    {
        var all = string.Join(" | ", Flatten(e).Select(x => x.Message));
        if (all.Contains("GLIBCXX_3.4.32"))
            return "TorchSharp's native library needs GLIBCXX_3.4.32, which this system's libstdc++ lacks. " +
                   "Rebuild with 'dotnet build' (the build marks that requirement weak), or call PicoGpt.Native.TorchRuntime.Initialize() before using torch.";
        if (all.Contains("_ZNK3c105Error4whatEv") || all.Contains("undefined symbol"))
            return "TorchSharp loaded a different libtorch than its own (a system libtorch such as Debian's python3-torch 1.13?). " +
                   "Call PicoGpt.Native.TorchRuntime.Initialize() before the first tensor, or remove the system libtorch from the loader path.";
        if ((all.Contains("libtorch-cpu") || all.Contains("libtorch-cuda")) && SystemLibtorch() is string system)
            return $"TorchSharp's native backend did not load, most likely because the system libtorch at {system} shadows the package's " +
                   "(Debian's python3-torch installs libtorch 1.13). Call PicoGpt.Native.TorchRuntime.Initialize() before the first tensor: " +
                   "it loads the package's libtorch by full path first. (Restart the kernel if torch was already touched.)";
        if (all.Contains("libtorch-cpu") || all.Contains("libtorch-cuda") || all.Contains("DllNotFound") || all.Contains("Unable to load"))
            return "TorchSharp's native backend did not load: reference the TorchSharp-cpu (or a TorchSharp-cuda) package next to TorchSharp. Details: " + FirstLine(all);
        return "TorchSharp failed to start: " + FirstLine(all);
    }

    static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? x = e; x != null; x = x.InnerException) yield return x;
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>cuda when a CUDA backend is loaded and a GPU is visible, else cpu.</summary>
    public static Device DefaultDevice
    {
        get
        {
            Initialize();
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }
    }

    /// <summary>Parses "cpu", "cuda", "cuda:1" or "auto" (null) into a device, checking that it exists.</summary>
    public static Device ParseDevice(string? name)
    {
        if (string.IsNullOrEmpty(name) || name == "auto") return DefaultDevice;
        Initialize();
        if (name.StartsWith("cuda") && !torch.cuda.is_available())
            throw new PicoGptException($"device '{name}' was asked for, but CUDA is not available (is a TorchSharp-cuda package referenced and a GPU visible?)");
        try { return torch.device(name); }
        catch (Exception) { throw new PicoGptException($"unknown device '{name}': expected cpu, cuda, cuda:N or auto"); }
    }

    /// <summary>Parses float32/float16/bfloat16 (and float64) into a ScalarType.</summary>
    public static ScalarType ParseDType(string? name) => name switch
    {
        null or "" or "float32" or "fp32" or "f32" => ScalarType.Float32,
        "float16" or "fp16" or "f16" or "half" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float64" or "fp64" or "f64" or "double" => ScalarType.Float64,
        _ => throw new PicoGptException($"unknown dtype '{name}': expected float32, float16, bfloat16 or float64"),
    };

    /// <summary>TorchSharp's assembly version and the libtorch package version it was built for.</summary>
    public static (string TorchSharp, string? Libtorch) Versions()
    {
        var ts = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                 ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "?";
        string? lt = null;
        var dir = FindPackageLibtorchDir();
        if (dir != null) lt = new DirectoryInfo(dir).Parent?.Parent?.Parent?.Name;
        return (ts.Split('+')[0], lt);
    }
}
