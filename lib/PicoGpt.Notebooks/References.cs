using System.Collections.Immutable;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace PicoGpt.Notebooks;

/// <summary>
/// How the runner resolves a notebook's #r directives without downloading anything:
/// <list type="bullet">
/// <item><c>#r "nuget: Name, Version"</c> resolves to the assembly of that name that the running program already has
/// (loaded, or beside it in its folder: TorchSharp, Microsoft.ML.Tokenizers, PicoGpt, ...). Backend packages that only
/// carry native libraries (TorchSharp-cpu, TorchSharp-cuda-*, libtorch-*) resolve to TorchSharp, as their package
/// dependency does in a kernel: the program's own native backend is used. The version is not enforced; a different
/// version than the program's is reported as a note on stderr.</item>
/// <item><c>#r "path.dll"</c> is relative to the notebook's folder. If the program already has an assembly of that
/// name (e.g. the notebook references ../lib/PicoGpt/bin/Debug/net10.0/PicoGpt.dll), the program's copy is used, even
/// if the path does not exist yet: the runner always tests the code it was built with, and the notebook's types are
/// the runner's types (so CheckResult values can be counted). Other DLLs are referenced from the path.</item>
/// </list>
/// </summary>
public sealed class NotebookReferences : MetadataReferenceResolver
{
    static readonly Regex NuGet = new(@"^\s*nuget\s*:\s*([^,\s]+)\s*(?:,\s*(\S+))?\s*$", RegexOptions.IgnoreCase | RegexOptions.Compiled);

    readonly string _directory;
    readonly Func<Assembly, bool> _onHostAssembly;

    /// <param name="directory">The notebook's folder (relative DLL paths start there).</param>
    /// <param name="onHostAssembly">Called for every host assembly handed to a script (the runner registers it with its loader).</param>
    public NotebookReferences(string directory, Func<Assembly, bool> onHostAssembly)
    {
        _directory = directory;
        _onHostAssembly = onHostAssembly;
    }

    /// <summary>Packages with only native assets, which the program's own backend stands in for.</summary>
    public static bool IsNativeBackend(string package) =>
        package.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase) || package.StartsWith("libtorch-", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses "nuget: Name, Version"; false if the reference is not a nuget reference.</summary>
    public static bool TryParseNuGet(string reference, out string package, out string? version)
    {
        var m = NuGet.Match(reference);
        package = m.Success ? m.Groups[1].Value : "";
        version = m.Success && m.Groups[2].Success ? m.Groups[2].Value : null;
        return m.Success;
    }

    /// <summary>The program's assembly for a package, or null if the runner cannot provide it.</summary>
    public static Assembly? HostAssemblyForPackage(string package) =>
        HostAssembly(IsNativeBackend(package) ? "TorchSharp" : package);

    /// <summary>A loaded assembly with this simple name, else one beside the program (loaded now, in the default context).</summary>
    public static Assembly? HostAssembly(string simpleName)
    {
        var loaded = AppDomain.CurrentDomain.GetAssemblies()
            .FirstOrDefault(a => !a.IsDynamic && string.Equals(a.GetName().Name, simpleName, StringComparison.OrdinalIgnoreCase));
        if (loaded != null) return loaded;
        var file = Path.Combine(AppContext.BaseDirectory, simpleName + ".dll");
        if (!File.Exists(file)) return null;
        try { return Assembly.Load(AssemblyName.GetAssemblyName(file)); }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException) { return null; }
    }

    /// <summary>A note when a notebook asks for a different package version than the program has, else null.</summary>
    public static string? VersionNote(string package, string? version, Assembly host)
    {
        if (version == null) return null;
        var have = host.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
                   ?? host.GetName().Version?.ToString(3);
        return have != null && !have.StartsWith(version, StringComparison.OrdinalIgnoreCase)
            ? $"note: the notebook asks for {package} {version}; the runner uses its own {host.GetName().Name} {have}"
            : null;
    }

    public override ImmutableArray<PortableExecutableReference> ResolveReference(string reference, string? baseFilePath, MetadataReferenceProperties properties)
    {
        Assembly? host;
        if (TryParseNuGet(reference, out var package, out _))
            host = HostAssemblyForPackage(package);
        else
        {
            var path = Path.GetFullPath(Path.Combine(_directory, reference));
            host = HostAssembly(Path.GetFileNameWithoutExtension(path));
            if (host == null)
                return File.Exists(path) ? [MetadataReference.CreateFromFile(path, properties)] : [];
        }
        return host == null || string.IsNullOrEmpty(host.Location) || !_onHostAssembly(host)
            ? []
            : [MetadataReference.CreateFromFile(host.Location, properties)];
    }

    public override bool ResolveMissingAssemblies => true;

    /// <summary>Dependencies of referenced assemblies (e.g. PicoGpt needs TorchSharp to compile): the program's copies.</summary>
    public override PortableExecutableReference? ResolveMissingAssembly(MetadataReference definition, AssemblyIdentity referenceIdentity)
    {
        // the runner's own assembly (the globals' home) must not pull PicoGpt in: as in a kernel, only #r does
        if (definition is PortableExecutableReference { FilePath: { } from } && from == typeof(NotebookGlobals).Assembly.Location) return null;
        var host = HostAssembly(referenceIdentity.Name);
        return host == null || string.IsNullOrEmpty(host.Location) || !_onHostAssembly(host) ? null : MetadataReference.CreateFromFile(host.Location);
    }

    public override bool Equals(object? other) => other is NotebookReferences r && r._directory == _directory;
    public override int GetHashCode() => _directory.GetHashCode();
}
