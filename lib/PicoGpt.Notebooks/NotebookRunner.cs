using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.CodeAnalysis.Scripting.Hosting;
using PicoGpt.Exercises;
using PicoGpt.Notebook;
using PicoGpt.Plots;

namespace PicoGpt.Notebooks;

public enum CellStatus { Ok, Error, Skipped }

/// <summary>How one code cell went: its outputs, and for errors the exception's type name and message.</summary>
public sealed record CellRun(int Index, CellStatus Status, IReadOnlyList<CellOutput> Outputs, string? ErrorName, string? ErrorValue, TimeSpan Elapsed)
{
    /// <summary>The cell threw NotImplementedException: a learner's stub, not a broken notebook.</summary>
    public bool IsStub => ErrorName == typeof(NotImplementedException).FullName;
}

/// <summary>Exercise checks seen in a notebook's outputs (CheckResult values displayed or returned).</summary>
public readonly record struct CheckCounts(int Passed, int Failed, int NotImplemented)
{
    public int Total => Passed + Failed + NotImplemented;
}

/// <summary>An executed notebook: the notebook with its new outputs, each code cell's run, and the checks.</summary>
public sealed record NotebookRun(string? Path, NotebookDocument Notebook, IReadOnlyList<CellRun> Cells, CheckCounts Checks, TimeSpan Elapsed)
{
    public bool Succeeded => Cells.All(c => c.Status != CellStatus.Error);
}

public sealed class RunnerOptions
{
    /// <summary>Skip the remaining cells after the first error (default: run every cell, as checks in later cells still count).</summary>
    public bool StopOnError { get; init; }
}

/// <summary>
/// The globals a notebook's code sees, as in a .NET Interactive C# kernel: display(value).
/// </summary>
public sealed class NotebookGlobals
{
    readonly Func<object?, string[], DisplayedValue> _display;
    internal NotebookGlobals(Func<object?, string[], DisplayedValue> display) => _display = display;

    /// <summary>
    /// Shows a value as an output of the current cell (through its formatters: text/html and text/plain). Returns a handle
    /// whose <see cref="DisplayedValue.Update"/> replaces that output, as .NET Interactive's display() does.
    /// </summary>
    public DisplayedValue display(object? value, params string[] mimeTypes) => _display(value, mimeTypes);
}

/// <summary>
/// What display(...) returns: a handle on one output. <see cref="Update"/> replaces that output's content in place (in
/// the cell that displayed it, even when called from a later cell), like .NET Interactive's DisplayedValue, so a cell can
/// show a chart and redraw it as numbers come in (a live loss curve). Headless, only the last update is kept.
/// </summary>
public sealed class DisplayedValue
{
    readonly Action<object?> _update;
    internal DisplayedValue(string displayId, Action<object?> update) => (DisplayId, _update) = (displayId, update);

    /// <summary>The output's id (its transient display_id in a kernel).</summary>
    public string DisplayId { get; }

    /// <summary>Replaces the displayed output with <paramref name="updatedValue"/>, rendered the same way.</summary>
    public void Update(object? updatedValue) => _update(updatedValue);
}

/// <summary>
/// Runs a notebook's code cells in order, headless, on Roslyn scripting: one script state chained across cells (so
/// variables and methods carry over), the kernel's default usings, #r as <see cref="NotebookReferences"/> describes,
/// display(...) and the last expression's value as outputs rendered through the formatter convention
/// (<see cref="Html.Formats"/>), Console output as stream outputs. A cell that throws (or does not compile) gets an error
/// output and the run goes on with the next cell unless <see cref="RunnerOptions.StopOnError"/>; the cell's variables
/// declared before the exception stay defined. The working directory is the notebook's folder while it runs.
/// One notebook runs at a time per process (the console is redirected); there is no per-cell timeout.
/// A crash of the process itself (e.g. TorchSharp's matmul on mismatched shapes aborts) ends the run.
/// </summary>
public sealed class NotebookRunner
{
    static readonly object RunLock = new();

    /// <summary>The usings a .NET Interactive C# kernel starts with.</summary>
    public static readonly string[] DefaultImports =
        ["System", "System.Collections", "System.Collections.Generic", "System.Linq", "System.Text", "System.Threading.Tasks"];

    readonly RunnerOptions _options;

    public NotebookRunner(RunnerOptions? options = null) => _options = options ?? new RunnerOptions();

    public NotebookRun Run(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        return Run(NotebookDocument.Load(full), System.IO.Path.GetDirectoryName(full)!, full);
    }

    /// <summary>Runs a copy of the notebook with its folder as the base for relative paths; the input is not changed.</summary>
    public NotebookRun Run(NotebookDocument notebook, string directory, string? path = null)
    {
        lock (RunLock)
        {
            var previousDir = Environment.CurrentDirectory;
            var (stdout, stderr) = (Console.Out, Console.Error);
            try
            {
                Environment.CurrentDirectory = directory;
                return new Session(_options, System.IO.Path.GetFullPath(directory)).Run(notebook.Clone(), path);
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
                Environment.CurrentDirectory = previousDir;
            }
        }
    }

