using System.Diagnostics;
using System.Text.Json;

namespace PicoGpt.Notebooks;

/// <summary>
/// The .NET Interactive kernel the course runs in: the tool Microsoft.dotnet-interactive pinned in the repository's
/// .config/dotnet-tools.json (the kernel VS Code Polyglot Notebooks and Jupyter start), run as a local tool,
/// <c>dotnet tool run dotnet-interactive -- stdio ...</c> from the repository root. The first use in a process runs
/// <c>dotnet tool restore</c> there (a second or two when the tool is already in the NuGet cache), so a fresh clone
/// needs no setup step of its own, whatever NuGet packages folder this machine uses.
/// </summary>
public static class KernelTool
{
    public const string PackageId = "microsoft.dotnet-interactive";
    const string Command = "dotnet-interactive";
    static readonly object Gate = new();
    static readonly HashSet<string> Restored = new();

    /// <summary>
    /// How to start the kernel: the program, its first arguments (the kernel's own arguments follow) and the folder to
    /// start it in. Restores the pinned tool first, once per repository and process.
    /// </summary>
    public static (string FileName, string[] Arguments, string WorkingDirectory) StartInfo(string? repoRoot = null)
    {
        repoRoot ??= Paths.RepoRoot ?? throw new PicoGptException(
            "the repository root (with .config/dotnet-tools.json) was not found above the working directory or the program: run from the repository");
        var version = PinnedVersion(Path.Combine(repoRoot, ".config", "dotnet-tools.json"));
        lock (Gate)
        {
            if (!Restored.Contains(repoRoot))
            {
                var (code, output) = Run(repoRoot, "tool", "restore");
                if (code != 0)
                    throw new PicoGptException($"`dotnet tool restore` in {repoRoot} failed (exit {code}), so the .NET Interactive kernel " +
                                               $"({PackageId} {version}) is not available: {LastLines(output, 3)}");
                Restored.Add(repoRoot);
            }
        }
        return ("dotnet", ["tool", "run", Command, "--"], repoRoot);
    }

    /// <summary>The version of Microsoft.dotnet-interactive in a tool manifest.</summary>
    public static string PinnedVersion(string manifest)
    {
        if (!File.Exists(manifest)) throw new PicoGptException($"{manifest}: not found (it pins the notebook kernel, {PackageId})");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
            if (doc.RootElement.TryGetProperty("tools", out var tools) && tools.TryGetProperty(PackageId, out var tool)
                && tool.TryGetProperty("version", out var v) && v.GetString() is { Length: > 0 } version)
                return version;
        }
        catch (JsonException e) { throw new PicoGptException($"{manifest}: invalid JSON ({e.Message.Split('\n')[0]})"); }
        throw new PicoGptException($"{manifest}: no {PackageId} tool with a version");
    }

    static (int Code, string Output) Run(string directory, params string[] arguments)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi) ?? throw new PicoGptException($"could not start `dotnet {string.Join(' ', arguments)}`");
        var err = p.StandardError.ReadToEndAsync();
        var outText = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, outText + err.Result);
    }

    static string LastLines(string text, int n) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(n));
}
