using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PicoGpt.Notebooks;

/// <summary>One event of the kernel's protocol: its type (DisplayedValueProduced, CommandFailed, ...), body and command token.</summary>
public sealed record KernelEvent(string Type, JsonObject Body, string? Token)
{
    /// <summary>The length of the event's JSON line (what it adds to a cell's output).</summary>
    public long Size { get; init; }
}

/// <summary>How a submission ended.</summary>
public enum SubmissionEnd { Succeeded, Failed, KernelDied, TimedOut }

/// <summary>A submission's events (in order) and how it ended; for a failure, the kernel's message.</summary>
public sealed record SubmissionResult(SubmissionEnd End, IReadOnlyList<KernelEvent> Events, string? FailureMessage);

/// <summary>
/// A .NET Interactive kernel in its own process, spoken to over its stdio JSON protocol: the pinned tool's
/// <c>dotnet-interactive stdio</c> (<see cref="KernelTool"/>), the process VS Code Polyglot Notebooks starts. Each line written is a
/// command envelope (<c>{"token", "commandType": "SubmitCode", "command": {"code", "targetKernelName"}}</c>); each line
/// read is an event envelope (<c>{"eventType", "event", "command": {"token", ...}}</c>). A native crash in the kernel (such
/// as TorchSharp 0.107's matmul abort) ends only that process: <see cref="Submit"/> then reports
/// <see cref="SubmissionEnd.KernelDied"/>, with the kernel's exit code and the end of its stderr.
/// </summary>
public sealed class KernelClient : IDisposable
{
    readonly Process _process;
    readonly BlockingCollection<string?> _lines = new();          // stdout lines; null marks the end of the stream
    readonly StringBuilder _stderr = new();
    readonly object _stderrLock = new();
    int _next;
    bool _dead;

    // A kernel whose stdin closes keeps running (and spins): stop every kernel this process started when it exits.
    static readonly HashSet<KernelClient> Live = new();
    static KernelClient() => AppDomain.CurrentDomain.ProcessExit += (_, _) => { lock (Live) foreach (var k in Live.ToList()) k.Kill(); };

    KernelClient(Process process)
    {
        _process = process;
        lock (Live) Live.Add(this);
        var reader = new Thread(() =>
        {
            try { foreach (var line in ReadLines(process.StandardOutput.BaseStream, MaxLineChars)) _lines.Add(line); }
            catch (Exception) { }
            _lines.Add(null);
        }) { IsBackground = true, Name = "kernel stdout" };
        reader.Start();
        var errors = new Thread(() =>
        {
            try
            {
                var buffer = new char[4096];
                for (int n; (n = process.StandardError.Read(buffer, 0, buffer.Length)) > 0;)
                    lock (_stderrLock)
                    {
                        _stderr.Append(buffer, 0, n);
                        if (_stderr.Length > 64_000) _stderr.Remove(0, _stderr.Length - 32_000);
                    }
            }
            catch (Exception) { }
        }) { IsBackground = true, Name = "kernel stderr" };
        errors.Start();
    }

    /// <summary>
    /// Starts a kernel whose working directory (for relative #r paths and files) is <paramref name="workingDirectory"/>,
    /// with extra environment variables, and waits for it to say it is ready. A kernel that dies before it is ready is
    /// started once more (<see cref="StartNote"/> then says so): on a busy machine the kernel has been seen to die at
    /// start-up, before any of our code runs, and a second start worked.
    /// </summary>
    public static KernelClient Start(string workingDirectory, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? startTimeout = null)
    {
        var (fileName, toolArguments, toolDirectory) = KernelTool.StartInfo();
        return Start(() =>
        {
            var psi = new ProcessStartInfo(fileName) { WorkingDirectory = toolDirectory };  // where the tool manifest is; the kernel then moves to --working-dir
            foreach (var a in toolArguments.Concat(["stdio", "--default-kernel", "csharp", "--working-dir", workingDirectory])) psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_NOLOGO"] = "1";
            if (environment != null) foreach (var (k, v) in environment) psi.Environment[k] = v;
            return psi;
        }, startTimeout ?? TimeSpan.FromMinutes(2));
    }

