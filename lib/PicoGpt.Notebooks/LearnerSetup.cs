using System.Diagnostics;
using System.Text.Json;

namespace PicoGpt.Notebooks;

/// <summary>One part of a learner's setup: what it is, whether it is ready, what was found, and how to fix it if not.</summary>
public sealed record SetupItem(string Part, bool Ok, string Found, string? Fix);

/// <summary>
/// Every part a learner needs, for <c>picogpt doctor</c>: the .NET 10 SDK (lessons and the kernel tool), the pinned
/// kernel tool (Microsoft.dotnet-interactive, restored from .config/dotnet-tools.json), the Jupyter kernelspec
/// (.net-csharp) and whether the command it starts resolves, the built course library, and the lesson files. Each
/// missing part comes with its fix. Reads only the file system and runs <c>dotnet --list-sdks</c>; nothing is changed.
/// </summary>
public static class LearnerSetup
{
    /// <summary>The course library the notebooks' setup cell and the lessons' #:project line reference.</summary>
    public const string CourseLibrary = "PicoGpt.Course";

    public static IReadOnlyList<SetupItem> Check(string repoRoot)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return [Sdk(), KernelToolItem(repoRoot, home), .. Kernelspec(home), Library(repoRoot), Lessons(repoRoot)];
    }

    static SetupItem Sdk()
    {
        var sdks = Run("dotnet", "--list-sdks");
        var ten = sdks?.Split('\n').Select(l => l.Split(' ')[0]).Where(v => v.StartsWith("10.", StringComparison.Ordinal)).ToList() ?? [];
        return new("SDK (.NET 10)", ten.Count > 0, ten.Count > 0 ? string.Join(", ", ten) : sdks == null ? "dotnet not found on PATH" : "no 10.x SDK: " + sdks.Replace('\n', ' ').Trim(),
            "install the .NET 10 SDK (LTS, supported to November 2028): https://dotnet.microsoft.com/download/dotnet/10.0");
    }

    static SetupItem KernelToolItem(string repoRoot, string home)
    {
        var manifest = Path.Combine(repoRoot, ".config", "dotnet-tools.json");
        if (!File.Exists(manifest)) return new("kernel tool", false, $"{manifest} missing", "restore it: git checkout -- .config/dotnet-tools.json");
        var version = KernelTool.PinnedVersion(manifest);
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p : Path.Combine(home, ".nuget", "packages");
        var restored = Directory.Exists(Path.Combine(packages, KernelTool.PackageId, version));
        return new("kernel tool", restored, restored ? $"Microsoft.dotnet-interactive {version} (local tool, runs on .NET 10)" : $"Microsoft.dotnet-interactive {version} is not restored",
            "dotnet tool restore   (in the repository)");
    }

    /// <summary>The .net-csharp kernelspec in Jupyter's data folders, and whether its command resolves.</summary>
    static IEnumerable<SetupItem> Kernelspec(string home)
    {
        var dirs = new List<string>();
        if (Environment.GetEnvironmentVariable("JUPYTER_PATH") is { Length: > 0 } jp) dirs.AddRange(jp.Split(Path.PathSeparator));
        dirs.Add(Path.Combine(home, ".local", "share", "jupyter"));
        dirs.Add(Path.Combine(home, "Library", "Jupyter"));
        if (Environment.GetEnvironmentVariable("APPDATA") is { Length: > 0 } appData) dirs.Add(Path.Combine(appData, "jupyter"));
        dirs.AddRange(["/usr/local/share/jupyter", "/usr/share/jupyter"]);
        var spec = dirs.Select(d => Path.Combine(d, "kernels", ".net-csharp", "kernel.json")).FirstOrDefault(File.Exists);
        const string install = "dotnet tool install -g Microsoft.dotnet-interactive --version 1.0.712001 && dotnet interactive jupyter install   (only for Jupyter / VS Code's Jupyter extension)";
        if (spec == null)
        {
            yield return new("Jupyter kernelspec", false, ".net-csharp not found in " + string.Join(", ", dirs.Distinct()), install);
            yield break;
        }
        yield return new("Jupyter kernelspec", true, spec, null);
        string[]? argv = null;
        string? problem = null;
        try { argv = JsonDocument.Parse(File.ReadAllText(spec)).RootElement.GetProperty("argv").EnumerateArray().Select(a => a.GetString() ?? "").ToArray(); }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { problem = e.Message; }
        if (argv == null)
        {
            yield return new("kernelspec command", false, $"{spec}: no argv ({problem})", "reinstall it: dotnet interactive jupyter install");
            yield break;
        }
        var command = string.Join(" ", argv.Take(2));
        bool resolves = argv.Length > 0 && (argv[0] == "dotnet" && argv.Length > 1 && argv[1] == "interactive"
            ? OnPath("dotnet-interactive") != null || File.Exists(Path.Combine(home, ".dotnet", "tools", "dotnet-interactive"))
            : OnPath(argv[0]) != null || File.Exists(argv[0]));
        yield return new("kernelspec command", resolves, $"`{command}` {(resolves ? "resolves" : "does not resolve")}",
            "Jupyter starts it outside the repository, where the local tool is not found: dotnet tool install -g Microsoft.dotnet-interactive --version 1.0.712001");
    }

    static SetupItem Library(string repoRoot)
    {
        var dll = Path.Combine(repoRoot, "lib", CourseLibrary, "bin", "Debug", "net10.0", CourseLibrary + ".dll");
        return new("course library", File.Exists(dll), File.Exists(dll) ? Path.GetRelativePath(repoRoot, dll) : $"{Path.GetRelativePath(repoRoot, dll)} not built",
            "dotnet build   (at the repository root; notebooks load it, lessons build it themselves)");
    }

    static SetupItem Lessons(string repoRoot)
    {
        var dir = Path.Combine(repoRoot, "lessons");
        var notebooks = Path.Combine(repoRoot, "notebooks", "solutions");
        var expected = Directory.Exists(notebooks) ? Directory.GetFiles(notebooks, "*.ipynb").Select(f => Path.GetFileNameWithoutExtension(f) + ".cs").OrderBy(f => f, StringComparer.Ordinal).ToList() : [];
        var missing = expected.Where(f => !File.Exists(Path.Combine(dir, f))).ToList();
        return new("lesson files", expected.Count > 0 && missing.Count == 0,
            missing.Count == 0 ? $"{expected.Count} in lessons/ (run one: dotnet run lessons/{expected.FirstOrDefault() ?? "NAME.cs"}; or picogpt learn)" : "missing: " + string.Join(", ", missing),
            "git checkout -- lessons/   (or regenerate them: picogpt notebooks strip)");
    }

    static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(d => d.Length > 0)
            .SelectMany(d => new[] { Path.Combine(d, name), Path.Combine(d, name + ".exe") }).FirstOrDefault(File.Exists);

    static string? Run(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (p == null) return null;
            var text = p.StandardOutput.ReadToEnd();
            p.WaitForExit(30_000);
            return text;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }
}
