using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

public class TorchLoadTests
{
    [Fact]
    public void TorchSharpLoadsAndMultiplies()
    {
        var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var b = tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
        var c = a.matmul(b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
    }
}

public class GlibcxxRepairTests
{
    static string BuiltNative => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [LinuxFact]
    public void BuildOutputCopyIsMarkedWeakWhenTheSystemLacksTheVersion()
    {
        var bytes = File.ReadAllBytes(BuiltNative);
        long off = PicoGpt.Native.GlibcxxRepair.FindVernauxFlagsOffset(bytes, "GLIBCXX_3.4.32", out var flags);
        Assert.True(off > 0, "libLibTorchSharp.so should require GLIBCXX_3.4.32");
        if (PicoGpt.Native.GlibcxxRepair.SystemNeedsRepair())
            Assert.Equal(2, flags & 2);                                   // VER_FLG_WEAK set by the build
    }

    [LinuxFact]
    public void RepairSetsOnlyTheWeakBitAndIsIdempotent()
    {
        using var tmp = TestPaths.Temp();
        var copy = Path.Combine(tmp.Path, "libLibTorchSharp.so");
        var original = File.ReadAllBytes(BuiltNative);
        long off = PicoGpt.Native.GlibcxxRepair.FindVernauxFlagsOffset(original, "GLIBCXX_3.4.32", out _);
        original[off] &= unchecked((byte)~2);                             // an unrepaired file
        File.WriteAllBytes(copy, original);
        Assert.Equal(PicoGpt.Native.RepairOutcome.Repaired, PicoGpt.Native.GlibcxxRepair.RepairFile(copy));
        var repaired = File.ReadAllBytes(copy);
        Assert.Equal(original.Length, repaired.Length);
        var diffs = Enumerable.Range(0, original.Length).Where(i => original[i] != repaired[i]).ToList();
        Assert.Equal(new[] { (int)off }, diffs);                          // one byte: the flags field
        Assert.Equal(PicoGpt.Native.RepairOutcome.AlreadyRepaired, PicoGpt.Native.GlibcxxRepair.RepairFile(copy));
        Assert.Single(Directory.GetFiles(tmp.Path));                       // no temp file left
        Assert.Throws<InvalidDataException>(() => PicoGpt.Native.GlibcxxRepair.FindVernauxFlagsOffset(new byte[100], "x", out _));
    }
}
