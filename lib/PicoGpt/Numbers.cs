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

    /// <summary>
    /// A number as a learner reads it in a check's expected and got: 0; whole numbers from 1e4 up to 1e10 in full with thousands separators (a
    /// parameter count, 124,439,808); 1e-3 to 1e4 with up to 6 decimals; else 6 significant digits in exponent form
    /// (-7.0246e-5, a mask's -1e10), so two different values never print the same.
    /// </summary>
    public static string Check(double v) =>
        v == 0 ? "0"
        : Math.Abs(v) >= 1e4 && Math.Abs(v) < 1e10 && v == Math.Floor(v) ? v.ToString("#,0", CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 1e-3 && Math.Abs(v) < 1e4 ? v.ToString("0.######", CultureInfo.InvariantCulture)
        : v.ToString("0.#####e0", CultureInfo.InvariantCulture);

    /// <summary>
    /// Two numbers printed with as many digits as it takes to tell them apart (Check's 6 significant digits print
    /// 9.999994e-4 and 9.999986e-4 both as 9.99999e-4).
    /// </summary>
    public static (string A, string B) CheckApart(double a, double b)
    {
        string x = Check(a), y = Check(b);
        if (x != y || a.Equals(b) || !double.IsFinite(a) || !double.IsFinite(b)) return (x, y);
        for (int digits = 7; digits <= 17; digits++)
        {
            x = Digits(a, digits); y = Digits(b, digits);
            if (x != y) return (x, y);
        }
        return (a.ToString("R", CultureInfo.InvariantCulture), b.ToString("R", CultureInfo.InvariantCulture));
    }

    static string Digits(double v, int digits) =>
        Math.Abs(v) >= 1e-3 && Math.Abs(v) < 1e4 ? v.ToString("0." + new string('#', digits), CultureInfo.InvariantCulture)
        : v.ToString("0." + new string('#', digits - 1) + "e0", CultureInfo.InvariantCulture);
}