    /// <summary>One run: the script state, the loader that shares the program's assemblies, the current cell's outputs.</summary>
    sealed class Session
    {
        readonly RunnerOptions _options;
        readonly InteractiveAssemblyLoader _loader = new();
        readonly HashSet<Assembly> _registered = new();
        readonly ScriptOptions _scriptOptions;
        ScriptState<object>? _state;
        List<CellOutput> _outputs = new();
        readonly StringBuilder _pendingOut = new(), _pendingErr = new();
        int _passed, _failed, _notImplemented;

        public Session(RunnerOptions options, string directory)
        {
            _options = options;
            foreach (var a in AppDomain.CurrentDomain.GetAssemblies()) Register(a);
            _scriptOptions = ScriptOptions.Default
                .WithReferences(FrameworkReferences().Append(MetadataReference.CreateFromFile(typeof(NotebookGlobals).Assembly.Location)))
                .WithImports(DefaultImports)
                .WithMetadataResolver(new NotebookReferences(directory, Register))
                .WithFilePath(System.IO.Path.Combine(directory, "notebook.csx"))
                .WithEmitDebugInformation(false)
                .WithOptimizationLevel(OptimizationLevel.Release);
        }

        /// <summary>Makes the script use the program's already loaded copy of an assembly (one TorchSharp, one PicoGpt).</summary>
        bool Register(Assembly a)
        {
            if (a.IsDynamic || string.IsNullOrEmpty(a.Location)) return false;
            if (_registered.Add(a)) _loader.RegisterDependency(a);
            return true;
        }

        public NotebookRun Run(NotebookDocument nb, string? path)
        {
            PlotlyJs.ResetPage();                                              // the first chart of this notebook carries plotly.js
            var total = Stopwatch.StartNew();
            var runs = new List<CellRun>();
            int count = 0;
            bool stopped = false;
            for (int i = 0; i < nb.Cells.Count; i++)
            {
                var cell = nb.Cells[i];
                if (!cell.IsCode) continue;
                cell.Outputs.Clear();
                if (stopped || string.IsNullOrWhiteSpace(cell.Source))
                {
                    cell.ExecutionCount = null;
                    runs.Add(new CellRun(i, CellStatus.Skipped, [], null, null, TimeSpan.Zero));
                    continue;
                }
                cell.ExecutionCount = ++count;
                var run = RunCell(i, cell.Source, count);
                cell.Outputs.AddRange(run.Outputs);
                runs.Add(run);
                if (run.Status == CellStatus.Error && _options.StopOnError) stopped = true;
            }
            return new NotebookRun(path, nb, runs, new CheckCounts(_passed, _failed, _notImplemented), total.Elapsed);
        }

        CellRun RunCell(int index, string source, int executionCount)
        {
            _outputs = new List<CellOutput>();
            var watch = Stopwatch.StartNew();
            Console.SetOut(new CaptureWriter(_pendingOut));
            Console.SetError(new CaptureWriter(_pendingErr));
            string? ename = null, evalue = null;
            try
            {
                var code = Prepare(source);
                var globals = new NotebookGlobals(Display);
                var state = _state == null
                    ? CSharpScript.Create(code, _scriptOptions, typeof(NotebookGlobals), _loader).RunAsync(globals, _ => true).GetAwaiter().GetResult()
                    : _state.ContinueWithAsync(code, _scriptOptions, _ => true).GetAwaiter().GetResult();
                _state = state;
                if (state.Exception != null) (ename, evalue) = Error(state.Exception);
                else if (state.ReturnValue != null && state.ReturnValue is not DisplayedValue) Show(state.ReturnValue, [], result: true, executionCount);
            }
            catch (CompilationErrorException e)
            {
                var errors = e.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
                ename = "CompilationError";
                evalue = errors.FirstOrDefault() ?? e.Message;
                Flush();
                _outputs.Add(CellOutput.Error(ename, evalue, errors));
            }
            catch (NotebookDirectiveException e)
            {
                (ename, evalue) = ("NotebookDirectiveError", e.Message);
                Flush();
                _outputs.Add(CellOutput.Error(ename, evalue, [e.Message]));
            }
            catch (Exception e)                                                // the runner's own failure on this cell
            {
                (ename, evalue) = Error(e);
            }
            Flush();
            return new CellRun(index, ename == null ? CellStatus.Ok : CellStatus.Error, _outputs, ename, evalue, watch.Elapsed);
        }

