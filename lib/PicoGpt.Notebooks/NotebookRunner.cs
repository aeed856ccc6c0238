using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Documents;

namespace PicoGpt.Notebooks;

/// <summary>How a code cell ended.</summary>
public enum CellStatus
{
    /// <summary>Ran to the end.</summary>
    Ok,
    /// <summary>Threw, or did not compile: the kernel reported the command as failed.</summary>
    Error,
    /// <summary>Not run: empty, or after a stop (a dead kernel, a timeout, --stop-on-error).</summary>
    Skipped,
    /// <summary>The kernel process ended while the cell ran (a native crash such as TorchSharp's matmul abort).</summary>
    KernelDied,
    /// <summary>The cell ran longer than the per-cell timeout; the kernel was stopped.</summary>
    TimedOut,
}

/// <summary>How one code cell went: its outputs, and for failures a name and a message.</summary>
public sealed record CellRun(int Index, CellStatus Status, IReadOnlyList<InteractiveDocumentOutputElement> Outputs, string? ErrorName, string? ErrorValue, TimeSpan Elapsed)
{
    /// <summary>The cell threw NotImplementedException: a learner's stub, not a broken notebook.</summary>
    public bool IsStub => ErrorName == typeof(NotImplementedException).FullName;
}

/// <summary>Exercise checks seen in a notebook's outputs (check results displayed or returned).</summary>
public readonly record struct CheckCounts(int Passed, int Failed, int NotImplemented)
{
    public int Total => Passed + Failed + NotImplemented;
}

/// <summary>What happened to the kernel: it lasted, it died in a cell, or a cell timed out. Message explains it.</summary>
public sealed record KernelOutcome(string Status, int? Cell, string? Message)
{
    public static readonly KernelOutcome Ok = new("ok", null, null);
}

/// <summary>An executed notebook: the document with its new outputs, each code cell's run, the checks, the kernel's fate.</summary>
public sealed record NotebookRun(string? Path, InteractiveDocument Notebook, IReadOnlyList<CellRun> Cells, CheckCounts Checks, KernelOutcome Kernel, TimeSpan Elapsed)
{
    public bool Succeeded => Kernel.Status == "ok" && Cells.All(c => c.Status is CellStatus.Ok or CellStatus.Skipped);
}

public sealed class RunnerOptions
{
    /// <summary>Skip the remaining cells after the first error (default: run every cell, as checks in later cells still count).</summary>
    public bool StopOnError { get; init; }
    /// <summary>The longest a cell may run; then the kernel is stopped and the rest of the notebook is skipped.</summary>
    public TimeSpan CellTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Extra environment variables for the kernel process (e.g. PICOGPT_NOTEBOOK_QUICK=1).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();
}

/// <summary>
/// Runs a notebook's code cells in order in the real .NET Interactive kernel (a fresh <see cref="KernelClient"/> per
/// notebook, working directory = the notebook's folder), the way VS Code Polyglot Notebooks and Jupyter do, and turns the
/// kernel's events into the notebook's outputs as those clients show them: display and return values with all their mime
/// types, display updates applied to the output they name, Console text as stream outputs, compiler warnings as stderr
/// (as Jupyter writes them), failures as error outputs. A cell that kills the kernel is reported as such with the kernel's
/// own last words and, for TorchSharp's matmul abort, what happened and the fix; the rest of the notebook is skipped.
/// </summary>
public sealed class NotebookRunner(RunnerOptions? options = null)
{
    readonly RunnerOptions _options = options ?? new RunnerOptions();

    public NotebookRun Run(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        return Run(NotebookFile.Load(full), System.IO.Path.GetDirectoryName(full)!, full);
    }

    /// <summary>Runs a copy of the notebook with <paramref name="directory"/> as its working directory; the input is not changed.</summary>
    public NotebookRun Run(InteractiveDocument notebook, string directory, string? path = null)
    {
        var nb = NotebookFile.Clone(notebook);
        var total = Stopwatch.StartNew();
        var runs = new List<CellRun>();
        var kernel = KernelOutcome.Ok;
        using var client = KernelClient.Start(directory, _options.Environment);
        bool stopped = false;
        int count = 0;
        for (int i = 0; i < nb.Elements.Count; i++)
        {
            var cell = nb.Elements[i];
            if (!cell.IsCode()) continue;
            cell.Outputs.Clear();
            cell.ExecutionOrder = 0;
            if (stopped || string.IsNullOrWhiteSpace(cell.Contents))
            {
                runs.Add(new CellRun(i, CellStatus.Skipped, [], null, null, TimeSpan.Zero));
                continue;
            }
            cell.ExecutionOrder = ++count;
            var run = RunCell(client, i, cell);
            runs.Add(run);
            if (run.Status is CellStatus.KernelDied or CellStatus.TimedOut)
            {
                kernel = new KernelOutcome(run.Status == CellStatus.KernelDied ? "died" : "timeout", i, run.ErrorValue);
                stopped = true;
            }
            if (run.Status == CellStatus.Error && _options.StopOnError) stopped = true;
        }
        return new NotebookRun(path, nb, runs, CountChecks(nb), kernel, total.Elapsed);
    }

