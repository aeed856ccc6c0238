using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PicoGpt.Weights;

namespace PicoGpt.Tests;

/// <summary>
/// A tiny HTTP/1.1 server on 127.0.0.1 for the download tests: fixed routes, Range support (which a route can ignore),
/// redirects, dropped connections and stalls on demand. One request per connection. It records every request and
/// stops by itself after 20 s at the latest.
/// </summary>
sealed class LocalHttpServer : IDisposable
{
    public sealed class Route
    {
        public byte[] Body = [];
        public int Status = 200;
        public string? Location;                       // with Status 3xx
        public Dictionary<string, string> Headers = new();
        public bool IgnoreRange;
        public long[] Drops = [];                      // response i (from 0) closes the socket after Drops[i] body bytes
        public TimeSpan Stall;                         // wait after the headers before the body
        public int Hits;
    }

    public sealed record Request(string Method, string Path, string? Range);

    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(20));
    public Dictionary<string, Route> Routes { get; } = new();
    public ConcurrentQueue<Request> Requests { get; } = new();
    public string Url { get; }

    public LocalHttpServer()
    {
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _ = Task.Run(AcceptLoop);
    }

    public IEnumerable<Request> RequestsFor(string path) => Requests.Where(r => r.Path == path);

    async Task AcceptLoop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(() => Serve(client));
            }
        }
        catch (Exception) { } // stopped
        finally { _listener.Stop(); }
    }

    async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var head = new StringBuilder();
            var buf = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n"))
            {
                if (await stream.ReadAsync(buf, timeout.Token) == 0) return;
                head.Append((char)buf[0]);
            }
            var lines = head.ToString().Split("\r\n");
            var parts = lines[0].Split(' ');
            string? range = lines.Skip(1).Where(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))
                .Select(l => l[6..].Trim()).FirstOrDefault();
            Requests.Enqueue(new Request(parts[0], parts[1], range));

            Route? route;
            int hit;
            lock (Routes) { Routes.TryGetValue(parts[1], out route); hit = route == null ? 0 : route.Hits++; }
            var headers = new List<string>();
            int status;
            byte[] body = [];
            long? dropAfter = null;
            if (route == null) { status = 404; body = Encoding.UTF8.GetBytes("not found"); headers.Add("X-Error-Message: Entry not found"); }
            else
            {
                foreach (var (k, v) in route.Headers) headers.Add($"{k}: {v}");
                if (route.Location != null) { status = route.Status; headers.Add($"Location: {route.Location}"); }
                else if (range != null && !route.IgnoreRange && route.Status == 200)
                {
                    long from = long.Parse(range["bytes=".Length..].TrimEnd('-'));
                    if (from >= route.Body.Length) { status = 416; headers.Add($"Content-Range: bytes */{route.Body.Length}"); }
                    else
                    {
                        status = 206;
                        body = route.Body[(int)from..];
                        headers.Add($"Content-Range: bytes {from}-{route.Body.Length - 1}/{route.Body.Length}");
                    }
                }
                else { status = route.Status; body = route.Body; }
                if (hit < route.Drops.Length) dropAfter = route.Drops[hit];
            }
            var text = $"HTTP/1.1 {status} {(status < 300 ? "OK" : "X")}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n"
                       + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token);
            if (route?.Stall > TimeSpan.Zero) await Task.Delay(route.Stall, _stop.Token);
            int n = (int)Math.Min(body.Length, dropAfter ?? long.MaxValue);
            await stream.WriteAsync(body.AsMemory(0, n), _stop.Token);
            await stream.FlushAsync(_stop.Token);
        }
        catch (Exception) { } // the client went away, or the server stopped
    }

    public void Dispose() => _stop.Cancel();
}

