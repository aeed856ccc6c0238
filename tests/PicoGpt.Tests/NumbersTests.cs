using PicoGpt.Notebook;

namespace PicoGpt.Tests;

/// <summary>The one number formatter (<see cref="Numbers"/>) and the check-box classes shared by the check formatter and the runner.</summary>
public class NumbersTests
{
    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.12345678, "0.1235")]
    [InlineData(12345.6789, "12345.6789")]
    [InlineData(2.5, "2.5")]
    [InlineData(-1e10, "-1e+10")]
    [InlineData(1.23456e-4, "1.235e-4")]
    [InlineData(double.NaN, "nan")]
    [InlineData(double.NegativeInfinity, "-inf")]
    public void Values_are_written_short(double v, string expected) => Assert.Equal(expected, Numbers.Format(v));

    [Fact]
    public void Two_different_values_never_print_the_same()
    {
        // issue #18: a hint showed "9.99999e-4 against 9.99999e-4"
        Assert.Equal(("9.999991e-4", "9.999994e-4"), Numbers.Distinct(9.999991e-4, 9.999994e-4, decimals: 6));
        Assert.Equal(("0.1235", "0.125"), Numbers.Distinct(0.12345, 0.125));                  // already apart: no more digits
        Assert.Equal(("1.00001", "1.00002"), Numbers.Distinct(1.00001, 1.00002));
        Assert.Equal(("0.30000000000000004", "0.3"), Numbers.Distinct(0.1 + 0.2, 0.3));        // the last bit shows
        Assert.Equal(("2.5", "2.5"), Numbers.Distinct(2.5, 2.5));
        Assert.Equal(("nan", "nan"), Numbers.Distinct(double.NaN, double.NaN));
        Assert.Equal(("0", "0"), Numbers.Distinct(0.0, -0.0));                                // equal values
        Assert.Equal("0", Numbers.Format(-0.0));
        var (e, g) = Numbers.Distinct(1e-300, 1.0000000000001e-300);
        Assert.NotEqual(e, g);
    }

    [Fact]
    public void Byte_counts_use_decimal_units()
    {
        Assert.Equal("999 B", Numbers.Bytes(999));
        Assert.Equal("1.5 KB", Numbers.Bytes(1500));
        Assert.Equal("12.3 MB", Numbers.Bytes(12_345_678));
        Assert.Equal("1.23 GB", Numbers.Bytes(1_234_567_890));
    }

    [Fact]
    public void A_check_box_carries_the_classes_the_runner_counts()
    {
        Assert.Equal("picogpt-check picogpt-check-pass", CheckCss.Classes(passed: true, notImplemented: false));
        Assert.Equal("picogpt-check picogpt-check-fail", CheckCss.Classes(passed: false, notImplemented: false));
        Assert.Equal("picogpt-check picogpt-check-todo", CheckCss.Classes(passed: false, notImplemented: true));
    }
}