        (string, string) Error(Exception e)
        {
            if (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
            if (e is TargetInvocationException { InnerException: { } inner }) e = inner;
            var name = e.GetType().FullName ?? e.GetType().Name;
            var trace = e.ToString().Split('\n').Select(l => l.TrimEnd('\r'))
                .Where(l => !l.Contains("Microsoft.CodeAnalysis.Scripting") && !l.Contains("System.Runtime.CompilerServices") && !l.Contains("--- End of stack trace"))
                .Take(40).ToList();
            Flush();
            _outputs.Add(CellOutput.Error(name, e.Message, trace));
            return (name, e.Message);
        }

        DisplayedValue Display(object? value, string[] mimeTypes)
        {
            var output = Show(value, mimeTypes, result: false, null);
            var shown = value;
            return new DisplayedValue(Guid.NewGuid().ToString("N"), updated =>
            {
                // the output object is shared by the cell's run and the executed notebook: replace its content in place
                Count(shown, -1);
                Count(updated, +1);
                shown = updated;
                bool hadPlotly = output.DataText("text/html") is string old && PlotlyJs.HasInlineCopy(old);
                if (hadPlotly) PlotlyJs.ResetPage();                           // the page's copy of plotly.js stays in this output
                output.Data.Clear();
                foreach (var (mime, text) in Format(updated, mimeTypes)) output.Data[mime] = text;
            });
        }

        CellOutput Show(object? value, string[] mimeTypes, bool result, int? executionCount)
        {
            Count(value, +1);
            var formats = Format(value, mimeTypes);
            Flush();
            var output = CellOutput.Display(formats, result, executionCount);
            _outputs.Add(output);
            return output;
        }

        IReadOnlyDictionary<string, string> Format(object? value, string[] mimeTypes)
        {
            IReadOnlyDictionary<string, string> formats;
            try { formats = Html.Formats(value); }
            catch (Exception e)                                                // a broken formatter: show the value as text
            {
                _pendingErr.Append($"formatter for {value?.GetType().Name} failed: {(e.InnerException ?? e).Message}\n");
                formats = new Dictionary<string, string> { [Html.PlainMimeType] = value?.ToString() ?? "<null>" };
            }
            if (mimeTypes.Length > 0) formats = formats.Where(kv => mimeTypes.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
            return formats;
        }

        void Count(object? value, int delta)
        {
            if (value is not CheckResult r) return;
            if (r.Passed) _passed += delta;
            else if (r.NotImplemented) _notImplemented += delta;
            else _failed += delta;
        }

        /// <summary>Console text written so far becomes stream outputs (before a display, so the order is kept).</summary>
        void Flush()
        {
            Console.Out.Flush();
            Console.Error.Flush();
            if (_pendingOut.Length > 0) { _outputs.Add(CellOutput.Stream("stdout", _pendingOut.ToString())); _pendingOut.Clear(); }
            if (_pendingErr.Length > 0) { _outputs.Add(CellOutput.Stream("stderr", _pendingErr.ToString())); _pendingErr.Clear(); }
        }

        /// <summary>
        /// Checks the cell's #r "nuget: ..." lines (a package the runner cannot provide is an error naming it; another
        /// version than the program's is a note on stderr) and blanks #i lines (package sources; nothing is downloaded).
        /// </summary>
        string Prepare(string source)
        {
            var lines = source.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var m = Directive.Match(lines[i]);
                if (!m.Success) continue;
                if (m.Groups[1].Value == "i") { lines[i] = ""; continue; }
                if (!NotebookReferences.TryParseNuGet(m.Groups[2].Value, out var package, out var version)) continue;
                var host = NotebookReferences.HostAssemblyForPackage(package)
                    ?? throw new NotebookDirectiveException(
                        $"#r \"nuget: {package}\": the headless runner does not download packages and this program has no {package} assembly " +
                        "(it provides the packages it references itself: TorchSharp, TorchSharp-cpu, Microsoft.ML.Tokenizers, ...)");
                var note = package.StartsWith("libtorch-", StringComparison.OrdinalIgnoreCase) ? null : NotebookReferences.VersionNote(package, version, host);
                if (note != null) _pendingErr.Append(note).Append('\n');
            }
            return string.Join('\n', lines);
        }

        static readonly Regex Directive = new(@"^\s*#(r|i)\s+""([^""]*)""\s*$", RegexOptions.Compiled);

        static IEnumerable<MetadataReference> FrameworkReferences()
        {
            var frameworkDir = System.IO.Path.GetDirectoryName(typeof(object).Assembly.Location)!;
            return ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "")
                .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Where(p => System.IO.Path.GetDirectoryName(p) == frameworkDir && IsManaged(p))
                .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
        }

        static bool IsManaged(string path)
        {
            try { AssemblyName.GetAssemblyName(path); return true; }
            catch (Exception) { return false; }
        }
    }

    sealed class NotebookDirectiveException(string message) : Exception(message);

    /// <summary>Console.Out / Console.Error during a cell: text goes to the cell's pending stream output.</summary>
    sealed class CaptureWriter(StringBuilder target) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) { lock (target) target.Append(value); }
        public override void Write(string? value) { lock (target) target.Append(value); }
    }
}
