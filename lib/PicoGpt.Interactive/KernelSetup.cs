using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.CSharp;

namespace PicoGpt.Interactive;

/// <summary>
/// Prepares the running C# kernel (1.0.712001, the tool pinned in .config/dotnet-tools.json) for the course. Only called
/// when the kernel's assemblies are loaded; every step fails soft (a kernel of another version just skips it).
/// </summary>
internal static class KernelSetup
{
    /// <summary>True inside a .NET Interactive C# kernel (its assemblies are loaded).</summary>
    internal static bool InKernel =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.DotNet.Interactive.CSharp");

    static readonly FieldInfo? ScriptOptionsField =
        typeof(CSharpKernel).GetField("_scriptOptions", BindingFlags.Instance | BindingFlags.NonPublic);

    static readonly ConditionalWeakTable<CSharpKernel, string> Prepared = new();

    /// <summary>
    /// Sets up the C# kernel running this cell and says what each guard did, in the words of the setup line:
    /// <see cref="SetupReport.AllReady"/> when all are on; otherwise which kernel internal (reached by reflection) is missing and what
    /// is therefore not protected. Null outside a .NET Interactive kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]                       // kernel types stay out of callers' JIT
    internal static string? Run()
    {
        if (!InKernel) return null;
        if (KernelInvocationContext.Current?.HandlingKernel is not CSharpKernel kernel)
            return "kernel not prepared (this cell does not run in a C# kernel): .matmul not checked, a bare 0 read as a dtype not warned about";
        if (Prepared.TryGetValue(kernel, out var said)) return said;
        var report = SetupReport.Describe(ScriptOptionsField != null && QuietCompilerNotes(kernel), MatMulGuard.CanRewrite);
        if (Options(kernel) != null)
        {
            MatMulGuard.Install(kernel, () => Options(kernel));
            MissingExercise.Install(kernel, () => Options(kernel));      // check cells of an exercise that did not compile
        }
        Prepared.Add(kernel, report);
        return report;
    }

    /// <summary>
    /// TorchSharp 0.107 references System.Runtime.Numerics 8.0 and the kernel runs on 10.0, so every cell that binds a
    /// TorchSharp member taking a Complex prints "warning CS1701: Assuming assembly reference ... matches identity".
    /// The kernel compiles each cell with its private ScriptOptions and publishes every diagnostic, warnings too, which
    /// Jupyter writes to stderr; #pragma warning disable does not reach unification warnings. Roslyn's ScriptOptions has
    /// no per-diagnostic switch, only a warning level: CS1701 is level 2 and CS1702 level 3, so level 1 silences them
    /// (and the other level 2-4 notes, such as unreachable code after a learner's stub), keeping the level-1 warnings.
    /// </summary>
    internal static bool QuietCompilerNotes(CSharpKernel kernel)
    {
        if (Options(kernel) is not { } options) return false;
        if (options.WarningLevel > 1) ScriptOptionsField!.SetValue(kernel, options.WithWarningLevel(1));
        return true;
    }

    /// <summary>The kernel's current script options (null if this kernel version keeps them elsewhere).</summary>
    internal static ScriptOptions? Options(CSharpKernel kernel) => ScriptOptionsField?.GetValue(kernel) as ScriptOptions;
}

/// <summary>The setup line's words for the guards (no kernel types here, so tests can call it outside a kernel).</summary>
internal static class SetupReport
{
    /// <summary>What the setup line says when every guard is on.</summary>
    internal const string AllReady = "kernel ready (.matmul checked)";

    /// <summary>
    /// The setup line's words for what could be installed: <paramref name="options"/>, the kernel's private
    /// CSharpKernel._scriptOptions (the compiler notes and both checks need it: the checks compile the cell with the
    /// kernel's references); <paramref name="rewrite"/>, a settable SubmitCode.Code (the matmul check replaces the cell's code).
    /// </summary>
    internal static string Describe(bool options, bool rewrite) => (options, rewrite) switch
    {
        (true, true) => AllReady,
        (true, false) => "kernel partly ready: .matmul NOT checked (this kernel's SubmitCode.Code has no setter), so a .matmul " +
                         "on shapes that do not fit ends the kernel: multiply with Ops.MatMul(a, b); bare-0 warnings on",
        (false, _) => "kernel NOT prepared: CSharpKernel._scriptOptions is missing in this kernel, so .matmul is NOT checked " +
                       "(a .matmul on shapes that do not fit ends the kernel: multiply with Ops.MatMul(a, b)), a bare 0 read as a " +
                       "dtype is not warned about, and TorchSharp cells show compiler notes (CS1701)",
    };
}