    /// <summary>
    /// Starts the process <paramref name="startInfo"/> describes as a kernel (any program that speaks the protocol on
    /// stdio) and waits for its KernelReady; one that exits first is started once more.
    /// </summary>
    internal static KernelClient Start(Func<ProcessStartInfo> startInfo, TimeSpan startTimeout)
    {
        string? firstDeath = null;
        for (int attempt = 1; ; attempt++)
        {
            var psi = startInfo();
            psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
            psi.UseShellExecute = false;
            psi.StandardOutputEncoding = psi.StandardErrorEncoding = new UTF8Encoding(false);
            var process = Process.Start(psi) ?? throw new PicoGptException($"could not start the .NET Interactive kernel ({psi.FileName} {string.Join(' ', psi.ArgumentList)})");
            process.StandardInput.AutoFlush = true;
            var client = new KernelClient(process);
            var deadline = DateTime.UtcNow + startTimeout;
            while (true)
            {
                var e = client.Next(deadline, out var raw);
                if (e?.Type == "KernelReady")
                {
                    if (firstDeath != null)
                        client.StartNote = $"the kernel died at start-up ({firstDeath}) before any cell ran; it was started again and this second start worked";
                    return client;
                }
                if (e == null && raw == null) break;
            }
            bool died = client.HasExited;
            var why = died ? $"it exited with code {client.ExitCode}: {LastLines(client.StandardError, 4)}" : $"it did not become ready in {startTimeout.TotalSeconds:0} s";
            client.Dispose();
            if (died && attempt == 1) { firstDeath = why; continue; }
            throw new PicoGptException($"the .NET Interactive kernel did not start ({why})" +
                                       (firstDeath != null ? $"; it had died at start-up once before ({firstDeath})" : ""));
        }
    }

    /// <summary>Set when the kernel had to be started twice: what happened to the first start. Null after a first start that worked.</summary>
    public string? StartNote { get; private set; }

    /// <summary>The longest stdout line kept whole (a longer one is cut into pieces of this size): bounds the memory a
    /// cell that prints without newlines can take. Events (one JSON line each) are far smaller.</summary>
    internal const int MaxLineChars = 64 << 20;

    /// <summary>The default cap on the output one cell may produce (<see cref="Submit"/>).</summary>
    public const long DefaultOutputLimit = 4 << 20;

