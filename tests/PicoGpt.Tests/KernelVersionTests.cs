using System.Diagnostics;
using System.Text.RegularExpressions;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>
/// The kernel the notebooks run in (the tool pinned in .config/dotnet-tools.json) and the .NET Interactive packages the
/// bridge is compiled against (Directory.Packages.props) must be the same build: the bridge reaches kernel internals by
/// reflection and runs on the kernel's own assemblies. The tool and the packages have different version schemes
/// (tool 1.0.712001, packages 1.0.0-beta.26120.1), but their assemblies carry the same file version
/// (Arcade's 1.0.YY.DDDNN from build YYDDD.N: 1.0.26.12001).
/// </summary>
public class KernelVersionTests
{
    /// <summary>The file version Arcade gives the assemblies of a package version 1.0.0-beta.YYDDD.N.</summary>
    static string FileVersion(string packageVersion)
    {
        var m = Regex.Match(packageVersion, @"^(\d+)\.(\d+)\.\d+-[a-z]+\.(\d\d)(\d{3})\.(\d+)$");
        Assert.True(m.Success, $"unexpected package version {packageVersion}");
        return $"{m.Groups[1].Value}.{m.Groups[2].Value}.{int.Parse(m.Groups[3].Value)}.{int.Parse(m.Groups[4].Value) * 100 + int.Parse(m.Groups[5].Value)}";
    }

    [Fact]
    public void The_arcade_file_version_is_read_from_a_package_version() =>
        Assert.Equal("1.0.26.12001", FileVersion("1.0.0-beta.26120.1"));

    [Fact]
    public void The_pinned_kernel_tool_ships_the_assemblies_of_the_compile_time_packages()
    {
        var props = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Packages.props"));
        var versions = Regex.Matches(props, @"<PackageVersion Include=""(Microsoft\.DotNet\.Interactive[\w.]*)"" Version=""([^""]+)""")
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        Assert.Contains("Microsoft.DotNet.Interactive.CSharp", versions.Keys);
        var package = Assert.Single(versions.Values.Distinct());                       // all .NET Interactive packages alike

        var tool = KernelTool.PinnedVersion(Path.Combine(TestPaths.RepoRoot, ".config", "dotnet-tools.json"));
        KernelTool.StartInfo(TestPaths.RepoRoot);                                       // restores the tool if needed
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var toolDir = Path.Combine(packages, KernelTool.PackageId, tool);
        var kernelDll = Directory.GetFiles(toolDir, "Microsoft.DotNet.Interactive.CSharp.dll", SearchOption.AllDirectories).FirstOrDefault();
        Assert.True(kernelDll != null, $"Microsoft.DotNet.Interactive.CSharp.dll not found under {toolDir}");
        var shipped = FileVersionInfo.GetVersionInfo(kernelDll).FileVersion;
        Assert.True(FileVersion(package) == shipped,
            $"the kernel tool {tool} ships Microsoft.DotNet.Interactive.CSharp {shipped}, but the bridge is compiled against the packages {package} " +
            $"(file version {FileVersion(package)}): pin the packages of the tool's build in Directory.Packages.props, or the tool of the packages' build");
        // and the one package whose assemblies the tests load agrees
        var documents = FileVersionInfo.GetVersionInfo(Path.Combine(AppContext.BaseDirectory, "Microsoft.DotNet.Interactive.Documents.dll")).FileVersion;
        Assert.Equal(shipped, documents);
    }
}
