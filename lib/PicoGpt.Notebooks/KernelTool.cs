using System.Diagnostics;
using System.Text.Json;

namespace PicoGpt.Notebooks;

/// <summary>
/// Finds the .NET Interactive kernel: the tool Microsoft.dotnet-interactive pinned in the repository's
/// .config/dotnet-tools.json (the kernel VS Code Polyglot Notebooks and Jupyter start), in the NuGet packages folder
/// ($NUGET_PACKAGES, else ~/.nuget/packages). When it is not there yet, runs <c>dotnet tool restore</c> once, so a fresh
/// clone needs no setup step of its own.
/// </summary>
public static class KernelTool
{
    public const string PackageId = "microsoft.dotnet-interactive";
    const string EntryAssembly = "Microsoft.DotNet.Interactive.App.dll";
    static readonly object Gate = new();

    /// <summary>The kernel's entry assembly (run with <c>dotnet &lt;path&gt; stdio</c>), restoring the tool if needed.</summary>
    public static string Locate(string? repoRoot = null)
    {
        repoRoot ??= Paths.RepoRoot ?? throw new PicoGptException(
            "the repository root (with .config/dotnet-tools.json) was not found above the working directory or the program: run from the repository");
        var manifest = Path.Combine(repoRoot, ".config", "dotnet-tools.json");
        var version = PinnedVersion(manifest);
        lock (Gate)
        {
            var found = Find(version);
            if (found != null) return found;
            var (code, output) = Restore(repoRoot);
            found = Find(version);
            if (found != null) return found;
            throw new PicoGptException($"the .NET Interactive kernel ({PackageId} {version}) is not installed and `dotnet tool restore` in {repoRoot} " +
                                       $"did not install it (exit {code}): {LastLines(output, 3)}");
        }
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

    /// <summary>The NuGet global packages folder this user's dotnet restores into.</summary>
    public static string PackagesFolder =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    static string? Find(string version)
    {
        var tools = Path.Combine(PackagesFolder, PackageId, version.ToLowerInvariant(), "tools");
        if (!Directory.Exists(tools)) return null;
        return Directory.GetDirectories(tools).OrderByDescending(d => d, StringComparer.Ordinal)
            .Select(d => Path.Combine(d, "any", EntryAssembly)).FirstOrDefault(File.Exists);
    }

    static (int Code, string Output) Restore(string repoRoot)
    {
        var psi = new ProcessStartInfo("dotnet", "tool restore")
        {
            WorkingDirectory = repoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi) ?? throw new PicoGptException("could not start `dotnet tool restore`");
        var err = p.StandardError.ReadToEndAsync();
        var outText = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, outText + err.Result);
    }

    static string LastLines(string text, int n) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(n));
}
