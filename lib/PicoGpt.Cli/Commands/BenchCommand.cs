using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using PicoGpt.Benchmarks;
using PicoGpt.Decode;

namespace PicoGpt.Cli.Commands;

/// <summary>picogpt bench [--quick] [--json] [--tiktoken DIR] [--decode] [--dtype f32|f16|int8] [--threads N]: measured limits and
/// ratios (see PicoGpt.Benchmarks.Bench), then decoding speed per dtype against the measured read bandwidth
/// (PicoGpt.Decode.DecodeBenchRun); --decode runs only the latter.</summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Help => "measure matmul/bandwidth limits, forward, KV-cache decoding (--decode: only decoding per dtype), tokenizer, training, loading, memory";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "quick", "json", "decode" };

    public int Run(Args args)
    {
        bool quick = args.Flag("quick"), json = args.Flag("json"), decodeOnly = args.Flag("decode");
        var tiktokenDir = args.Get("tiktoken") ?? Environment.GetEnvironmentVariable("PICOGPT_TIKTOKEN_DIR");
        var dtypeName = args.Get("dtype");
        int? threads = args.Int("threads", min: 1);
        args.EnsureAllUsed();
        var dtypes = dtypeName == null ? new[] { DecodeDType.F32, DecodeDType.F16, DecodeDType.Int8 }
            : new[] { DecodeDTypes.TryParse(dtypeName) ?? throw new CliError($"--dtype must be f32, f16 or int8 for bench, got '{dtypeName}'") };
        var root = Paths.RepoRoot ?? Environment.CurrentDirectory;
        var text = Paths.TinyShakespeare; // committed; a missing file is an error naming it
        var script = Path.Combine(root, "tests", "tools", "tiktoken-bench.js");
        var clock = Stopwatch.StartNew();
        Action<string>? log = json ? null : line => Console.Error.WriteLine(line);
        var figures = decodeOnly ? new List<BenchFigure>() : Bench.Run(new BenchOptions
        {
            Quick = quick,
            ShakespearePath = text,
            TiktokenMBps = path => Tiktoken(script, path, tiktokenDir),
            Log = log,
        });
        figures.AddRange(DecodeBenchRun.Run(new DecodeBenchOptions { Quick = quick, DTypes = dtypes, Threads = threads, Log = log })
            .Select(f => new BenchFigure(f.Section, f.Name, f.Value, f.Unit, f.Target, f.Met)));
        var machine = $"{RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, {TorchSharp.torch.get_num_threads()} torch threads, {RuntimeInformation.ProcessArchitecture}";
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                machine, quick, seconds = clock.Elapsed.TotalSeconds,
                figures = figures.Select(f => new { section = f.Section, name = f.Name, value = f.Value, unit = f.Unit, target = f.Target, met = f.Met }),
            }));
        }
        else
        {
            Console.WriteLine($"machine: {machine}; {(quick ? "quick" : "full")} run, {clock.Elapsed.TotalSeconds:F0} s\n");
            Console.WriteLine("| section | figure | value | target |");
            Console.WriteLine("| --- | --- | ---: | --- |");
            foreach (var f in figures)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {f.Section} | {f.Name} | {f.Value:#,0.###} {f.Unit} | {(f.Target == null ? "" : $"{f.Target}: {(f.Met == true ? "met" : "missed")}")} |"));
        }
        return 0;
    }

    /// <summary>Runs the npm tiktoken comparison with node, or returns null (node or the package missing).</summary>
    static double? Tiktoken(string script, string textPath, string? nodePath)
    {
        if (!File.Exists(script)) return null;
        try
        {
            var psi = new ProcessStartInfo("node", new[] { script, textPath }) { RedirectStandardOutput = true, RedirectStandardError = true };
            if (nodePath != null) psi.Environment["NODE_PATH"] = Path.Combine(nodePath, "node_modules");
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            if (!p.WaitForExit(120_000) || p.ExitCode != 0) return null;
            return JsonDocument.Parse(output).RootElement.GetProperty("mb_per_s").GetDouble();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or InvalidOperationException) { return null; }
    }
}
