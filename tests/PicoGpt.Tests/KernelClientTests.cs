using System.Text;
using System.Diagnostics;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>
/// <see cref="KernelClient"/> against fake kernels: small /bin/sh scripts that speak the stdio JSON-lines protocol
/// (KernelReady, then one answer per SubmitCode) and misbehave the way real cells and kernels do.
/// </summary>
public class KernelClientTests
{
    const string Ready = """printf '%s\n' '{"eventType":"KernelReady","event":{},"command":null}'""";

    /// <summary>The token of the command just read into $line.</summary>
    const string ReadToken = """tok=$(printf '%s' "$line" | sed 's/^{"token":"\([^"]*\)".*/\1/')""";

    static string Done(string type = "CommandSucceeded") =>
        $$$"""printf '{"eventType":"{{{type}}}","event":{},"command":{"token":"%s","commandType":"SubmitCode"}}\n' "$tok" """ + "\n";

    static KernelClient Fake(TempDir dir, string script, TimeSpan? startTimeout = null)
    {
        var file = Path.Combine(dir.Path, "kernel.sh");
        File.WriteAllText(file, "#!/bin/sh\n" + script + "\n");
        return KernelClient.Start(() =>
        {
            var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = dir.Path };
            psi.ArgumentList.Add(file);
            return psi;
        }, startTimeout ?? TimeSpan.FromSeconds(30));
    }

    static string Stdout(SubmissionResult r) => string.Concat(r.Events.Where(e => e.Type == "StandardOutputValueProduced")
        .Select(e => (string?)e.Body["formattedValues"]![0]!["value"]));

    [LinuxFact]
    public void An_event_after_native_text_on_the_same_line_is_still_read()
    {
        using var dir = TestPaths.Temp();
        // native code printed "tensor ok" without a newline, then the kernel wrote the cell's end on the same line
        using var kernel = Fake(dir, Ready + "\nwhile read -r line; do\n" + ReadToken + "\nprintf 'tensor ok'\n" + Done() + "done");
        var watch = Stopwatch.StartNew();
        var result = kernel.Submit("1", TimeSpan.FromSeconds(30));
        Assert.Equal(SubmissionEnd.Succeeded, result.End);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}: the end of the cell was lost");
        Assert.Equal("tensor ok", Stdout(result));
        Assert.Equal(SubmissionEnd.Succeeded, kernel.Submit("2", TimeSpan.FromSeconds(30)).End);   // and the kernel goes on
    }

    [Fact]
    public void Mixed_lines_split_into_text_and_event()
    {
        var e = KernelClient.ParseEvent("""abc {"x"} {"eventType":"CommandFailed","event":{"message":"m"},"command":{"token":"t"}}""", out var prefix);
        Assert.Equal("CommandFailed", e!.Type);
        Assert.Equal("t", e.Token);
        Assert.Equal("m", (string?)e.Body["message"]);
        Assert.Equal("""abc {"x"} """, prefix);
        Assert.Null(KernelClient.ParseEvent("""{"eventType": 3}""", out _));                 // not an event
        Assert.Null(KernelClient.ParseEvent("""printed {"a":1}""", out _));
        Assert.Equal("KernelReady", KernelClient.ParseEvent("""{"eventType":"KernelReady","event":{}}""", out prefix)!.Type);
        Assert.Null(prefix);
    }

    [Fact]
    public void The_end_of_a_cell_is_found_in_a_line_that_other_output_was_written_into()
    {
        // native text written after or into the kernel's CommandSucceeded/CommandFailed line: no event parses
        const string trailing = """{"event":{},"eventType":"CommandSucceeded","command":{"token":"picogpt-3"}}[W native] tail""";
        Assert.Null(KernelClient.ParseEvent(trailing, out _));
        Assert.Equal(SubmissionEnd.Succeeded, KernelClient.GarbledEnd(trailing, "picogpt-3"));
        const string middle = """{"event":{"message":"x"},"eventType":"CommandFailed",native!"command":{"token":"picogpt-3"}}""";
        Assert.Equal(SubmissionEnd.Failed, KernelClient.GarbledEnd(middle, "picogpt-3"));
        Assert.Null(KernelClient.GarbledEnd(trailing.Replace("picogpt-3", "picogpt-3.1"), "picogpt-3"));   // a child command's end
        Assert.Null(KernelClient.GarbledEnd(trailing, "picogpt-4"));                         // another cell's end
        Assert.Null(KernelClient.GarbledEnd("""printed "eventType":"CommandSucceeded" by the learner""", "picogpt-3"));
    }

    [LinuxFact]
    public void A_cell_that_prints_forever_times_out_and_its_output_is_capped()
    {
        using var dir = TestPaths.Temp();
        using var kernel = Fake(dir, Ready + "\nread -r line\nwhile true; do echo 'spam spam spam spam spam spam spam spam'; done");
        var watch = Stopwatch.StartNew();
        var result = kernel.Submit("forever", TimeSpan.FromSeconds(3), outputLimit: 10_000);
        Assert.Equal(SubmissionEnd.TimedOut, result.End);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        var text = Stdout(result);
        Assert.InRange(text.Length, 9_900, 10_200);
        Assert.EndsWith("[output truncated after 10000 characters: the rest of this cell's output was dropped]\n", text);
    }

    [LinuxFact]
    public void Output_under_the_cap_is_kept_whole_and_the_cap_is_said_in_megabytes()
    {
        using var dir = TestPaths.Temp();
        using var kernel = Fake(dir, Ready + "\nwhile read -r line; do\n" + ReadToken + "\necho one\necho two\n" + Done() + "done");
        var result = kernel.Submit("x", TimeSpan.FromSeconds(30), outputLimit: 2 << 20);
        Assert.Equal("one\ntwo\n", Stdout(result));
        var capped = kernel.Submit("x", TimeSpan.FromSeconds(30), outputLimit: 4);
        Assert.Equal(SubmissionEnd.Succeeded, capped.End);                // the cell still ends normally
        Assert.Equal("one\n\n[output truncated after 4 characters: the rest of this cell's output was dropped]\n", Stdout(capped));
    }

    [LinuxFact]
    public void A_kernel_that_dies_at_start_up_is_started_once_more_and_says_so()
    {
        using var dir = TestPaths.Temp();
        var marker = Path.Combine(dir.Path, "started-once");
        using var kernel = Fake(dir, $"if [ ! -f '{marker}' ]; then touch '{marker}'; echo 'Unhandled exception. boom' >&2; exit 134; fi\n" +
                                     Ready + "\nwhile read -r line; do\n" + ReadToken + "\n" + Done() + "done");
        Assert.Equal(SubmissionEnd.Succeeded, kernel.Submit("1", TimeSpan.FromSeconds(30)).End);
        Assert.Contains("the kernel died at start-up (it exited with code 134: Unhandled exception. boom)", kernel.StartNote);
        Assert.Contains("started again", kernel.StartNote);
    }

    [LinuxFact]
    public void A_kernel_that_dies_at_every_start_is_an_error_naming_both_deaths()
    {
        using var dir = TestPaths.Temp();
        var e = Assert.Throws<PicoGptException>(() => Fake(dir, "echo 'no runtime' >&2; exit 3"));
        Assert.Contains("the .NET Interactive kernel did not start (it exited with code 3: no runtime)", e.Message);
        Assert.Contains("it had died at start-up once before", e.Message);
    }

    [LinuxFact]
    public void A_first_start_that_works_has_no_note_and_a_dead_kernel_is_reported()
    {
        using var dir = TestPaths.Temp();
        using var kernel = Fake(dir, Ready + "\nread -r line\necho 'Fatal error.' >&2\nexit 134");
        Assert.Null(kernel.StartNote);
        var result = kernel.Submit("1", TimeSpan.FromSeconds(30));
        Assert.Equal(SubmissionEnd.KernelDied, result.End);
        Assert.Equal(134, kernel.ExitCode);
        Assert.Contains("Fatal error.", kernel.StandardError);
    }

    [Fact]
    public void Long_lines_are_cut_and_line_ends_kept_apart()
    {
        var lines = KernelClient.ReadLines(new MemoryStream(Encoding.UTF8.GetBytes("ab\r\ncdefg\n\nxyz")), 3).ToList();
        Assert.Equal(["ab", "cde", "fg", "", "xyz"], lines);
    }

    [Fact]
    public void A_character_split_across_reads_is_decoded_whole()
    {
        var text = "q kᵀ · √d_k\n" + new string('é', 5000) + "\n";                    // 2- and 3-byte characters, over 8 kB
        var lines = KernelClient.ReadLines(new TrickleStream(Encoding.UTF8.GetBytes(text), 7), 1 << 20).ToList();
        Assert.Equal(["q kᵀ · √d_k", new string('é', 5000)], lines);
    }

    /// <summary>
    /// The kernel's stdout is a pipe that stays open between cells. A line must come out as soon as its newline is in the
    /// pipe, whatever its length. With StreamReader.Read(char[]) a line of exactly 4096 bytes (one full read of its byte
    /// buffer) was held back until more bytes arrived: a chart cell's output followed by the cell's end then waited out
    /// the cell timeout (about 1 in 3 runs of a notebook's first chart cell).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(8192)]
    [InlineData(3 * 4096)]
    [InlineData(573_802)]
    public void A_line_comes_out_while_the_pipe_stays_open(int bytes)
    {
        var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out);
        using var client = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.In, server.ClientSafePipeHandle);
        var got = new System.Collections.Concurrent.BlockingCollection<string>();
        var reader = new Thread(() => { try { foreach (var l in KernelClient.ReadLines(client, 1 << 20)) got.Add(l); } catch (IOException) { } })
            { IsBackground = true };
        reader.Start();
        var line = new string('x', bytes - 1) + "\n";
        server.Write(Encoding.UTF8.GetBytes(line));
        server.Flush();                                                    // and the writer stays open, as the kernel does
        bool arrived = got.TryTake(out var first, TimeSpan.FromSeconds(10));
        server.Dispose();                                                  // the writer's end closes: the reader sees the end
        Assert.True(arrived, $"a {bytes}-byte line was not read within 10 s while the pipe stayed open");
        Assert.Equal(bytes - 1, first!.Length);
        Assert.True(reader.Join(TimeSpan.FromSeconds(10)), "the reader did not end when the pipe closed");
    }

    /// <summary>A stream that returns at most <c>chunk</c> bytes a read.</summary>
    sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));
    }

    [LinuxFact]
    public void A_tool_restore_that_hangs_is_stopped_with_a_clear_error()
    {
        using var dir = TestPaths.Temp();
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<PicoGptException>(() => KernelTool.Restore(dir.Path, "1.0.712001", TimeSpan.FromSeconds(1), "sleep", "60"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
        Assert.Contains("`sleep 60`", e.Message);
        Assert.Contains("did not finish in 1 s", e.Message);
        Assert.Contains("microsoft.dotnet-interactive 1.0.712001", e.Message);
        var failed = Assert.Throws<PicoGptException>(() => KernelTool.Restore(dir.Path, "1.0.712001", TimeSpan.FromSeconds(30), "sh", "-c", "echo nope; exit 2"));
        Assert.Contains("failed (exit 2)", failed.Message);
        Assert.Contains("nope", failed.Message);
    }
}
