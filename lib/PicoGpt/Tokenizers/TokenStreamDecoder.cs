using System.Text;

namespace PicoGpt.Tokenizers;

/// <summary>
/// Incremental decoding for generation. GPT-2 tokens are byte strings, so one character (an emoji, a CJK character)
/// can be split over several tokens; <see cref="Push"/> returns only complete UTF-8 text and holds the bytes of a
/// split character until the rest arrives. Concatenating every <see cref="Push"/> result and <see cref="Flush"/>
/// gives exactly <see cref="ITokenizer.Decode"/> of the same ids. Not thread-safe: one decoder per stream.
/// </summary>
public sealed class TokenStreamDecoder
{
    readonly byte[][] _tokenBytes;
    readonly string _kind;
    readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    char[] _chars = new char[64];

    internal TokenStreamDecoder(byte[][] tokenBytes, string kind)
    {
        _tokenBytes = tokenBytes;
        _kind = kind;
    }

    /// <summary>
    /// Adds one token and returns the text it completes: "" while a character is still incomplete. Bytes that can
    /// never become valid UTF-8 come out as U+FFFD, as in <see cref="ITokenizer.Decode"/>.
    /// </summary>
    public string Push(int id)
    {
        TokenText.CheckId(id, _tokenBytes.Length, _kind);
        return Convert(_tokenBytes[id], flush: false);
    }

    /// <summary>Ends the stream: returns the held bytes of an unfinished character as U+FFFD (or "" when none) and resets.</summary>
    public string Flush() => Convert(ReadOnlySpan<byte>.Empty, flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int need = _utf8.GetCharCount(bytes, flush: false) + 4; // +4: held bytes that complete or fail now
        if (_chars.Length < need) _chars = new char[Math.Max(need, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}