/// <summary>Generated stand-ins for a hub repository's files, served like the hub: small files directly, model.safetensors
/// through a redirect that carries X-Linked-Size and X-Linked-ETag (the sha256).</summary>
static class FakeHub
{
    public static readonly byte[] Config = Encoding.UTF8.GetBytes(
        """{"model_type":"gpt2","vocab_size":3,"n_positions":8,"n_embd":4,"n_layer":1,"n_head":1}""");
    public static readonly byte[] Vocab = Encoding.UTF8.GetBytes("""{"a":0,"b":1,"ab":2}""");
    public static readonly byte[] Merges = Encoding.UTF8.GetBytes("#version: 0.2\na b\n");
    public static readonly byte[] Weights = SafeTensorsBytes(50_000);   // 200 KB of float32

    /// <summary>A valid safetensors file with one F32 tensor of <paramref name="floats"/> deterministic values.</summary>
    public static byte[] SafeTensorsBytes(int floats)
    {
        var header = Encoding.UTF8.GetBytes($$$"""{"w":{"dtype":"F32","shape":[{{{floats}}}],"data_offsets":[0,{{{floats * 4}}}]}}""").ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');
        var data = new byte[floats * 4];
        new Random(42).NextBytes(data);
        return [.. BitConverter.GetBytes((ulong)header.Count), .. header, .. data];
    }

    public static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public const string Repo = "/openai-community/gpt2/resolve/main/";
    public const string Cdn = "/cdn/sha256-blob";

    public static LocalHttpServer Serve(byte[]? weights = null, string? advertisedSha = null)
    {
        var s = new LocalHttpServer();
        weights ??= Weights;
        s.Routes[Repo + "config.json"] = new() { Body = Config };
        s.Routes[Repo + "vocab.json"] = new() { Body = Vocab };
        s.Routes[Repo + "merges.txt"] = new() { Body = Merges };
        s.Routes[Repo + "model.safetensors"] = new()
        {
            Status = 302, Location = Cdn,
            Headers = { ["X-Linked-Size"] = weights.Length.ToString(), ["X-Linked-ETag"] = $"\"{advertisedSha ?? Sha(weights)}\"" },
        };
        s.Routes[Cdn] = new() { Body = weights };
        return s;
    }

    public static DownloadOptions Options(LocalHttpServer s, List<DownloadProgress>? progress = null, List<string>? log = null) => new()
    {
        Endpoint = s.Url, Timeout = TimeSpan.FromSeconds(2), RetryDelay = TimeSpan.FromMilliseconds(10), Retries = 2,
        Progress = progress == null ? null : p => { lock (progress) progress.Add(p); },
        Log = log == null ? null : m => { lock (log) log.Add(m); },
    };

    public static void AssertModelFiles(string dir, byte[]? weights = null)
    {
        Assert.Equal(Config, File.ReadAllBytes(Path.Combine(dir, "config.json")));
        Assert.Equal(Vocab, File.ReadAllBytes(Path.Combine(dir, "vocab.json")));
        Assert.Equal(Merges, File.ReadAllBytes(Path.Combine(dir, "merges.txt")));
        Assert.Equal(weights ?? Weights, File.ReadAllBytes(Path.Combine(dir, "model.safetensors")));
        Assert.Empty(Directory.GetFiles(dir, "*.partial"));
    }
}

public class DownloadTests
{
    static async Task<IReadOnlyList<DownloadedFile>> Download(LocalHttpServer s, string dir, DownloadOptions? o = null)
    {
        using var d = new HubDownloader(o ?? FakeHub.Options(s));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await d.DownloadModelAsync("gpt2", dir, limit.Token);
    }

