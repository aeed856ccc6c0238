namespace PicoGpt.Decode;

/// <summary>Which dtype the CLI decodes in when none is asked for.</summary>
public static class DecodeDefaults
{
    /// <summary>
    /// f16 where our f16 kernel is the fast one (AVX2 + FMA): there it halves the bytes a token reads, and its greedy ids
    /// were measured equal to float32's on the shipped model (5 prompts x 64 tokens) and on a GPT-2-layout model (tests
    /// in FastDecoderTests keep checking it). Elsewhere float32.
    /// </summary>
    public static DecodeDType Generation => Kernels.UseAvx2 ? DecodeDType.F16 : DecodeDType.F32;
}
