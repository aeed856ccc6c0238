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

    static readonly ConditionalWeakTable<CSharpKernel, object> Prepared = new();

    /// <summary>Sets up the C# kernel running this cell; false when there is none or it could not be prepared.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]                       // kernel types stay out of callers' JIT
    internal static bool Run()
    {
        if (KernelInvocationContext.Current?.HandlingKernel is not CSharpKernel kernel) return false;
        if (Prepared.TryGetValue(kernel, out _)) return true;
        if (!QuietCompilerNotes(kernel)) return false;
        MatMulGuard.Install(kernel, () => Options(kernel));
        Prepared.Add(kernel, new object());
        return true;
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
