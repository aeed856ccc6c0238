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

    /// <summary>The longest <c>dotnet tool restore</c> may take (a first restore downloads the tool, about 60 MB).</summary>
    public static TimeSpan RestoreTimeout { get; set; } = TimeSpan.FromMinutes(5);

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
                Restore(repoRoot, version, RestoreTimeout, "dotnet", "tool", "restore");
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

    /// <summary>Runs the restore (<paramref name="program"/> and its arguments, in <paramref name="repoRoot"/>); throws when it fails or outlasts the timeout.</summary>
    internal static void Restore(string repoRoot, string version, TimeSpan timeout, string program, params string[] arguments)
    {
        var command = $"`{program} {string.Join(' ', arguments)}`";
        var (code, output) = Run(repoRoot, timeout, program, arguments);
        if (code == null)
            throw new PicoGptException($"{command} in {repoRoot} did not finish in {timeout.TotalSeconds:0} s and was stopped, so the .NET Interactive kernel " +
                                       $"({PackageId} {version}) is not available: is the NuGet feed reachable? Run it there yourself to see where it waits" +
                                       (output.Length > 0 ? $" (its last output: {LastLines(output, 3)})" : ""));
        if (code != 0)
            throw new PicoGptException($"{command} in {repoRoot} failed (exit {code}), so the .NET Interactive kernel " +
                                       $"({PackageId} {version}) is not available: {LastLines(output, 3)}");
    }

    /// <summary>Runs a program to its end or the timeout (then it is stopped and the code is null); its output, both streams.</summary>
    static (int? Code, string Output) Run(string directory, TimeSpan timeout, string program, string[] arguments)
    {
        var psi = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi) ?? throw new PicoGptException($"could not start `{program} {string.Join(' ', arguments)}`");
        var err = p.StandardError.ReadToEndAsync();
        var outText = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (Exception) { }
            p.WaitForExit(5000);
            return (null, Finished(outText) + Finished(err));
        }
        p.WaitForExit();
        return (p.ExitCode, outText.Result + err.Result);
    }

    static string Finished(Task<string> text) => text.Wait(2000) ? text.Result : "";

    static string LastLines(string text, int n) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(n));
}
