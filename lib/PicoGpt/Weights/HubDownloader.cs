using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

using PicoGpt.IO;

namespace PicoGpt.Weights;

/// <summary>How far one file's download has got. <see cref="Total"/> is null when the server does not say.</summary>
public sealed record DownloadProgress(string File, long Done, long? Total);

/// <summary>One file that is now in place: its path, size and sha256, and whether this run fetched it.</summary>
public sealed record DownloadedFile(string Name, string Path, long Size, string Sha256, bool Fetched);

/// <summary>
/// One file to fetch: from <paramref name="Url"/> into <c>dir/FileName</c>. <paramref name="Source"/> names where it
/// comes from (recorded in the manifest: a copy from another source is fetched again). A known size and sha256 are
/// checked in addition to what the server advertises; <paramref name="Validate"/> checks the complete file before it
/// is renamed into place (throw a <see cref="PicoGptException"/> to reject it).
/// </summary>
public sealed record DownloadRequest(string Url, string FileName, string Source, long? Size = null, string? Sha256 = null,
    Action<string>? Validate = null);

/// <summary>Settings for <see cref="HubDownloader"/>; every one has a default.</summary>
public sealed class DownloadOptions
{
    /// <summary>The hub: null means $HF_ENDPOINT, else https://huggingface.co.</summary>
    public string? Endpoint { get; init; }

    /// <summary>tinyshakespeare's URL: null means $PICOGPT_DATA_URL, else karpathy/char-rnn's input.txt on GitHub.</summary>
    public string? DataUrl { get; init; }

    /// <summary>Limit for connecting, for the response headers, and for each wait for more body bytes.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after a network failure (refused or dropped connection, timeout, 5xx) that made no progress;
    /// an attempt that received bytes resets the count. Each retry resumes from the partial file.</summary>
    public int Retries { get; init; } = 4;

    /// <summary>Wait before the first retry; doubled for each further one (at most 30 s).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Called while a file downloads (at most every 100 ms, and once more when it is complete).</summary>
    public Action<DownloadProgress>? Progress { get; init; }

    /// <summary>One-line notes: already present, resuming, retrying, server ignored the range request.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// Downloads GPT-2 checkpoints from the Hugging Face hub (<c>{endpoint}/{repo}/resolve/main/{file}</c>) and the
/// tinyshakespeare text. Each file goes to <c>&lt;file&gt;.partial</c> (resumed with an HTTP Range request after a
/// dropped connection or in a later run), is checked against the advertised size and sha256 (the hub's
/// X-Linked-Size / X-Linked-ETag headers, which it sends on the redirect to its CDN) and, for model.safetensors,
/// opened as safetensors, and only then renamed into place. A <c>.download.json</c> manifest in the folder records
/// each finished file's size and sha256, so a later run fetches nothing that is still there with its size.
/// </summary>
public sealed class HubDownloader : IDisposable
{
    public const string DefaultEndpoint = "https://huggingface.co";
    public const string ManifestFile = ".download.json";
    public const string PartialSuffix = ".partial";

    /// <summary>The downloadable models and their repositories on the hub.</summary>
    public static readonly IReadOnlyDictionary<string, string> Models = new Dictionary<string, string>
    {
        ["gpt2"] = "openai-community/gpt2",
        ["gpt2-medium"] = "openai-community/gpt2-medium",
        ["gpt2-large"] = "openai-community/gpt2-large",
        ["gpt2-xl"] = "openai-community/gpt2-xl",
    };

    /// <summary>The files fetched for a model, in order (small ones first, so a bad repository fails fast).</summary>
    public static readonly string[] ModelFiles = { "config.json", "vocab.json", "merges.txt", Gpt2Checkpoint.WeightsFile };

    public const string TinyShakespeare = "tinyshakespeare";
    public const string TinyShakespeareFile = "tinyshakespeare.txt";
    public const string TinyShakespeareUrl = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";
    public const string TinyShakespeareSha256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
    public const long TinyShakespeareSize = 1_115_394;

    /// <summary>Every name <c>picogpt download</c> accepts.</summary>
    public static IEnumerable<string> Names => Models.Keys.Append(TinyShakespeare);

    readonly DownloadOptions _o;
    readonly HttpClient _http;

    public string Endpoint { get; }
    public string DataUrl { get; }