    [Fact]
    public async Task DownloadsVerifiesAndRecordsAManifest_SecondRunFetchesNothing()
    {
        using var s = FakeHub.Serve();
        using var tmp = TestPaths.Temp();
        var progress = new List<DownloadProgress>();
        var files = await Download(s, tmp.Path, FakeHub.Options(s, progress));

        FakeHub.AssertModelFiles(tmp.Path);
        Assert.Equal(new[] { "config.json", "vocab.json", "merges.txt", "model.safetensors" }, files.Select(f => f.Name));
        Assert.All(files, f => Assert.True(f.Fetched));
        Assert.Equal(FakeHub.Sha(FakeHub.Weights), files[3].Sha256);
        Assert.Equal(FakeHub.Weights.Length, progress.Last(p => p.File == "model.safetensors").Done);
        Assert.Equal(FakeHub.Weights.Length, progress.Last(p => p.File == "model.safetensors").Total);

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, HubDownloader.ManifestFile))).RootElement.GetProperty("files");
        var w = manifest.GetProperty("model.safetensors");
        Assert.Equal(FakeHub.Weights.Length, w.GetProperty("size").GetInt64());
        Assert.Equal(FakeHub.Sha(FakeHub.Weights), w.GetProperty("sha256").GetString());
        Assert.Equal(FakeHub.Sha(FakeHub.Config), manifest.GetProperty("config.json").GetProperty("sha256").GetString());
        Assert.Equal(5, s.Requests.Count);                    // 4 files + the redirect

        var again = await Download(s, tmp.Path);
        Assert.All(again, f => Assert.False(f.Fetched));
        Assert.Equal(5, s.Requests.Count);                    // nothing fetched

        // a file whose size no longer matches the manifest is fetched again (and only that one)
        File.WriteAllText(Path.Combine(tmp.Path, "merges.txt"), "truncated");
        var third = await Download(s, tmp.Path);
        Assert.Equal(new[] { false, false, true, false }, third.Select(f => f.Fetched));
        Assert.Equal(6, s.Requests.Count);
        FakeHub.AssertModelFiles(tmp.Path);
    }

    [Fact]
    public async Task ResumesWithARangeRequestAfterTheConnectionDropsMidFile()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Cdn].Drops = [70_000];
        using var tmp = TestPaths.Temp();
        var log = new List<string>();
        await Download(s, tmp.Path, FakeHub.Options(s, log: log));

        FakeHub.AssertModelFiles(tmp.Path);
        var cdn = s.RequestsFor(FakeHub.Cdn).ToList();
        Assert.Equal(2, cdn.Count);
        Assert.Null(cdn[0].Range);
        Assert.Equal("bytes=70000-", cdn[1].Range);
        Assert.Equal("bytes=70000-", s.RequestsFor(FakeHub.Repo + "model.safetensors").Last().Range); // Range is sent through the redirect
        Assert.Contains(log, m => m.Contains("retrying"));
        Assert.Contains(log, m => m.Contains("resuming at 70.0 KB"));
    }

    [Fact]
    public async Task GivesUpAfterRepeatedFailuresKeepingThePartial_ALaterRunResumes()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Cdn].Drops = [30_000, 0, 0, 0];   // the first response gets 30 KB, the next three nothing
        using var tmp = TestPaths.Temp();
        var e = await Assert.ThrowsAsync<PicoGptException>(() => Download(s, tmp.Path));
        Assert.Contains($"{s.Url}{FakeHub.Repo}model.safetensors", e.Message);
        Assert.Contains("gave up after 3 attempts", e.Message);
        Assert.Contains("run again to resume", e.Message);
        Assert.False(File.Exists(Path.Combine(tmp.Path, "model.safetensors")));
        Assert.Equal(30_000, new FileInfo(Path.Combine(tmp.Path, "model.safetensors.partial")).Length);

        await Download(s, tmp.Path);    // the 5th response is whole
        FakeHub.AssertModelFiles(tmp.Path);
        Assert.Equal("bytes=30000-", s.RequestsFor(FakeHub.Cdn).Last().Range);
    }

    [Fact]
    public async Task AChecksumMismatchIsAnErrorAndLeavesNoFile()
    {
        using var s = FakeHub.Serve(advertisedSha: FakeHub.Sha(FakeHub.Config));
        using var tmp = TestPaths.Temp();
        var e = await Assert.ThrowsAsync<PicoGptException>(() => Download(s, tmp.Path));
        Assert.Contains("sha256 mismatch for model.safetensors", e.Message);
        Assert.Contains(FakeHub.Sha(FakeHub.Config), e.Message);
        Assert.False(File.Exists(Path.Combine(tmp.Path, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(tmp.Path, "model.safetensors.partial")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "config.json")));   // the files before it are fine
    }

    [Fact]
    public async Task AFileThatIsNotSafetensorsIsRejected()
    {
        var junk = Encoding.UTF8.GetBytes("<html>this is not a safetensors file</html>");
        using var s = FakeHub.Serve(weights: junk);
        using var tmp = TestPaths.Temp();
        var e = await Assert.ThrowsAsync<PicoGptException>(() => Download(s, tmp.Path));
        Assert.Contains("downloaded model.safetensors is not valid", e.Message);
        Assert.Empty(Directory.GetFiles(tmp.Path, "model.safetensors*"));
    }

    [Fact]
    public async Task NotFoundNamesTheUrl()
    {
        using var s = FakeHub.Serve();
        s.Routes.Remove(FakeHub.Repo + "vocab.json");
        using var tmp = TestPaths.Temp();
        var e = await Assert.ThrowsAsync<PicoGptException>(() => Download(s, tmp.Path));
        Assert.StartsWith($"{s.Url}{FakeHub.Repo}vocab.json: HTTP 404, no such model/file: Entry not found", e.Message);
        Assert.Single(s.RequestsFor(FakeHub.Repo + "vocab.json"));  // not retried
    }

    [Fact]
    public async Task ForbiddenAndRefusedConnectionsAreClearErrors()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Repo + "config.json"].Status = 403;
        using var tmp = TestPaths.Temp();
        var e = await Assert.ThrowsAsync<PicoGptException>(() => Download(s, tmp.Path));
        Assert.Contains("config.json: HTTP 403", e.Message);
        Assert.Contains("access denied", e.Message);

        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
        using var d = new HubDownloader(new DownloadOptions { Endpoint = $"http://127.0.0.1:{port}", Retries = 1, RetryDelay = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromSeconds(2) });
        var refused = await Assert.ThrowsAsync<PicoGptException>(() => d.DownloadModelAsync("gpt2", tmp.Path));
        Assert.StartsWith($"http://127.0.0.1:{port}/openai-community/gpt2/resolve/main/config.json: ", refused.Message);
        Assert.Contains("gave up after 2 attempts", refused.Message);
    }

    [Fact]
    public async Task AServerThatIgnoresRangeIsReadFromTheStart()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Cdn].IgnoreRange = true;
        using var tmp = TestPaths.Temp();
        File.WriteAllBytes(Path.Combine(tmp.Path, "model.safetensors.partial"), new byte[12_345]);   // junk from an earlier run
        var log = new List<string>();
        await Download(s, tmp.Path, FakeHub.Options(s, log: log));
        FakeHub.AssertModelFiles(tmp.Path);
        Assert.Equal("bytes=12345-", s.RequestsFor(FakeHub.Cdn).Single().Range);
        Assert.Contains(log, m => m.Contains("ignored the range request"));
    }

    [Fact]
    public async Task AStalledServerTimesOut()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Repo + "config.json"].Stall = TimeSpan.FromSeconds(3);
        using var tmp = TestPaths.Temp();
        var o = new DownloadOptions { Endpoint = s.Url, Timeout = TimeSpan.FromMilliseconds(300), Retries = 0 };
        using var d2 = new HubDownloader(o);
        var e = await Assert.ThrowsAsync<PicoGptException>(() => d2.DownloadModelAsync("gpt2", tmp.Path));
        Assert.Contains("config.json: timed out", e.Message);
    }

    [Fact]
    public async Task CancellingKeepsThePartialAndWritesNoFinalFile()
    {
        using var s = FakeHub.Serve();
        s.Routes[FakeHub.Cdn].Stall = TimeSpan.FromSeconds(1);
        using var tmp = TestPaths.Temp();
        File.WriteAllBytes(Path.Combine(tmp.Path, "model.safetensors.partial"), FakeHub.Weights[..1000]);
        using var cts = new CancellationTokenSource();
        using var d = new HubDownloader(new DownloadOptions
        {
            Endpoint = s.Url, Timeout = TimeSpan.FromSeconds(5),
            Progress = p => { if (p.File == "model.safetensors") cts.Cancel(); },
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => d.DownloadModelAsync("gpt2", tmp.Path, cts.Token));
        Assert.False(File.Exists(Path.Combine(tmp.Path, "model.safetensors")));
        Assert.Equal(1000, new FileInfo(Path.Combine(tmp.Path, "model.safetensors.partial")).Length);
    }

    [Fact]
    public async Task TinyShakespeareIsCheckedAgainstItsKnownSha256()
    {
        using var s = new LocalHttpServer();
        var fake = Encoding.UTF8.GetBytes("First Citizen:\nnot quite the real thing\n");
        s.Routes["/input.txt"] = new() { Body = fake };
        using var tmp = TestPaths.Temp();
        using var d = new HubDownloader(new DownloadOptions { DataUrl = s.Url + "/input.txt", Timeout = TimeSpan.FromSeconds(2) });
        var e = await Assert.ThrowsAsync<PicoGptException>(() => d.DownloadTinyShakespeareAsync(tmp.Path));
        Assert.Contains($"{s.Url}/input.txt: the server reports {fake.Length} bytes for tinyshakespeare.txt, expected 1115394", e.Message);
        Assert.Empty(Directory.GetFiles(tmp.Path, "tinyshakespeare*"));

        var real = Paths.TinyShakespeare;   // the committed copy is the original, byte for byte
        s.Routes["/input.txt"].Body = File.ReadAllBytes(real);
        var f = await d.DownloadTinyShakespeareAsync(tmp.Path);
        Assert.True(f.Fetched);
        Assert.Equal(HubDownloader.TinyShakespeareSha256, f.Sha256);
        Assert.Equal(File.ReadAllBytes(real), File.ReadAllBytes(Path.Combine(tmp.Path, "tinyshakespeare.txt")));
        Assert.False((await d.DownloadTinyShakespeareAsync(tmp.Path)).Fetched);
    }

    [Fact]
    public async Task DownloadingOverTheCommittedCopyFetchesNothing()
    {
        // `picogpt download tinyshakespeare` writes to data/, where the committed copy already is: the sha256 matches,
        // so nothing is fetched and the file is left as it is (the server here would fail any request).
        using var s = new LocalHttpServer();
        s.Routes["/input.txt"] = new() { Status = 500 };
        using var tmp = TestPaths.Temp();
        var copy = Path.Combine(tmp.Path, HubDownloader.TinyShakespeareFile);
        File.Copy(Paths.TinyShakespeare, copy);
        var log = new List<string>();
        using var d = new HubDownloader(new DownloadOptions { DataUrl = s.Url + "/input.txt", Timeout = TimeSpan.FromSeconds(2), Retries = 0, Log = log.Add });
        var f = await d.DownloadTinyShakespeareAsync(tmp.Path);
        Assert.False(f.Fetched);
        Assert.Equal(HubDownloader.TinyShakespeareSha256, f.Sha256);
        Assert.Contains(log, l => l.StartsWith("tinyshakespeare.txt: already present, sha256 matches", StringComparison.Ordinal));
        Assert.Empty(s.Requests);
        Assert.Equal(File.ReadAllBytes(Paths.TinyShakespeare), File.ReadAllBytes(copy));
        Assert.Equal(Paths.DataDir, Path.GetDirectoryName(Paths.TinyShakespeare));   // the download's default folder
    }

    [Theory]
    [InlineData("\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF\"", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("W/\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("\"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\"", null)]   // a git blob sha1 (small files): not a sha256
    [InlineData(null, null)]
    public void ETagsGiveASha256OnlyWhenTheyAreOne(string? etag, string? sha) => Assert.Equal(sha, HubDownloader.ParseSha256(etag));
}

/// <summary>The download command through the CLI (console collection: it swaps Console and sets HF_ENDPOINT).</summary>
[Collection("console")]
public class DownloadCliTests
{
    static (int Code, string Out, string Err) WithEnv(string name, string value, Func<(int, string, string)> run)
    {
        var old = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
        try { return run(); }
        finally { Environment.SetEnvironmentVariable(name, old); }
    }

    [Fact]
    public void DownloadHonoursHfEndpointAndPrintsTheFolder()
    {
        using var s = FakeHub.Serve();
        using var tmp = TestPaths.Temp();
        var dir = Path.Combine(tmp.Path, "gpt2");
        var (code, stdout, err) = WithEnv("HF_ENDPOINT", s.Url, () => CliTests.Cli("download", "gpt2", "--to", dir));
        Assert.True(code == 0, err);
        Assert.Equal(Path.GetFullPath(dir), stdout.Trim());
        FakeHub.AssertModelFiles(dir);
        Assert.Single(s.RequestsFor(FakeHub.Repo + "config.json"));
        if (Console.IsErrorRedirected) Assert.Contains("model.safetensors: 200.1 KB done", err);   // plain progress lines (as under dotnet test)

        (code, _, err) = WithEnv("HF_ENDPOINT", s.Url + "/", () => CliTests.Cli("download", "gpt2", "--to", dir));
        Assert.Equal(0, code);
        Assert.Contains("model.safetensors: already downloaded", err);
        Assert.Equal(5, s.Requests.Count);
    }

    [Fact]
    public void DownloadErrorsAreOneLine()
    {
        using var s = new LocalHttpServer();
        using var tmp = TestPaths.Temp();
        var (code, stdout, err) = WithEnv("HF_ENDPOINT", s.Url, () => CliTests.Cli("download", "gpt2-xl", "--to", tmp.Path));
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"picogpt download: {s.Url}/openai-community/gpt2-xl/resolve/main/config.json: HTTP 404, no such model/file: Entry not found",
            err.TrimEnd('\n'));
    }

    [Fact]
    public void TinyShakespeareHonoursPicogptDataUrl()
    {
        using var s = new LocalHttpServer();
        using var tmp = TestPaths.Temp();
        var (code, _, err) = WithEnv("PICOGPT_DATA_URL", s.Url + "/data.txt", () => CliTests.Cli("download", "tinyshakespeare", "--to", tmp.Path));
        Assert.Equal(1, code);
        Assert.Contains($"{s.Url}/data.txt: HTTP 404", err);
    }

    [Fact]
    public void ADestinationThatIsAFileIsAnError()
    {
        using var tmp = TestPaths.Temp();
        var file = Path.Combine(tmp.Path, "not-a-folder");
        File.WriteAllText(file, "");
        var (code, _, err) = CliTests.Cli("download", "tinyshakespeare", "--to", file);
        Assert.Equal(1, code);
        Assert.StartsWith($"picogpt download: {file}: cannot create the download folder", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }

    [Theory]
    [InlineData(new[] { "download", "gpt3" }, "unknown download 'gpt3' (expected one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, tinyshakespeare)")]
    [InlineData(new[] { "download" }, "say what to download: one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, tinyshakespeare")]
    [InlineData(new[] { "download", "gpt2", "gpt2-xl" }, "unexpected argument 'gpt2-xl'")]
    [InlineData(new[] { "download", "gpt2", "--into", "x" }, "unknown option --into")]
    [InlineData(new[] { "download", "gpt2", "--to" }, "option --to needs a value")]
    public void BadArgumentsExitWith2(string[] args, string message)
    {
        var (code, stdout, err) = CliTests.Cli(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal($"picogpt download: {message}", err.TrimEnd('\n'));
    }
}
