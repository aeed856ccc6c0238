using System.Diagnostics;
using System.Globalization;
using PicoGpt.Weights;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt download gpt2|gpt2-medium|gpt2-large|gpt2-xl|tinyshakespeare [--to DIR]: fetches a model from the Hugging
/// Face hub (default into weights/NAME) or the tinyshakespeare text (default into data/). Resumable, verified, and a
/// second run fetches nothing. Prints the destination on stdout; progress goes to stderr. Ctrl+C keeps the partial
/// download for the next run.
/// </summary>
public sealed class DownloadCommand : ICommand
{
    public string Name => "download";
    public string Help => "download gpt2, gpt2-medium, gpt2-large, gpt2-xl (Hugging Face hub) or tinyshakespeare [--to DIR]";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public int Run(Args args)
    {
        var to = args.Get("to");
        args.EnsureAllUsed(positionals: 1);
        var valid = string.Join(", ", HubDownloader.Names);
        if (args.Positionals.Count == 0) throw new CliError($"say what to download: one of {valid}");
        var name = args.Positionals[0];
        if (!HubDownloader.Names.Contains(name)) throw new CliError($"unknown download '{name}' (expected one of {valid})");
        if (to is { Length: 0 }) throw new CliError("--to needs a folder");

        using var progress = new ProgressDisplay(Console.Error, interactive: !Console.IsErrorRedirected);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;   // a second Ctrl+C ends the process the usual way
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            using var downloader = new HubDownloader(new DownloadOptions { Progress = progress.Report, Log = progress.Note });
            if (name == HubDownloader.TinyShakespeare)
            {
                var file = downloader.DownloadTinyShakespeareAsync(to, cts.Token).GetAwaiter().GetResult();
                progress.Finish();
                Console.WriteLine(Path.GetFullPath(file.Path));
            }
            else
            {
                var dir = to ?? HubDownloader.DefaultModelDir(name);
                downloader.DownloadModelAsync(name, dir, cts.Token).GetAwaiter().GetResult();
                progress.Finish();
                Console.WriteLine(Path.GetFullPath(dir));
            }
            return 0;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            progress.Note("interrupted: the partial download is kept, run the same command again to resume");
            throw;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}

/// <summary>
/// Download progress on stderr. On a terminal: one redrawn line per file with a bar, percentage, size and rate.
/// Otherwise (a log file, a pipe): a line every 10% for files over 10 MB, and one when each file is done.
/// </summary>
sealed class ProgressDisplay(TextWriter w, bool interactive) : IDisposable
{
    readonly object _gate = new();
    string? _file;
    bool _lineOpen;
    int _decile;
    readonly Stopwatch _clock = new();
    long _startBytes;

    public void Report(DownloadProgress p)
    {
        lock (_gate)
        {
            if (p.File != _file)
            {
                EndLine();
                _file = p.File;
                _decile = 0;
                _startBytes = p.Done;
                _clock.Restart();
            }
            bool complete = p.Total is long t && p.Done >= t;
            if (interactive) Draw(p, complete);
            else
            {
                if (p.Total is long total && total > 10_000_000 && !complete)
                {
                    int d = (int)(p.Done * 10 / total);
                    if (d > _decile)
                    {
                        _decile = d;
                        w.WriteLine($"{p.File}: {d * 10}% of {Numbers.Bytes(total)}{Rate(p.Done)}");
                    }
                }
                if (complete) w.WriteLine($"{p.File}: {Numbers.Bytes(p.Done)} done");
            }
            if (complete) _file = null;
        }
    }

    void Draw(DownloadProgress p, bool complete)
    {
        const int width = 28;
        string bar, pct, size;
        if (p.Total is long total && total > 0)
        {
            double f = Math.Clamp((double)p.Done / total, 0, 1);
            int filled = (int)(f * width);
            bar = "[" + new string('#', filled) + new string('.', width - filled) + "]";
            pct = (f * 100).ToString("0", CultureInfo.InvariantCulture).PadLeft(3) + "%";
            size = $"{Numbers.Bytes(p.Done)} / {Numbers.Bytes(total)}";
        }
        else
        {
            bar = "[" + new string('?', width) + "]";
            pct = "   ?";
            size = Numbers.Bytes(p.Done);
        }
        w.Write($"\r{p.File,-18} {bar} {pct}  {size}{Rate(p.Done)}\x1b[K");
        _lineOpen = true;
        if (complete) EndLine();
        w.Flush();
    }

    string Rate(long done)
    {
        double s = _clock.Elapsed.TotalSeconds;
        return s < 0.5 ? "" : $"  {Numbers.Bytes((long)((done - _startBytes) / s))}/s";
    }

    void EndLine()
    {
        if (_lineOpen) w.WriteLine();
        _lineOpen = false;
    }

    /// <summary>A note on its own line (the bar, if any, is redrawn by the next report).</summary>
    public void Note(string message)
    {
        lock (_gate)
        {
            if (_lineOpen) w.Write("\r\x1b[K");
            _lineOpen = false;
            w.WriteLine(message);
            w.Flush();
        }
    }

    public void Finish()
    {
        lock (_gate) { EndLine(); w.Flush(); }
    }

    public void Dispose() => Finish();
}
