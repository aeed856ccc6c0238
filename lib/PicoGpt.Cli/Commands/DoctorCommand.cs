using System.Runtime.InteropServices;
using PicoGpt.Native;
using PicoGpt.Notebooks;
using TorchSharp;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt doctor: is this machine ready? .NET, TorchSharp/libtorch, native load, cuda, threads, weights; and, inside the
/// repository, every part of a learner's setup with the fix for each missing one (<see cref="LearnerSetup"/>).
/// </summary>
public sealed class DoctorCommand : ICommand
{
    public string Name => "doctor";
    public string Help => "check .NET, TorchSharp, the native library, CUDA, threads, downloaded weights, and the course setup (SDK, kernel tool, Jupyter kernelspec, course library, lessons) with fixes";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public int Run(Args args)
    {
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var (ts, lt) = TorchRuntime.Versions();
        var report = new Dictionary<string, object?>
        {
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["os"] = RuntimeInformation.OSDescription,
            ["torchsharp"] = ts,
            ["libtorch"] = lt ?? "(bundled with the application)",
            ["system_libstdcxx_has_GLIBCXX_3.4.32"] = !GlibcxxRepair.SystemNeedsRepair(),
        };
        var systemTorch = TorchRuntime.SystemLibtorch();
        report["system_libtorch"] = systemTorch == null ? "none"
            : $"{systemTorch} (can shadow TorchSharp's libtorch in a notebook kernel; the notebooks' setup cell calls TorchRuntime.Initialize(), which loads the package's copy first)";
        bool ok = true;
        try
        {
            TorchRuntime.Initialize();
            report["native"] = "loads";
            report["cuda"] = torch.cuda.is_available();
            report["cuda_devices"] = torch.cuda.is_available() ? torch.cuda.device_count() : 0;
            report["threads"] = torch.get_num_threads();
            report["default_device"] = TorchRuntime.DefaultDevice.ToString();
        }
        catch (PicoGptException e)
        {
            ok = false;
            report["native"] = "FAILS: " + e.Message;
        }
        foreach (var note in TorchRuntime.Notes) report["note: " + note] = true;
        report["weights_dir"] = Paths.WeightsDir;
        report["weights"] = Directory.Exists(Paths.WeightsDir)
            ? Directory.GetDirectories(Paths.WeightsDir).Where(d => File.Exists(Path.Combine(d, "config.json")))
                .Select(Path.GetFileName).OrderBy(n => n).ToArray()
            : Array.Empty<string>();
        var setup = Paths.RepoRoot is { } root ? LearnerSetup.Check(root) : [];
        if (json)
        {
            report["course_setup"] = setup.Select(i => new Dictionary<string, object?> { ["part"] = i.Part, ["ok"] = i.Ok, ["found"] = i.Found, ["fix"] = i.Ok ? null : i.Fix }).ToArray();
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(report));
        }
        else
        {
            foreach (var (k, v) in report)
                Console.WriteLine($"{k,-36} {(v is string[] a ? (a.Length == 0 ? "(none)" : string.Join(", ", a)) : v)}");
            if (setup.Count > 0) Console.WriteLine("\ncourse setup:");
            foreach (var item in setup)
            {
                Console.WriteLine($"  {(item.Ok ? "✓" : "✗")} {item.Part,-20} {item.Found}");
                if (!item.Ok && item.Fix != null) Console.WriteLine($"    {"",-20} fix: {item.Fix}");
            }
        }
        return ok ? 0 : 1;
    }
}
