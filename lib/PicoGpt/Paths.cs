namespace PicoGpt;

/// <summary>Where the project's folders are: the repository root (found by walking up to global.json + weights/), weights/ and data/.</summary>
public static class Paths
{
    /// <summary>The folder holding weights: $PICOGPT_WEIGHTS, else the repository's weights/, else ./weights.</summary>
    public static string WeightsDir
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("PICOGPT_WEIGHTS");
            if (!string.IsNullOrEmpty(env)) return env;
            var root = RepoRoot;
            return root != null ? Path.Combine(root, "weights") : Path.Combine(Environment.CurrentDirectory, "weights");
        }
    }

    /// <summary>The folder for downloaded data sets (git-ignored): the repository's data/, else ./data.</summary>
    public static string DataDir
    {
        get
        {
            var root = RepoRoot;
            return root != null ? Path.Combine(root, "data") : Path.Combine(Environment.CurrentDirectory, "data");
        }
    }

    /// <summary>
    /// tinyshakespeare (1.1 MB, public domain), committed as data/tinyshakespeare.txt (see data/README.md): the corpus of
    /// notebook 10, picogpt train/eval and the tests. A missing file is a <see cref="PicoGptException"/> naming the path.
    /// </summary>
    public static string TinyShakespeare
    {
        get
        {
            var path = Path.Combine(DataDir, "tinyshakespeare.txt");
            return File.Exists(path) ? path
                : throw new PicoGptException($"{path}: not found (it is part of the repository; restore it with `git checkout -- data/` or `picogpt download tinyshakespeare`)");
        }
    }

    /// <summary>The repository root, searched upwards from the working directory and then from the program's folder.</summary>
    public static string? RepoRoot =>
        FindUp(Environment.CurrentDirectory) ?? FindUp(AppContext.BaseDirectory);

    static string? FindUp(string start)
    {
        for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "global.json")) && Directory.Exists(Path.Combine(d.FullName, "weights")))
                return d.FullName;
        return null;
    }
}
