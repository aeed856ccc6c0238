namespace PicoGpt.Tests;

/// <summary>Paths the tests use: the repository root and the copied fixtures (data/tinyshakespeare.txt is <see cref="PicoGpt.Paths.TinyShakespeare"/>).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>tests/PicoGpt.Tests/Fixtures, as copied next to the test assembly.</summary>
    public static string Fixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "global.json"))) return d.FullName;
        throw new InvalidOperationException("repository root (global.json) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A fresh empty temp folder, deleted by the caller's using.</summary>
    public static TempDir Temp() => new();
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "picogpt-test-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    public override string ToString() => Path;
}
