using System.Runtime.CompilerServices;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Formatting;

namespace PicoGpt.Interactive;

/// <summary>
/// An output that a cell can redraw while it runs, such as a loss curve during training:
/// <c>var live = Live.Display(chart); ... live.Update(newChart);</c>.
/// Why not <c>display(chart).Update(...)</c>: in kernel 1.0.712001 <c>display()</c> publishes one DisplayedValue and
/// returns another, so its updates carry a display id that matches no output and every front end drops them (VS Code,
/// Jupyter and saved notebooks keep the first picture). <see cref="Display"/> publishes through the cell's invocation
/// context and keeps that value, so updates replace the output everywhere, and the saved notebook ends with the last one.
/// If the first picture carried the notebook's inline copy of plotly.js, every update carries it as well.
/// Outside a kernel (a lesson file run with <c>dotnet run</c>) the course's setup hands it <see cref="Outside"/>: a chart
/// goes to an HTML file beside the lesson, rewritten on every update. Without that hook (a program, a test) it shows
/// nothing and updates are ignored.
/// </summary>
public sealed class Live
{
    readonly Action<object?> _update;
    Live(Action<object?> update) => _update = update;

    /// <summary>Shows <paramref name="value"/> as an output of the running cell and returns a handle that redraws it.</summary>
    public static Live Display(object? value, [CallerFilePath] string file = "") =>
        KernelSetup.InKernel ? InKernel(value) : new Live(Outside?.Invoke(value, file) ?? (_ => { }));

    /// <summary>
    /// Set by the course's setup outside a kernel: shows a value in the terminal for the calling file and returns how to
    /// update it (the course's Terminal.LiveToFile).
    /// </summary>
    internal static Func<object?, string, Action<object?>>? Outside;

    /// <summary>
    /// Set by the course's setup: whether a formatted output carries the page's inline copy of plotly.js, and how to
    /// make the next chart carry it again. The bridge knows no charts; without these hooks updates carry what they carry.
    /// </summary>
    internal static Func<string, bool>? CarriesPageScript;
    internal static Action? ResetPageScript;

    /// <summary>Replaces the displayed output with <paramref name="value"/>, formatted the same way.</summary>
    public void Update(object? value) => _update(value);

    [MethodImpl(MethodImplOptions.NoInlining)]
    static Live InKernel(object? value)
    {
        if (KernelInvocationContext.Current is not { } context) return new Live(_ => { });
        DisplayedValue shown = context.Display(value);
        // If this output carries the page's copy of plotly.js (the notebook's first chart), its replacements must carry it
        // too, or the saved notebook would end with a chart that finds no plotly.js when reopened.
        bool carriesPlotly = CarriesPageScript is { } carries && shown.FormattedValues.Any(f => f.Value is string html && carries(html));
        return new Live(v =>
        {
            if (carriesPlotly) ResetPageScript?.Invoke();
            shown.Update(v);
        });
    }
}
