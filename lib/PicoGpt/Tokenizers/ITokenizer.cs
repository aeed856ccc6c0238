namespace PicoGpt.Tokenizers;

/// <summary>
/// Text to token ids and back. Two kinds: <c>"gpt2"</c> (<see cref="Gpt2Tokenizer"/>, GPT-2's byte-level BPE) and
/// <c>"char"</c> (<see cref="CharTokenizer"/>, one id per character). Load either from a model folder with
/// <see cref="Tokenizer.Load"/>; GPT-2's own is also built in as <see cref="Gpt2Tokenizer.Default"/>.
/// </summary>
public interface ITokenizer
{
    /// <summary>"gpt2" or "char".</summary>
    string Kind { get; }

    /// <summary>Number of ids; valid ids are 0..VocabSize-1.</summary>
    int VocabSize { get; }

    /// <summary>The id of &lt;|endoftext|&gt; (50256 for GPT-2), or null when the vocabulary has none.</summary>
    int? EndOfTextId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="allowSpecial"/> the text "&lt;|endoftext|&gt;" becomes
    /// <see cref="EndOfTextId"/>; without it, it is encoded as ordinary text.
    /// </summary>
    int[] Encode(string text, bool allowSpecial = false);

    /// <summary>The text of a sequence of ids. Throws <see cref="PicoGptException"/> for an id outside [0, VocabSize).</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>
    /// Display text of one token for labels and plots: lossy, with control characters escaped ("\n" is shown as
    /// <c>\n</c>) and bytes that are not complete UTF-8 shown as <c>\xNN</c>.
    /// </summary>
    string TokenLabel(int id);

    /// <summary>A decoder for generation: push ids one at a time and get back only complete characters.</summary>
    TokenStreamDecoder NewStreamDecoder();

    /// <summary>Write the tokenizer's files (vocab.json, and merges.txt for GPT-2) into <paramref name="dir"/>, created if needed.</summary>
    void Save(string dir);
}
