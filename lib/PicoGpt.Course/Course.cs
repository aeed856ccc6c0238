using System.Reflection;
using System.Runtime.CompilerServices;
using PicoGpt.Interactive;
using PicoGpt.Native;
using TorchSharp;

namespace PicoGpt;

/// <summary>
/// What the notebooks' setup cell calls. In a .NET Interactive C# kernel (VS Code Polyglot Notebooks, Jupyter) it also
/// prepares the kernel for the course: see <see cref="Setup"/>.
/// </summary>
public static class Course
{
    /// <summary>
    /// Loads TorchSharp's native libraries (<see cref="TorchRuntime.Initialize"/>) and, inside a .NET Interactive C#
    /// kernel: turns off the compiler's assembly-unification notes that every TorchSharp cell would otherwise show as
    /// red stderr (<see cref="KernelSetup.QuietCompilerNotes"/>), and checks the shapes of every <c>.matmul</c> in later
    /// cells so a shape mistake throws instead of ending the kernel (<see cref="MatMulGuard"/>), warning too when a literal 0
    /// is read as a dtype (<see cref="ZeroAsDtype"/>: <c>x.sum(0)</c>). Safe to call again.
    /// Returns one line saying what is ready; when a kernel internal a guard needs is missing (another kernel version),
    /// the line names it and what is not protected (<see cref="SetupReport.Describe"/>).
    /// </summary>
    public static string Setup()
    {
        TorchRuntime.Initialize();
        var kernel = "";
        if (KernelSetup.InKernel)
        {
            Live.CarriesPageScript = Plots.PlotlyJs.HasInlineCopy;
            Live.ResetPageScript = Plots.PlotlyJs.ResetPage;
            kernel = KernelSetup.Run() is { } said ? ", " + said : "";
            AnswerBook.LibraryCode = name => Answers.Library.TryGetValue(name, out var code) ? code : null;
            AnswerBook.Install();                                  // passing answers saved, Answers.Load(...) cells served
        }
        else Live.Outside = Notebook.Terminal.LiveToFile;             // a lesson: Live.Display writes its chart to a file
        var (torchSharp, _) = TorchRuntime.Versions();
        var device = TorchRuntime.DefaultDevice;
        return $"PicoGPT.NET: TorchSharp {torchSharp}, device {device.type.ToString().ToLowerInvariant()}, {torch.get_num_threads()} threads{kernel}";
    }
}
