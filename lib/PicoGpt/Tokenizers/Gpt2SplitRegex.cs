using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PicoGpt.Tokenizers;

/// <summary>
/// GPT-2's pre-tokenization regex, <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// made to behave in .NET as it does in OpenAI's encoder (Python <c>regex</c>) and in gpt-3-encoder (JavaScript,
/// <c>/u</c> flag): those match code points, .NET matches UTF-16 code units. Written literally, .NET sees the two halves
/// of a letter outside the BMP (𝐀 U+1D400, 𠀀 U+20000, 𐌰 U+10330) as "other" characters instead of a letter, and
/// splits " 𝐁𝐨𝐥𝐝" differently from GPT-2. So \p{L} and \p{N} are widened with the surrogate pairs of supplementary
/// letters and numbers, and the "other" class takes the remaining pairs whole. <c>\s</c> stays .NET's, which is
/// Unicode White_Space like Python's <c>regex</c> module (see Gpt2Tokenizer's notes for U+0085 and U+FEFF).
/// </summary>
internal static class Gpt2SplitRegex
{
    /// <summary>The pattern exactly as GPT-2 writes it (for documentation and tests).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The .NET pattern, built once per process.</summary>
    public static string Pattern { get; } = BuildPattern();

    /// <summary>The compiled regex, built once per process and shared by every <see cref="Gpt2Tokenizer"/>.</summary>
    public static Regex Regex { get; } = new(Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    static string BuildPattern()
    {
        string sl = SupplementaryPairs(c => c is >= UnicodeCategory.UppercaseLetter and <= UnicodeCategory.OtherLetter);
        string sn = SupplementaryPairs(c => c is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber);
        // Runs of BMP characters are matched by a plain class loop (fast); the alternation is only tried at a surrogate.
        string letters = $@"(?:\p{{L}}+|{sl})+";
        string numbers = $@"(?:\p{{N}}+|{sn})+";
        // "other": not white space, not a letter, not a number. BMP characters by class; supplementary characters as a
        // whole pair when the pair is neither a letter nor a number; a lone surrogate as itself (the tokenizer replaces
        // lone surrogates with U+FFFD before it gets here, but the regex must still cover every character).
        string others = $@"(?:[^\s\p{{L}}\p{{N}}\uD800-\uDFFF]+|(?!{sl}|{sn})[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF])+";
        return $@"'s|'t|'re|'ve|'m|'ll|'d| ?{letters}| ?{numbers}| ?{others}|\s+(?!\S)|\s+";
    }

    /// <summary>
    /// A regex alternation matching the UTF-16 surrogate pairs of every supplementary code point whose category
    /// satisfies <paramref name="include"/>, e.g. <c>(?:\uD835[\uDC00-\uDC54\uDC56-\uDC9C…]|[\uD840-\uD868][\uDC00-\uDFFF]|…)</c>.
    /// </summary>
    static string SupplementaryPairs(Func<UnicodeCategory, bool> include)
    {
        // For each high surrogate, the set of low surrogates (as a regex class body) that complete an included code point.
        var lowSets = new string?[0x400];
        var sb = new StringBuilder();
        for (int hi = 0; hi < 0x400; hi++)
        {
            sb.Clear();
            int runStart = -1;
            for (int lo = 0; lo <= 0x400; lo++)
            {
                bool inc = lo < 0x400 && include(CharUnicodeInfo.GetUnicodeCategory(0x10000 + (hi << 10) + lo));
                if (inc && runStart < 0) runStart = lo;
                else if (!inc && runStart >= 0)
                {
                    AppendRange(sb, 0xDC00 + runStart, 0xDC00 + lo - 1);
                    runStart = -1;
                }
            }
            lowSets[hi] = sb.Length == 0 ? null : sb.ToString();
        }
        // Consecutive high surrogates with the same low set share one alternative.
        var alts = new List<string>();
        for (int hi = 0; hi < 0x400;)
        {
            if (lowSets[hi] is not { } set) { hi++; continue; }
            int end = hi;
            while (end + 1 < 0x400 && lowSets[end + 1] == set) end++;
            var highs = new StringBuilder();
            AppendRange(highs, 0xD800 + hi, 0xD800 + end);
            alts.Add((hi == end ? highs.ToString() : "[" + highs + "]") + "[" + set + "]");
            hi = end + 1;
        }
        return "(?:" + string.Join("|", alts) + ")";
    }

    static void AppendRange(StringBuilder sb, int from, int to)
    {
        sb.Append($@"\u{from:X4}");
        if (to > from) sb.Append(to == from + 1 ? "" : "-").Append($@"\u{to:X4}");
    }
}
