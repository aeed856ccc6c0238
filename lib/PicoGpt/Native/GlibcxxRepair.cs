// Repairs TorchSharp 0.107's libLibTorchSharp.so on systems whose libstdc++ lacks GLIBCXX_3.4.32
// (Debian 12, Ubuntu 22.04). See docs/torchsharp-glibcxx.md: the only symbol bound at that version
// is a GCC 13 iostream-init marker with no relocation, so marking the version requirement weak
// (VER_FLG_WEAK in its Elf64_Vernaux) lets glibc's loader accept the library. A 2-byte write,
// done on a temp copy and renamed into place.
//
// This file is compiled twice: into PicoGpt (runtime repair of the NuGet-cache copy that notebooks load)
// and by MSBuild's RoslynCodeTaskFactory (build/TorchSharpNative.targets) for the build output.
// The MSBuild task class below is excluded from the library by the PICOGPT_LIB constant.
#nullable enable
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace PicoGpt.Native
{
    public enum RepairOutcome { NotNeeded, AlreadyRepaired, Repaired, NoSuchVersion }

    public static class GlibcxxRepair
    {
        public const string MissingVersion = "GLIBCXX_3.4.32";
        const ushort VerFlgWeak = 0x2;
        const uint ShtGnuVerneed = 0x6ffffffe;

        static readonly string[] LibStdCxxCandidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };

        /// <summary>The system libstdc++ path, or null when none of the usual places has one.</summary>
        public static string? FindSystemLibStdCxx()
        {
            foreach (var p in LibStdCxxCandidates) if (File.Exists(p)) return p;
            return null;
        }

        /// <summary>True when this is Linux and the system libstdc++ does not define GLIBCXX_3.4.32.</summary>
        public static bool SystemNeedsRepair()
        {
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return false;
            var lib = FindSystemLibStdCxx();
            if (lib == null) return false;
            return !ContainsAscii(File.ReadAllBytes(lib), MissingVersion + "\0");
        }

        static bool ContainsAscii(byte[] haystack, string needle)
        {
            // netstandard-compatible search (this file is also compiled by MSBuild's task factory)
            var n = Encoding.ASCII.GetBytes(needle);
            for (int i = 0; i + n.Length <= haystack.Length; i++)
            {
                if (haystack[i] != n[0]) continue;
                int j = 1;
                while (j < n.Length && haystack[i + j] == n[j]) j++;
                if (j == n.Length) return true;
            }
            return false;
        }

        /// <summary>Finds the offset of the vna_flags field of the Vernaux entry naming <paramref name="version"/>, or -1.</summary>
        public static long FindVernauxFlagsOffset(byte[] elf, string version, out ushort flags)
        {
            flags = 0;
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a little-endian ELF64 file");
            ulong shoff = BitConverter.ToUInt64(elf, 0x28);
            int shentsize = BitConverter.ToUInt16(elf, 0x3A);
            int shnum = BitConverter.ToUInt16(elf, 0x3C);
            if (shoff == 0 || shentsize < 64 || shoff + (ulong)(shentsize * shnum) > (ulong)elf.Length)
                throw new InvalidDataException("section header table outside the file");
            for (int i = 0; i < shnum; i++)
            {
                long sh = (long)shoff + (long)i * shentsize;
                if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
                long secOff = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
                long secSize = (long)BitConverter.ToUInt64(elf, (int)sh + 0x20);
                int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
                long strSh = (long)shoff + (long)link * shentsize;
                long strOff = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x18);
                long vn = secOff;
                while (vn >= secOff && vn + 16 <= secOff + secSize)
                {
                    int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                    long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                    for (int a = 0; a < cnt && aux + 16 <= elf.Length; a++)
                    {
                        uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                        if (ReadCString(elf, strOff + name) == version)
                        {
                            flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                            return aux + 4;
                        }
                        uint next = BitConverter.ToUInt32(elf, (int)aux + 12);
                        if (next == 0) break;
                        aux += next;
                    }
                    uint vnNext = BitConverter.ToUInt32(elf, (int)vn + 12);
                    if (vnNext == 0) break;
                    vn += vnNext;
                }
            }
            return -1;
        }

        static string ReadCString(byte[] b, long off)
        {
            long end = off;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)off, (int)(end - off));
        }

        /// <summary>Marks the GLIBCXX_3.4.32 requirement of <paramref name="path"/> weak (temp file + rename). Idempotent.</summary>
        public static RepairOutcome RepairFile(string path)
        {
            var bytes = File.ReadAllBytes(path);
            long off = FindVernauxFlagsOffset(bytes, MissingVersion, out var flags);
            if (off < 0) return RepairOutcome.NoSuchVersion;
            if ((flags & VerFlgWeak) != 0) return RepairOutcome.AlreadyRepaired;
            flags |= VerFlgWeak;
            // copy (keeps the file mode), patch the copy, then rename it over the original
            var tmp = path + ".picogpt-tmp-" + Guid.NewGuid().ToString("N");
            File.Copy(path, tmp);
            try
            {
                using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.Write))
                {
                    fs.Position = off;
                    fs.WriteByte((byte)(flags & 0xff));
                    fs.WriteByte((byte)(flags >> 8));
                }
                File.Replace(tmp, path, null);
            }
            finally { if (File.Exists(tmp)) File.Delete(tmp); }
            return RepairOutcome.Repaired;
        }

        /// <summary>Repairs the file only when the system needs it.</summary>
        public static RepairOutcome RepairIfNeeded(string path) =>
            SystemNeedsRepair() ? RepairFile(path) : RepairOutcome.NotNeeded;
    }
}

#if !PICOGPT_LIB
/// <summary>MSBuild task: repair every libLibTorchSharp.so given in Files.</summary>
public class RepairTorchSharpNative : Microsoft.Build.Utilities.Task
{
    public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

    public override bool Execute()
    {
        if (!PicoGpt.Native.GlibcxxRepair.SystemNeedsRepair()) return true;
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                var outcome = PicoGpt.Native.GlibcxxRepair.RepairFile(path);
                if (outcome == PicoGpt.Native.RepairOutcome.Repaired)
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        $"picogpt: marked {PicoGpt.Native.GlibcxxRepair.MissingVersion} weak in {path} (system libstdc++ lacks it)");
            }
            catch (Exception e)
            {
                Log.LogWarning($"picogpt: could not repair {path}: {e.Message}");
            }
        }
        return true;
    }
}
#endif
