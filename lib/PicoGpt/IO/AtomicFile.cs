using System.Text;

namespace PicoGpt.IO;

/// <summary>
/// Files and folders written whole or not at all: the content goes to a temp file (or folder) in the same folder as
/// the target, with a name no other writer uses (a GUID, so two threads or processes writing the same target never
/// share one), is flushed to disk (fsync), then renamed over the target. A reader sees the old file or the new one,
/// never half of one; a failure while writing leaves the old file as it was and removes the temp file. With several
/// writers to one target, the last rename wins, whole.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> writes to the stream.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = TempName(dir, Path.GetFileName(full));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    /// <summary>Writes text as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) => Write(path, fs => fs.Write(new UTF8Encoding(false).GetBytes(text)));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, fs => fs.Write(bytes));

    /// <summary>
    /// Replaces the folder <paramref name="target"/> with one that <paramref name="fill"/> writes (it is given a temp
    /// folder beside the target, and should write its files with <see cref="Write"/> or fsync them itself). The old folder
    /// becomes <paramref name="previous"/> when one is named (an older one there is deleted first), else it is deleted.
    /// A failure in <paramref name="fill"/> leaves the target as it was and removes the temp folder. Two renames, not one:
    /// between them the target is briefly absent, and <paramref name="previous"/> holds the complete old copy.
    /// </summary>
    public static void ReplaceFolder(string target, Action<string> fill, string? previous = null)
    {
        var full = Path.GetFullPath(target);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var tmp = TempName(parent, Path.GetFileName(full));
        Directory.CreateDirectory(tmp);
        try
        {
            fill(tmp);
            if (Directory.Exists(full))
            {
                if (previous != null)
                {
                    var prev = Path.GetFullPath(previous);
                    if (Directory.Exists(prev)) Directory.Delete(prev, true);
                    Directory.Move(full, prev);
                }
                else Directory.Delete(full, true);
            }
            Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) try { Directory.Delete(tmp, true); } catch (IOException) { }
        }
    }

    /// <summary>A hidden name beside <paramref name="name"/> in <paramref name="dir"/>, unique to this call.</summary>
    static string TempName(string dir, string name) => Path.Combine(dir, "." + name + ".tmp-" + Guid.NewGuid().ToString("N"));

    static void TryDelete(string file)
    {
        try { if (File.Exists(file)) File.Delete(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
