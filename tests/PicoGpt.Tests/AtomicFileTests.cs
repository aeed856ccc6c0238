using PicoGpt.IO;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests;

/// <summary>The one atomic write (<see cref="AtomicFile"/>): whole files under concurrency, the old file kept on failure, no temp left.</summary>
public class AtomicFileTests
{
    /// <summary>A 1 MB payload of one repeated byte, so a file mixed from two writers shows.</summary>
    static byte[] Payload(int writer) => Enumerable.Repeat((byte)('a' + writer), 1 << 20).ToArray();

    [Fact]
    public void Concurrent_writers_to_one_file_never_collide_and_the_file_is_one_of_them_whole()
    {
        using var dir = TestPaths.Temp();
        var target = Path.Combine(dir.Path, "vocab.json");
        var errors = new List<Exception>();
        for (int round = 0; round < 5; round++)
        {
            Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, w =>
            {
                try { AtomicFile.WriteAllBytes(target, Payload(w)); }
                catch (Exception e) { lock (errors) errors.Add(e); }
            });
            Assert.Empty(errors);
            var bytes = File.ReadAllBytes(target);
            Assert.Equal(1 << 20, bytes.Length);
            Assert.All(bytes, b => Assert.Equal(bytes[0], b));
            Assert.Equal([target], Directory.GetFiles(dir.Path));              // no temp file left behind
        }
    }

    [Fact]
    public void Tokenizer_files_written_from_several_threads_at_once_do_not_collide()
    {
        // TokenText.WriteFile once used "<path>.tmp-<process id>": two threads shared the temp file
        using var dir = TestPaths.Temp();
        var errors = new List<Exception>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, w =>
        {
            try { for (int i = 0; i < 5; i++) TokenText.WriteFile(dir.Path, "vocab.json", Payload(w)); }
            catch (Exception e) { lock (errors) errors.Add(e); }
        });
        Assert.Empty(errors);
        var bytes = File.ReadAllBytes(Path.Combine(dir.Path, "vocab.json"));
        Assert.All(bytes, b => Assert.Equal(bytes[0], b));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void A_failure_mid_write_leaves_the_old_file_and_no_temp_file()
    {
        using var dir = TestPaths.Temp();
        var target = Path.Combine(dir.Path, "model.safetensors");
        AtomicFile.WriteAllText(target, "old");
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(target, fs =>
        {
            fs.Write(new byte[100_000]);
            throw new IOException("disk full");
        }));
        Assert.Equal("disk full", e.Message);
        Assert.Equal("old", File.ReadAllText(target));
        Assert.Equal([target], Directory.GetFiles(dir.Path));
        AtomicFile.Write(Path.Combine(dir.Path, "sub", "new.txt"), fs => fs.WriteByte((byte)'x'));   // the folder is made
        Assert.Equal("x", File.ReadAllText(Path.Combine(dir.Path, "sub", "new.txt")));
    }

    [Fact]
    public void A_folder_is_replaced_whole_and_the_old_one_kept_as_previous()
    {
        using var dir = TestPaths.Temp();
        var target = Path.Combine(dir.Path, "checkpoint");
        var previous = Path.Combine(dir.Path, "checkpoint.prev");
        AtomicFile.ReplaceFolder(target, d => File.WriteAllText(Path.Combine(d, "state.json"), "1"), previous);
        AtomicFile.ReplaceFolder(target, d => File.WriteAllText(Path.Combine(d, "state.json"), "2"), previous);
        Assert.Equal("2", File.ReadAllText(Path.Combine(target, "state.json")));
        Assert.Equal("1", File.ReadAllText(Path.Combine(previous, "state.json")));
        Assert.Throws<InvalidOperationException>(() => AtomicFile.ReplaceFolder(target, d =>
        {
            File.WriteAllText(Path.Combine(d, "state.json"), "3");
            throw new InvalidOperationException("crash while saving");
        }, previous));
        Assert.Equal("2", File.ReadAllText(Path.Combine(target, "state.json")));   // untouched
        Assert.Equal("1", File.ReadAllText(Path.Combine(previous, "state.json")));
        Assert.Equal([target, previous], Directory.GetDirectories(dir.Path).Order(StringComparer.Ordinal));   // no temp folder
    }
}
