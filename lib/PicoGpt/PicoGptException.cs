namespace PicoGpt;

/// <summary>
/// Every error the library raises for bad input (files, shapes, ids, arguments). The message is one line that names
/// the file or argument and what was expected.
/// </summary>
public class PicoGptException : Exception
{
    public PicoGptException(string message) : base(message) { }
    public PicoGptException(string message, Exception inner) : base(message, inner) { }
}
