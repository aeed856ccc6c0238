using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PicoGpt.Notebooks;

/// <summary>One event of the kernel's protocol: its type (DisplayedValueProduced, CommandFailed, ...), body and command token.</summary>
public sealed record KernelEvent(string Type, JsonObject Body, string? Token);

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
            try { for (string? line; (line = process.StandardOutput.ReadLine()) != null;) _lines.Add(line); }
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
    /// with extra environment variables, and waits for it to say it is ready.
    /// </summary>
    public static KernelClient Start(string workingDirectory, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? startTimeout = null)
    {
        var (fileName, toolArguments, toolDirectory) = KernelTool.StartInfo();
        var psi = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = toolDirectory,                                  // where the tool manifest is; the kernel then moves to --working-dir
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false), StandardErrorEncoding = new UTF8Encoding(false),
        };
        foreach (var a in toolArguments.Concat(["stdio", "--default-kernel", "csharp", "--working-dir", workingDirectory])) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (environment != null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new PicoGptException($"could not start the .NET Interactive kernel ({fileName} {string.Join(' ', psi.ArgumentList)})");
        process.StandardInput.AutoFlush = true;
        var client = new KernelClient(process);
        var deadline = DateTime.UtcNow + (startTimeout ?? TimeSpan.FromMinutes(2));
        while (true)
        {
            var e = client.Next(deadline, out var raw);
            if (e?.Type == "KernelReady") return client;
            if (e == null && raw == null)
            {
                var why = client.HasExited ? $"it exited with code {client.ExitCode}: {LastLines(client.StandardError, 4)}" : "it did not become ready in time";
                client.Dispose();
                throw new PicoGptException($"the .NET Interactive kernel did not start ({why})");
            }
        }
    }

    /// <summary>Runs C# code in the kernel and collects its events until it succeeds, fails, dies or times out.</summary>
    public SubmissionResult Submit(string code, TimeSpan timeout, Action<KernelEvent>? onEvent = null)
    {
        if (_dead) return new SubmissionResult(SubmissionEnd.KernelDied, [], null);
        var token = "picogpt-" + Interlocked.Increment(ref _next);
        var envelope = new JsonObject
        {
            ["token"] = token,
            ["commandType"] = "SubmitCode",
            ["command"] = new JsonObject { ["code"] = code, ["targetKernelName"] = "csharp" },
        };
        var events = new List<KernelEvent>();
        try { _process.StandardInput.WriteLine(envelope.ToJsonString()); }
        catch (IOException) { _dead = true; return new SubmissionResult(SubmissionEnd.KernelDied, events, null); }
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var e = Next(deadline, out var raw);
            if (e == null)
            {
                if (raw != null)                                            // text on stdout that is not an event: the cell's own output
                {
                    var stray = new KernelEvent("StandardOutputValueProduced", new JsonObject
                    {
                        ["formattedValues"] = new JsonArray(new JsonObject { ["mimeType"] = "text/plain", ["value"] = raw + "\n" }),
                    }, token);
                    events.Add(stray);
                    onEvent?.Invoke(stray);
                    continue;
                }
                if (_lines.IsCompleted || HasExited) { _dead = true; return new SubmissionResult(SubmissionEnd.KernelDied, events, null); }
                return new SubmissionResult(SubmissionEnd.TimedOut, events, null);
            }
            if (e.Token == null || !(e.Token == token || e.Token.StartsWith(token + ".", StringComparison.Ordinal))) continue;
            if (e.Token == token && e.Type is "CommandSucceeded") return new SubmissionResult(SubmissionEnd.Succeeded, events, null);
            if (e.Token == token && e.Type is "CommandFailed")
                return new SubmissionResult(SubmissionEnd.Failed, events, (string?)e.Body["message"]);
            events.Add(e);
            onEvent?.Invoke(e);
        }
    }

    /// <summary>The next event before the deadline; null with raw = null at the end of the stream or the deadline.</summary>
    KernelEvent? Next(DateTime deadline, out string? raw)
    {
        raw = null;
        var left = deadline - DateTime.UtcNow;
        if (left < TimeSpan.Zero) left = TimeSpan.Zero;
        if (!_lines.TryTake(out var line, left)) return null;               // timed out
        if (line == null) { _lines.CompleteAdding(); WaitForExit(); return null; }
        JsonObject? o;
        try { o = JsonNode.Parse(line) as JsonObject; }
        catch (JsonException) { o = null; }
        if (o?["eventType"] is not JsonValue type)
        {
            raw = line;
            return null;
        }
        return new KernelEvent((string)type!, o["event"] as JsonObject ?? new JsonObject(), (string?)o["command"]?["token"]);
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