    CellRun RunCell(KernelClient client, int index, InteractiveDocumentElement cell)
    {
        var watch = Stopwatch.StartNew();
        var outputs = new OutputBuilder(cell);
        var result = client.Submit(cell.Contents, _options.CellTimeout, outputs.Add);
        switch (result.End)
        {
            case SubmissionEnd.Succeeded:
                return new CellRun(index, CellStatus.Ok, cell.Outputs.ToList(), null, null, watch.Elapsed);
            case SubmissionEnd.Failed:
            {
                var (name, value, trace) = ParseFailure(result.FailureMessage ?? "the cell failed");
                cell.Outputs.Add(new ErrorElement(value, name, trace));
                return new CellRun(index, CellStatus.Error, cell.Outputs.ToList(), name, value, watch.Elapsed);
            }
            case SubmissionEnd.TimedOut:
            {
                client.Kill();
                var message = $"the cell ran longer than {_options.CellTimeout.TotalSeconds:0} s, so the kernel was stopped; the cells after it did not run";
                cell.Outputs.Add(new ErrorElement(message, "Timeout", [message]));
                return new CellRun(index, CellStatus.TimedOut, cell.Outputs.ToList(), "Timeout", message, watch.Elapsed);
            }
            default:
            {
                var message = ExplainDeath(cell.Contents, client.ExitCode, client.StandardError);
                cell.Outputs.Add(new ErrorElement(message, "KernelDied", [message]));
                return new CellRun(index, CellStatus.KernelDied, cell.Outputs.ToList(), "KernelDied", message, watch.Elapsed);
            }
        }
    }

    /// <summary>
    /// Why the kernel ended, in words: the exit status, libtorch's own message when there is one, and for TorchSharp's
    /// matmul abort what happened and how to avoid it.
    /// </summary>
    public static string ExplainDeath(string cellSource, int? exitCode, string stderr)
    {
        var what = Regex.Match(stderr, @"what\(\):\s*(.+)").Groups[1].Value.Trim();
        var status = exitCode switch
        {
            null => "it stopped answering",
            -6 or 134 => "it aborted (SIGABRT)",
            -11 or 139 => "it crashed (SIGSEGV)",
            < 0 => $"it was ended by signal {-exitCode}",
            _ => $"it exited with code {exitCode}",
        };
        var text = $"The kernel process ended while this cell ran ({status}{(what.Length > 0 ? ": " + what : "")}). " +
                   "The cells after it did not run, and the notebook's variables are gone: restart the kernel and run the notebook from the top.";
        bool matmul = what.Contains("shapes cannot be multiplied", StringComparison.Ordinal)
                      || Regex.IsMatch(cellSource, @"\bmatmul\s*\(") && (exitCode is -6 or 134 || stderr.Contains("c10::Error", StringComparison.Ordinal));
        if (matmul)
            text += " This is TorchSharp 0.107's matmul on shapes that do not fit: instead of throwing an exception it ends the process. " +
                    "Run the notebook's setup cell first (PicoGpt.Course.Setup() checks the shapes of every .matmul, so a mismatch " +
                    "throws a readable error instead), or multiply with Ops.MatMul(a, b) or a.mm(b), which throw; " +
                    "and check the shapes: [..., n, k] @ [..., k, m].";
        else if (what.Length == 0 && KernelClient.LastLines(stderr, 2) is { Length: > 0 } last)
            text += " The kernel's last words: " + last;
        return text;
    }

    /// <summary>The kernel's failure message as (name, value, trace): an exception's type and message, or a compilation error.</summary>
    internal static (string Name, string Value, string[] Trace) ParseFailure(string message)
    {
        var lines = message.Replace("\r\n", "\n").Split('\n');
        var first = lines[0];
        var trace = lines.Where(l => !l.Contains("Microsoft.CodeAnalysis.Scripting", StringComparison.Ordinal)
                                     && !l.Contains("--- End of stack trace", StringComparison.Ordinal)).Take(40).ToArray();
        if (Regex.IsMatch(first, @"^\(\d+,\d+\): error CS\d+"))
            return ("CompilationError", string.Join("\n", lines.Where(l => l.Contains(": error CS"))), trace);
        var m = Regex.Match(first, @"^([A-Za-z_][\w.+`]*(?:Exception|Error)[\w`]*)(?: \(0x[0-9A-Fa-f]+\))?: ?(.*)$");
        if (m.Success)
        {
            var value = m.Groups[2].Value;
            // an exception's message may run over several lines before its stack trace
            var more = lines.Skip(1).TakeWhile(l => !l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && !l.StartsWith(" ---> ", StringComparison.Ordinal));
            value = string.Join("\n", new[] { value }.Concat(more)).TrimEnd();
            return (m.Groups[1].Value, value, trace);
        }
        return ("Error", message.TrimEnd(), trace);
    }