    public HubDownloader(DownloadOptions? options = null)
    {
        _o = options ?? new DownloadOptions();
        if (_o.Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "Timeout must be positive");
        Endpoint = (NonEmpty(_o.Endpoint) ?? NonEmpty(Environment.GetEnvironmentVariable("HF_ENDPOINT")) ?? DefaultEndpoint).TrimEnd('/');
        DataUrl = NonEmpty(_o.DataUrl) ?? NonEmpty(Environment.GetEnvironmentVariable("PICOGPT_DATA_URL")) ?? TinyShakespeareUrl;
        foreach (var (what, url) in new[] { ("hub endpoint", Endpoint), ("data URL", DataUrl) })
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https"))
                throw new PicoGptException($"{what} '{url}' is not an http(s) URL (check HF_ENDPOINT / PICOGPT_DATA_URL)");
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,               // followed by hand, to read the hub's X-Linked-* headers on the redirect
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = _o.Timeout,
        })
        { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("picogpt", "1.0"));
    }

    static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    /// <summary>The default folder for a model: weights/&lt;name&gt;.</summary>
    public static string DefaultModelDir(string name) => Path.Combine(Paths.WeightsDir, name);

    /// <summary><c>{endpoint}/{repo}/resolve/main/{file}</c>.</summary>
    public string FileUrl(string repo, string file) => $"{Endpoint}/{repo}/resolve/main/{file}";

    /// <summary>Downloads a model's four files into <paramref name="dir"/> (default weights/&lt;name&gt;).</summary>
    public async Task<IReadOnlyList<DownloadedFile>> DownloadModelAsync(string name, string? dir = null, CancellationToken ct = default)
    {
        if (!Models.TryGetValue(name, out var repo))
            throw new PicoGptException($"unknown model '{name}' (expected one of {string.Join(", ", Models.Keys)})");
        dir ??= DefaultModelDir(name);
        var done = new List<DownloadedFile>();
        foreach (var file in ModelFiles)
            done.Add(await DownloadFileAsync(new DownloadRequest(FileUrl(repo, file), file, "hf:" + repo, Validate: ValidatorFor(file)), dir, ct)
                .ConfigureAwait(false));
        return done;
    }

    /// <summary>Downloads tinyshakespeare.txt (size and sha256 known in advance) into <paramref name="dir"/> (default data/).</summary>
    public Task<DownloadedFile> DownloadTinyShakespeareAsync(string? dir = null, CancellationToken ct = default) =>
        DownloadFileAsync(new DownloadRequest(DataUrl, TinyShakespeareFile, "karpathy/char-rnn tinyshakespeare",
            TinyShakespeareSize, TinyShakespeareSha256), dir ?? Paths.DataDir, ct);

    static Action<string>? ValidatorFor(string file) => file switch
    {
        _ when file == Gpt2Checkpoint.WeightsFile => path => { using var _ = SafeTensorsFile.Open(path); },
        _ when file.EndsWith(".json", StringComparison.Ordinal) => path =>
        {
            try { using var _ = JsonDocument.Parse(File.ReadAllBytes(path)); }
            catch (JsonException e) { throw new PicoGptException($"not valid JSON ({e.Message.Split('\n')[0]})"); }
        },
        _ => null,
    };

    /// <summary>
    /// Fetches one file unless the folder's manifest says it is already there (and its size still matches). Network
    /// failures are retried with resume; what cannot be finished stays in <c>&lt;file&gt;.partial</c> for a later run.
    /// </summary>
    public async Task<DownloadedFile> DownloadFileAsync(DownloadRequest req, string dir, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PicoGptException($"{dir}: cannot create the download folder ({e.Message})");
        }
        var final = Path.Combine(dir, req.FileName);
        var partial = final + PartialSuffix;
        var expectedSha = req.Sha256?.ToLowerInvariant();
        var manifest = Manifest.Load(dir, _o.Log);

        if (File.Exists(final))
        {
            long length = new FileInfo(final).Length;
            if (manifest.Files.TryGetValue(req.FileName, out var e) && e.Source == req.Source && e.Size == length
                && (expectedSha == null || e.Sha256 == expectedSha) && (req.Size == null || req.Size == length))
            {
                _o.Log?.Invoke($"{req.FileName}: already downloaded ({Numbers.Bytes(length)})");
                return new DownloadedFile(req.FileName, final, length, e.Sha256, Fetched: false);
            }
            if (expectedSha != null && (req.Size == null || req.Size == length)
                && await Sha256Async(final, length, ct).ConfigureAwait(false) == expectedSha)
            {
                _o.Log?.Invoke($"{req.FileName}: already present, sha256 matches ({Numbers.Bytes(length)})");
                manifest.Record(dir, req.FileName, new ManifestEntry(req.Source, req.Url, length, expectedSha, DateTime.UtcNow));
                return new DownloadedFile(req.FileName, final, length, expectedSha, Fetched: false);
            }
        }

        Attempt result;
        int failures = 0;
        while (true)
        {
            long before = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            try
            {
                result = await AttemptAsync(req, partial, ct).ConfigureAwait(false);
                break;
            }
            catch (TransientError e)
            {
                long after = File.Exists(partial) ? new FileInfo(partial).Length : 0;
                if (after > before) failures = 0;  // progress: this is a flaky connection, not a dead one
                if (++failures > _o.Retries)
                    throw new PicoGptException($"{req.Url}: {e.Message}; gave up after {failures} attempt{(failures > 1 ? "s" : "")}"
                        + (after > 0 ? $" (the partial download {partial} is kept: run again to resume)" : ""));
                var delay = TimeSpan.FromTicks(Math.Min(_o.RetryDelay.Ticks * (1L << Math.Min(failures - 1, 20)), TimeSpan.FromSeconds(30).Ticks));
                _o.Log?.Invoke($"{req.FileName}: {e.Message}; retrying in {delay.TotalSeconds:0.##} s ({failures}/{_o.Retries})");
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }

        // complete: check what the server and the caller said, then the content, then rename into place
        PicoGptException Reject(string what)
        {
            File.Delete(partial);
            return new PicoGptException($"{req.Url}: {what} (the download was deleted)");
        }
        if (req.Size is long size && result.Length != size)
            throw Reject($"{req.FileName} is {result.Length} bytes, expected {size}");
        foreach (var (sha, from) in new[] { (expectedSha, "expected"), (result.AdvertisedSha256, "the server advertises") })
            if (sha != null && sha != result.Sha256)
                throw Reject($"sha256 mismatch for {req.FileName}: {from} {sha}, got {result.Sha256}");
        if (req.Validate != null)
        {
            try { req.Validate(partial); }
            catch (PicoGptException e) { throw Reject($"downloaded {req.FileName} is not valid: {e.Message}"); }
        }
        File.Move(partial, final, overwrite: true);
        manifest.Record(dir, req.FileName, new ManifestEntry(req.Source, req.Url, result.Length, result.Sha256, DateTime.UtcNow));
        return new DownloadedFile(req.FileName, final, result.Length, result.Sha256, Fetched: true);
    }

    /// <summary>A network failure worth retrying (with resume).</summary>
    sealed class TransientError(string message) : Exception(message);

    sealed record Attempt(long Length, string Sha256, string? AdvertisedSha256);

    /// <summary>One GET (resuming from the partial file when there is one) streamed to the end into the partial file.</summary>
    async Task<Attempt> AttemptAsync(DownloadRequest req, string partial, CancellationToken ct)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (req.Size is long known && have > known) { File.Delete(partial); have = 0; }

        var (resp, linked) = await SendAsync(req.Url, have, ct).ConfigureAwait(false);
        using (resp)
        {
            var status = (int)resp.StatusCode;
            long? total;
            bool append = false;
            if (status == 206 && have > 0)
            {
                var range = resp.Content.Headers.ContentRange;
                if (range is null || range.From != have)
                {
                    File.Delete(partial);
                    throw new TransientError($"server answered the request for bytes {have}- with range '{range}'; starting over");
                }
                total = linked.Size ?? range.Length;
                append = true;
            }
            else if (status == 200 || status == 206)   // 206 without our Range: treat like 200
            {
                if (have > 0) _o.Log?.Invoke($"{req.FileName}: the server ignored the range request; starting over");
                total = linked.Size ?? resp.Content.Headers.ContentLength;
                have = 0;
            }
            else if (status == 416 && have > 0)
            {
                var complete = resp.Content.Headers.ContentRange?.Length ?? linked.Size;
                if (complete == have)   // the partial already holds everything: finish it
                    return new Attempt(have, await Sha256Async(partial, have, ct).ConfigureAwait(false), linked.Sha256);
                File.Delete(partial);
                throw new TransientError($"the server refused to resume at byte {have}; starting over");
            }
            else throw HttpError(req, resp, status);

            if (total is long t && req.Size is long s && t != s)
                throw new PicoGptException($"{req.Url}: the server reports {t} bytes for {req.FileName}, expected {s}");
            if (total is long t2 && have > t2) { File.Delete(partial); throw new TransientError("the partial file is longer than the file; starting over"); }

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            FileStream fs;
            try
            {
                if (append) await HashPrefixAsync(hash, partial, have, ct).ConfigureAwait(false);
                fs = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            }
            catch (IOException e) when (e is not FileNotFoundException)
            {
                throw new PicoGptException($"{partial}: cannot write ({e.Message}; is another download running into the same folder?)");
            }
            if (append && have > 0) _o.Log?.Invoke($"{req.FileName}: resuming at {Numbers.Bytes(have)}{(total is long tt ? " of " + Numbers.Bytes(tt) : "")}");

            long done = have;
            await using (fs)
            {
                Stream body;
                try { body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false); }
                catch (Exception e) when (IsNetwork(e, ct)) { throw new TransientError(Describe(e, done)); }
                await using (body)
                {
                    var buffer = new byte[1 << 17];
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    long lastReport = long.MinValue;
                    void Report(bool force)
                    {
                        if (_o.Progress == null || (!force && clock.ElapsedMilliseconds - lastReport < 100)) return;
                        lastReport = clock.ElapsedMilliseconds;
                        _o.Progress(new DownloadProgress(req.FileName, done, total));
                    }
                    Report(force: true);
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    while (true)
                    {
                        int n;
                        try
                        {
                            idle.CancelAfter(_o.Timeout);
                            n = await body.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (IsNetwork(e, ct))
                        {
                            await fs.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                            throw new TransientError(Describe(e, done, total));
                        }
                        if (n == 0) break;
                        if (total is long limit && done + n > limit)
                        {
                            await fs.DisposeAsync().ConfigureAwait(false);
                            File.Delete(partial);
                            throw new PicoGptException($"{req.Url}: the server sent more than the advertised {limit} bytes (the download was deleted)");
                        }
                        try { await fs.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false); }
                        catch (IOException e) { throw new PicoGptException($"{partial}: cannot write ({e.Message})"); }
                        hash.AppendData(buffer, 0, n);
                        done += n;
                        Report(force: false);
                    }
                    try { fs.Flush(flushToDisk: true); }
                    catch (IOException e) { throw new PicoGptException($"{partial}: cannot write ({e.Message})"); }
                    if (total is long expected && done < expected)
                        throw new TransientError($"the connection closed after {Numbers.Bytes(done)} of {Numbers.Bytes(expected)}");
                    Report(force: true);
                }
            }
            return new Attempt(done, Convert.ToHexStringLower(hash.GetHashAndReset()), linked.Sha256);
        }
    }

    sealed record Linked(long? Size, string? Sha256);

    /// <summary>GET with an optional Range, following up to 10 redirects by hand and collecting the hub's
    /// X-Linked-Size / X-Linked-ETag from whichever response carries them.</summary>
    async Task<(HttpResponseMessage, Linked)> SendAsync(string url, long from, CancellationToken ct)
    {
        var uri = new Uri(url);
        long? size = null;
        string? sha = null;
        for (int hop = 0; hop <= 10; hop++)
        {
            using var msg = new HttpRequestMessage(HttpMethod.Get, uri);
            if (from > 0) msg.Headers.Range = new RangeHeaderValue(from, null);
            HttpResponseMessage resp;
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                cts.CancelAfter(_o.Timeout);
                try { resp = await _http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false); }
                catch (Exception e) when (IsNetwork(e, ct)) { throw new TransientError(Describe(e, -1)); }
            }
            size ??= ParseLong(Header(resp, "X-Linked-Size"));
            sha ??= ParseSha256(Header(resp, "X-Linked-ETag"));
            if ((int)resp.StatusCode is 301 or 302 or 303 or 307 or 308 && resp.Headers.Location is Uri location)
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                resp.Dispose();
                continue;
            }
            return (resp, new Linked(size, sha));
        }
        throw new PicoGptException($"{url}: more than 10 redirects");
    }

    static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) || r.Content.Headers.TryGetValues(name, out v) ? v.FirstOrDefault() : null;

    static long? ParseLong(string? s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>A sha256 from an ETag-style header: 64 hex digits, possibly quoted or weak (W/"...").</summary>
    public static string? ParseSha256(string? etag)
    {
        if (etag == null) return null;
        var s = etag.Trim();
        if (s.StartsWith("W/", StringComparison.Ordinal)) s = s[2..];
        s = s.Trim('"');
        return s.Length == 64 && s.All(Uri.IsHexDigit) ? s.ToLowerInvariant() : null;
    }

    static Exception HttpError(DownloadRequest req, HttpResponseMessage resp, int status)
    {
        var hub = Header(resp, "X-Error-Message");
        var detail = hub != null ? $": {hub.ReplaceLineEndings(" ")}" : "";
        return status switch
        {
            404 => new PicoGptException($"{req.Url}: HTTP 404, no such model/file{detail}"),
            401 or 403 => new PicoGptException($"{req.Url}: HTTP {status} {resp.ReasonPhrase}, access denied (the repository may not exist, or be private or gated){detail}"),
            408 or 429 or >= 500 => new TransientError($"HTTP {status} {resp.ReasonPhrase}{detail}"),
            _ => new PicoGptException($"{req.Url}: HTTP {status} {resp.ReasonPhrase}{detail}"),
        };
    }

    /// <summary>Network trouble (not the caller's cancellation): refused/reset/dropped connections and timeouts.</summary>
    static bool IsNetwork(Exception e, CancellationToken ct) =>
        e is HttpRequestException or IOException or SocketException || (e is OperationCanceledException && !ct.IsCancellationRequested);

    string Describe(Exception e, long done, long? total = null)
    {
        var what = e is OperationCanceledException ? $"timed out (no data for {_o.Timeout.TotalSeconds:0.##} s)"
            : e.InnerException is SocketException se ? $"{e.Message.ReplaceLineEndings(" ")} ({se.SocketErrorCode})"
            : e.Message.ReplaceLineEndings(" ");
        return done < 0 ? what : $"{what} after {Numbers.Bytes(done)}{(total is long t ? " of " + Numbers.Bytes(t) : "")}";
    }

    static async Task HashPrefixAsync(IncrementalHash hash, string path, long length, CancellationToken ct)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 20];
        long left = length;
        while (left > 0)
        {
            int n = await fs.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
            if (n == 0) throw new PicoGptException($"{path}: shrank while being read");
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
    }

    static async Task<string> Sha256Async(string path, long length, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await HashPrefixAsync(hash, path, length, ct).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>1536 → "1.5 KB" (powers of 1000, as download sizes usually are).</summary>
    public void Dispose() => _http.Dispose();

    // ---- the .download.json manifest ----

    internal sealed record ManifestEntry(string Source, string Url, long Size, string Sha256, DateTime DownloadedUtc);

    internal sealed class Manifest
    {
        static readonly JsonSerializerOptions Json = new()
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };

        public int Version { get; set; } = 1;
        public Dictionary<string, ManifestEntry> Files { get; set; } = new();

        public static Manifest Load(string dir, Action<string>? log)
        {
            var path = Path.Combine(dir, ManifestFile);
            if (!File.Exists(path)) return new Manifest();
            try
            {
                var m = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path), Json);
                if (m?.Files != null && m.Files.Values.All(e => e is { Source: not null, Sha256: not null })) return m;
            }
            catch (JsonException) { }
            log?.Invoke($"{path}: unreadable, ignored (files will be fetched again)");
            return new Manifest();
        }

        /// <summary>Adds one entry and rewrites the manifest (re-read first, so entries written meanwhile survive).</summary>
        public void Record(string dir, string file, ManifestEntry entry)
        {
            var current = Load(dir, null);
            current.Files[file] = entry;
            Files = current.Files;
            AtomicFile.WriteAllText(Path.Combine(dir, ManifestFile), JsonSerializer.Serialize(current, Json) + "\n");
        }
    }
}
