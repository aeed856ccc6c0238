using PicoGpt.Benchmarks;
using PicoGpt.Tokenizers;

namespace PicoGpt.Tests;

public class BenchTests
{
    [Fact]
    public void ParallelChunkedEncodingEqualsOneCall()
    {
        var text = File.ReadAllText(Paths.TinyShakespeare);
        var tok = Gpt2Tokenizer.Default;
        var one = tok.Encode(text);
        Assert.Equal(338_025, one.Length);
        Assert.Equal(one, Bench.ParallelEncode(tok, text, minChunk: 4096));       // many chunks, many cut points
        Assert.Equal(tok.Encode("a.\n\nb c\n\n"), Bench.ParallelEncode(tok, "a.\n\nb c\n\n", minChunk: 1));
    }
}