    static readonly Regex CheckClass = new(@"class=""picogpt-check picogpt-check-(pass|fail|todo)""", RegexOptions.Compiled);

    /// <summary>Counts the check results among the final outputs (by the class our check formatter writes).</summary>
    static CheckCounts CountChecks(InteractiveDocument nb)
    {
        int pass = 0, fail = 0, todo = 0;
        foreach (var output in nb.Elements.SelectMany(c => c.Outputs))
        {
            if (NotebookFile.Data(output) is not { } data || NotebookFile.DataText(data, "text/html") is not { } html) continue;
            foreach (Match m in CheckClass.Matches(html))
                switch (m.Groups[1].Value) { case "pass": pass++; break; case "fail": fail++; break; default: todo++; break; }
        }
        return new CheckCounts(pass, fail, todo);
    }

    /// <summary>Turns one cell's kernel events into its outputs, as the notebook clients show them.</summary>
    sealed class OutputBuilder(InteractiveDocumentElement cell)
    {
        readonly Dictionary<string, IDictionary<string, object>> _byValueId = new();

        public void Add(KernelEvent e)
        {
            switch (e.Type)
            {
                case "StandardOutputValueProduced": Stream("stdout", PlainText(e.Body)); break;
                case "StandardErrorValueProduced": Stream("stderr", PlainText(e.Body)); break;
                case "ErrorProduced": Stream("stderr", ((string?)e.Body["message"] ?? PlainText(e.Body)) + "\n"); break;
                case "DiagnosticsProduced":
                    // warnings and notes: Jupyter's front end writes them to stderr; errors come with CommandFailed
                    var notes = (e.Body["diagnostics"] as JsonArray ?? []).OfType<JsonObject>()
                        .Zip((e.Body["formattedDiagnostics"] as JsonArray ?? []).OfType<JsonObject>())
                        .Where(d => (string?)d.First["severity"] is "warning" or "info")
                        .Select(d => (string?)d.Second["value"]).ToList();
                    if (notes.Count > 0) Stream("stderr", string.Join("\n", notes) + "\n");
                    break;
                case "DisplayedValueProduced":
                {
                    var display = new DisplayElement(Formats(e.Body));
                    cell.Outputs.Add(display);
                    if ((string?)e.Body["valueId"] is { } id) _byValueId[id] = display.Data;
                    break;
                }
                case "DisplayedValueUpdated":
                    // applied to the output it names (as VS Code and Jupyter do); an update naming no output is dropped
                    if ((string?)e.Body["valueId"] is { } updated && _byValueId.TryGetValue(updated, out var data))
                    {
                        data.Clear();
                        foreach (var (k, v) in Formats(e.Body)) data[k] = v;
                    }
                    break;
                case "ReturnValueProduced":
                {
                    var result = new ReturnValueElement { ExecutionOrder = cell.ExecutionOrder };
                    foreach (var (k, v) in Formats(e.Body)) result.Data[k] = v;
                    cell.Outputs.Add(result);
                    break;
                }
            }
        }

        void Stream(string name, string text)
        {
            if (text.Length == 0) return;
            if (cell.Outputs.Count > 0 && cell.Outputs[^1] is TextElement last && last.Name == name)
                cell.Outputs[^1] = new TextElement(last.Text + text, name);
            else cell.Outputs.Add(new TextElement(text, name));
        }

        /// <summary>mime type → text, in sorted order (as the .ipynb stores them), hidden ones left out.</summary>
        static Dictionary<string, object> Formats(JsonObject body)
        {
            var formats = new SortedDictionary<string, object>(StringComparer.Ordinal);
            foreach (var f in (body["formattedValues"] as JsonArray ?? []).OfType<JsonObject>())
                if ((string?)f["mimeType"] is { } mime && f["suppressDisplay"]?.GetValue<bool>() != true)
                    formats[mime] = (string?)f["value"] ?? "";
            return new Dictionary<string, object>(formats);
        }

        static string PlainText(JsonObject body) =>
            string.Concat((body["formattedValues"] as JsonArray ?? []).OfType<JsonObject>()
                .Where(f => (string?)f["mimeType"] == "text/plain").Select(f => (string?)f["value"]));
    }
}