    /// <summary>
    /// Runs C# code in the kernel and collects its events until it succeeds, fails, dies or times out. The timeout is
    /// wall-clock time, however much the cell prints. Output beyond <paramref name="outputLimit"/> characters (default
    /// <see cref="DefaultOutputLimit"/>; Jupyter and VS Code cap a cell's output too) is dropped and one line says so;
    /// the cell itself runs on to its end.
    /// </summary>
    public SubmissionResult Submit(string code, TimeSpan timeout, Action<KernelEvent>? onEvent = null, long? outputLimit = null)
    {
        if (_dead) return new SubmissionResult(SubmissionEnd.KernelDied, [], null);
        var limit = outputLimit ?? DefaultOutputLimit;
        var token = "picogpt-" + Interlocked.Increment(ref _next);
        var envelope = new JsonObject
        {
            ["token"] = token,
            ["commandType"] = "SubmitCode",
            ["command"] = new JsonObject { ["code"] = code, ["targetKernelName"] = "csharp" },
        };
        var events = new List<KernelEvent>();
        long output = 0;
        bool truncated = false;
        void Emit(KernelEvent e, long size)
        {
            if (e.Type == "DisplayedValueUpdated")                          // replaces an output: never truncated, kept only under the cap
            {
                if (!truncated) events.Add(e);
                onEvent?.Invoke(e);
                return;
            }
            if (truncated) return;
            output += size;
            if (output > limit)
            {
                truncated = true;
                e = StandardOutput($"\n[output truncated after {FormatSize(limit)}: the rest of this cell's output was dropped]\n", token);
            }
            events.Add(e);
            onEvent?.Invoke(e);
        }
        try { _process.StandardInput.WriteLine(envelope.ToJsonString()); }
        catch (IOException) { _dead = true; return new SubmissionResult(SubmissionEnd.KernelDied, events, null); }
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var e = Next(deadline, out var raw, out var prefix);
            if (prefix is { Length: > 0 }) Emit(StandardOutput(prefix, token), prefix.Length);   // native text before an event on the same line
            if (e == null)
            {
                if (raw != null && GarbledEnd(raw, token) is { } end)      // the end of the cell, with other text written into its line
                    return new SubmissionResult(end, events, end == SubmissionEnd.Failed ? "the kernel's failure message arrived garbled (other output was written into its line)" : null);
                if (raw != null)                                            // text on stdout that is not an event: the cell's own output
                {
                    Emit(StandardOutput(raw + "\n", token), raw.Length + 1);
                    continue;
                }
                if (_lines.IsCompleted || HasExited) { _dead = true; return new SubmissionResult(SubmissionEnd.KernelDied, events, null); }
                return new SubmissionResult(SubmissionEnd.TimedOut, events, null);
            }
            if (e.Token == null || !(e.Token == token || e.Token.StartsWith(token + ".", StringComparison.Ordinal))) continue;
            if (e.Token == token && e.Type is "CommandSucceeded") return new SubmissionResult(SubmissionEnd.Succeeded, events, null);
            if (e.Token == token && e.Type is "CommandFailed")
                return new SubmissionResult(SubmissionEnd.Failed, events, (string?)e.Body["message"]);
            Emit(e, e.Size);
        }
    }

    static KernelEvent StandardOutput(string text, string token) => new("StandardOutputValueProduced", new JsonObject
    {
        ["formattedValues"] = new JsonArray(new JsonObject { ["mimeType"] = "text/plain", ["value"] = text }),
    }, token);

    static string FormatSize(long chars) =>
        chars >= 1 << 20 && chars % (1 << 20) == 0 ? $"{chars >> 20} MB" : chars >= 1 << 10 && chars % (1 << 10) == 0 ? $"{chars >> 10} kB" : $"{chars} characters";

    /// <summary>
    /// The next event before the deadline; null with raw = null at the end of the stream or the deadline (which holds
    /// even while lines keep coming). A line that is not an event comes back as raw. A line where native code's output
    /// (written without a newline) runs into an event gives the event, and that text as <paramref name="prefix"/>.
    /// </summary>
    KernelEvent? Next(DateTime deadline, out string? raw, out string? prefix)
    {
        raw = null;
        prefix = null;
        var left = deadline - DateTime.UtcNow;
        if (left <= TimeSpan.Zero) return null;                             // past the deadline, whatever is waiting
        if (!_lines.TryTake(out var line, left)) return null;               // timed out
        if (line == null) { _lines.CompleteAdding(); WaitForExit(); return null; }
        if (ParseEvent(line, out prefix) is { } e) return e;
        raw = line;
        return null;
    }

    KernelEvent? Next(DateTime deadline, out string? raw) => Next(deadline, out raw, out _);

    /// <summary>
    /// The event on a stdout line, or null when there is none. The event may follow other text on the line (native
    /// code that printed without a newline): that text comes back as <paramref name="prefix"/>.
    /// </summary>
    internal static KernelEvent? ParseEvent(string line, out string? prefix)
    {
        prefix = null;
        if (Event(line) is { } whole) return whole;
        if (!line.EndsWith('}')) return null;
        int tries = 0;
        for (int at = line.IndexOf("{\"", 1, StringComparison.Ordinal); at > 0 && tries < 64; at = line.IndexOf("{\"", at + 1, StringComparison.Ordinal), tries++)
            if (Event(line[at..]) is { } e)
            {
                prefix = line[..at];
                return e;
            }
        return null;

        static KernelEvent? Event(string text)
        {
            if (!text.StartsWith('{')) return null;
            JsonObject? o;
            try { o = JsonNode.Parse(text) as JsonObject; }
            catch (JsonException) { return null; }
            if (o?["eventType"] is not JsonValue type || type.GetValueKind() != JsonValueKind.String) return null;
            return new KernelEvent((string)type!, o["event"] as JsonObject ?? new JsonObject(), (string?)o["command"]?["token"]) { Size = text.Length };
        }
    }

    static readonly System.Text.RegularExpressions.Regex EndEvent = new(
        @"""eventType""\s*:\s*""(CommandSucceeded|CommandFailed)""", System.Text.RegularExpressions.RegexOptions.Compiled);

    /// <summary>
    /// A stdout line that is no event as a whole but carries the end of this cell: the kernel's CommandSucceeded or
    /// CommandFailed for <paramref name="token"/>, with native output written into the middle or the end of its line (a
    /// thread of libtorch printing while the kernel writes). Without this the cell would wait out its timeout.
    /// </summary>
    internal static SubmissionEnd? GarbledEnd(string line, string token)
    {
        var m = EndEvent.Match(line);
        // "token":"picogpt-3" with its closing quote: a child command's token (picogpt-3.1) does not end the cell
        if (!m.Success || !line.Contains($"\"token\":\"{token}\"", StringComparison.Ordinal)) return null;
        return m.Groups[1].Value == "CommandSucceeded" ? SubmissionEnd.Succeeded : SubmissionEnd.Failed;
    }

    /// <summary>
    /// Lines of a stream (UTF-8), a line longer than <paramref name="max"/> characters cut into pieces of that size. Each
    /// line is yielded as soon as its newline has arrived. The bytes are read from the stream directly, because a pipe's
    /// <c>Stream.Read</c> returns what is there, while <c>StreamReader.Read(char[], ...)</c> goes on waiting to fill its
    /// buffer whenever a read of the pipe happened to fill its byte buffer exactly: the kernel's last line (a chart's
    /// output, then the cell's end) then sat unread until the kernel wrote again, which it never did, and the cell waited
    /// out its timeout.
    /// </summary>
    internal static IEnumerable<string> ReadLines(Stream stream, int max)
    {
        var decoder = new UTF8Encoding(false).GetDecoder();
        var bytes = new byte[8192];
        var chars = new char[bytes.Length + 2];                              // UTF-8: at most one char per byte, plus a pending one
        var line = new StringBuilder();
        var ready = new List<string>();
        void Take(int count)
        {
            for (int i = 0; i < count; i++)
            {
                char c = chars[i];
                if (c == '\n')
                {
                    if (line.Length > 0 && line[^1] == '\r') line.Length--;
                    ready.Add(line.ToString());
                    line.Clear();
                }
                else
                {
                    if (line.Length >= max) { ready.Add(line.ToString()); line.Clear(); }
                    line.Append(c);
                }
            }
        }
        for (int n; (n = stream.Read(bytes, 0, bytes.Length)) > 0;)
        {
            Take(decoder.GetChars(bytes, 0, n, chars, 0, flush: false));
            foreach (var l in ready) yield return l;
            ready.Clear();
        }
        Take(decoder.GetChars(bytes, 0, 0, chars, 0, flush: true));
        foreach (var l in ready) yield return l;
        if (line.Length > 0) yield return line.ToString();
    }

    void WaitForExit()
    {
        try { _process.WaitForExit(5000); } catch (Exception) { }
        _dead = true;
    }

    public bool HasExited { get { try { return _process.HasExited; } catch (Exception) { return true; } } }

    /// <summary>The exit code once the process has ended (negative: killed by that signal), else null.</summary>
    public int? ExitCode => HasExited ? _process.ExitCode : null;

    /// <summary>The end of what the kernel wrote to stderr (native crash messages land here).</summary>
    public string StandardError { get { Thread.Sleep(50); lock (_stderrLock) return _stderr.ToString(); } }

    /// <summary>Stops the kernel (and anything it started).</summary>
    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (Exception) { }
        try { _process.WaitForExit(5000); } catch (Exception) { }
        _dead = true;
    }

    /// <summary>Ends the kernel: a notebook's kernel has nothing to save, so it is stopped rather than asked to quit.</summary>
    public void Dispose()
    {
        Kill();
        lock (Live) Live.Remove(this);
        _process.Dispose();
    }

    internal static string LastLines(string text, int n) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(n));
}
