namespace PicoGpt.Tests;

/// <summary>
/// A test that only means something on Linux (an ELF file, a /bin/sh script): elsewhere it is reported as skipped, with
/// the reason, rather than returning early and counting as passed. (xunit 2.9 has no dynamic skip; setting Skip in the
/// attribute's constructor is its documented way to skip by condition.)
/// </summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Linux only";
    }
}
