using System.Globalization;

namespace PicoGpt;

/// <summary>
/// How numbers are written for people, in one place: values (<see cref="Format"/>), two values that must not look the
/// same when they differ (<see cref="Distinct"/>, for "expected ... got ..."), and byte counts (<see cref="Bytes"/>).
/// Invariant culture throughout.
/// </summary>
public static class Numbers
{
    /// <summary>
    /// A value with at most <paramref name="decimals"/> decimals, trailing zeros dropped: fixed-point between 1e-3 and 1e5
    /// (0.1235, 12345.6789), scientific outside it with <paramref name="decimals"/> - 1 decimals (1.235e-4, -1e+10);
    /// 0 (and -0) as "0", NaN as "nan", infinities as "inf" and "-inf".
    /// </summary>
    public static string Format(double v, int decimals = 4)
    {
        if (v == 0) return "0";                                                // also -0, e.g. a causal mask's visible cells
        if (double.IsNaN(v)) return "nan";
        if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        var a = Math.Abs(v);
        return a < 1e-3 || a >= 1e5
            ? v.ToString("0." + new string('#', Math.Max(decimals - 1, 0)) + "e+0", CultureInfo.InvariantCulture)
            : v.ToString("0." + new string('#', Math.Max(decimals, 0)), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Two values written with the fewest decimals (at least <paramref name="decimals"/>) that tell them apart, so a check
    /// never says "expected 9.99999e-4, got 9.99999e-4". Equal values (NaN with NaN too) are written alike, at <paramref name="decimals"/>.
    /// </summary>
    public static (string Expected, string Got) Distinct(double expected, double got, int decimals = 4)
    {
        var pair = (Format(expected, decimals), Format(got, decimals));
        if (expected.Equals(got)) return pair;
        for (int d = decimals + 1; pair.Item1 == pair.Item2 && d <= 24; d++)
            pair = (Format(expected, d), Format(got, d));
        return pair.Item1 == pair.Item2                                        // 0 and -0: no decimals tell them apart
            ? (expected.ToString("R", CultureInfo.InvariantCulture), got.ToString("R", CultureInfo.InvariantCulture))
            : pair;
    }

    /// <summary>A byte count in decimal units: 999 B, 1.5 KB, 12.3 MB, 1.23 GB.</summary>
    public static string Bytes(long n) => n switch
    {
        < 1000 => $"{n} B",
        < 1_000_000 => (n / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " KB",
        < 1_000_000_000 => (n / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB",
        _ => (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB",
    };
}
