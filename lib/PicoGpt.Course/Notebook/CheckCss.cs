namespace PicoGpt.Notebook;

/// <summary>
/// The CSS classes of a check result's HTML box: what the check formatter writes (<c>class="picogpt-check picogpt-check-pass"</c>)
/// and what the notebook runner counts checks by. One place, so the two cannot drift apart.
/// </summary>
public static class CheckCss
{
    /// <summary>Every check result's box.</summary>
    public const string Box = "picogpt-check";
    public const string Passed = Box + "-pass";
    public const string Failed = Box + "-fail";
    /// <summary>The exercise is still a stub (NotImplementedException).</summary>
    public const string NotImplemented = Box + "-todo";

    /// <summary>The class attribute's value for a result: <c>"picogpt-check picogpt-check-pass"</c> and so on.</summary>
    public static string Classes(bool passed, bool notImplemented) =>
        $"{Box} {(passed ? Passed : notImplemented ? NotImplemented : Failed)}";
}
