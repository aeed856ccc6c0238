using PicoGpt.Exercises;
using PicoGpt.Notebook;
using PicoGpt.Plots;
using TorchSharp;
using static TorchSharp.torch;

namespace PicoGpt.Tests;

/// <summary>What a learner sees: check boxes, tensor tables, token tables, probability bars, through the formatter convention.</summary>
public class NotebookDisplayTests
{
    [Fact]
    public void Display_types_carry_the_convention_attribute_the_kernel_looks_for()
    {
        foreach (var type in new[] { typeof(CheckResult), typeof(TensorView), typeof(TokenTable), typeof(ProbabilityTable), typeof(Chart) })
        {
            var attr = type.GetCustomAttributes(true).Single(a => a.GetType().Name == "TypeFormatterSourceAttribute");
            var sourceType = (Type)attr.GetType().GetProperty("FormatterSourceType")!.GetValue(attr)!;
            var source = Activator.CreateInstance(sourceType)!;                     // what .NET Interactive does
            var formatters = ((System.Collections.IEnumerable)sourceType.GetMethod("CreateTypeFormatters")!.Invoke(source, null)!).Cast<object>().ToList();
            var mimes = formatters.Select(f => (string)f.GetType().GetProperty("MimeType")!.GetValue(f)!).ToList();
            Assert.Equal(["text/html", "text/plain"], mimes);
            Assert.All(formatters, f => Assert.NotNull(f.GetType().GetMethod("Format", [typeof(object), typeof(TextWriter)])));
        }
    }

    [Fact]
    public void Negative_zero_shows_as_zero()
    {
        var view = Show.Tensor(Ops.CausalMask(2));                                // (1 - tril) * -1e10 has -0 on and below the diagonal
        Assert.Equal(["0", "-1e+10"], view.Slices[0].Cells[0]);
        Assert.Equal(["0", "0"], view.Slices[0].Cells[1]);
        Assert.Contains("max 0,", view.ToPlainText());
    }

    [Fact]
    public void Passing_check_renders_green_with_its_message()
    {
        var r = Checks.Gelu(Ops.Gelu);
        var formats = Html.Formats(r);
        Assert.Contains("#2e7d32", formats["text/html"]);                       // green
        Assert.Contains("picogpt-check-pass", formats["text/html"]);
        Assert.Contains("gelu: passed", formats["text/html"]);
        Assert.Contains(Html.Escape(r.Message), formats["text/html"]);
        Assert.StartsWith("✓ gelu passed", formats["text/plain"]);
    }

    [Fact]
    public void Failing_check_renders_red_with_case_and_hint()
    {
        var r = Checks.Gelu(x => x.relu());
        var html = Html.Render(r);
        Assert.Contains("#c62828", html);                                         // red
        Assert.Contains("picogpt-check-fail", html);
        Assert.Contains("<b>Hint:</b> this is ReLU", html);
        Assert.Contains("published gelu(1)", html);
        Assert.Contains("<details", html);
    }

    [Fact]
    public void Stub_check_renders_amber()
    {
        var html = Html.Render(Checks.Gelu(x => throw new NotImplementedException()));
        Assert.Contains("picogpt-check-todo", html);
        Assert.Contains("not implemented yet", html);
        Assert.DoesNotContain("#c62828", html);
    }

    [Fact]
    public void Values_without_a_formatter_fall_back_to_plain_text()
    {
        var formats = Html.Formats(42);
        Assert.Equal(["text/plain"], formats.Keys);
        Assert.Equal("42", formats["text/plain"]);
        Assert.Equal("<pre>a &lt;b&gt;</pre>", Html.Render("a <b>"));
        Assert.Equal("[1, 2, 3]", Html.Formats(new[] { 1, 2, 3 })["text/plain"]);
        Assert.Equal("<null>", Html.Formats(null)["text/plain"]);
    }

    [Fact]
    public void Tensor_view_shows_shape_dtype_device_and_truncates()
    {
        var view = Show.Tensor(torch.arange(200).reshape(2, 10, 10), maxRows: 4, maxCols: 4);
        var html = Html.Render(view);
        Assert.Contains("Tensor [2, 10, 10] int64 on cpu", html);
        Assert.Contains("[0, :, :]", html);
        Assert.Contains("[1, :, :]", html);
        Assert.Contains("⋮", html);
        Assert.Contains("…", html);
        Assert.Contains(">199<", html);                                           // last value of the last slice
        Assert.DoesNotContain(">55<", html);                                      // a middle value is elided
        var plain = view.ToPlainText();
        Assert.StartsWith("Tensor [2, 10, 10] int64 on cpu · min 0, max 199, mean 99.5", plain);
    }

    [Fact]
    public void Tensor_view_of_floats_and_scalars()
    {
        Assert.Contains("float64", Show.Tensor(torch.tensor(new[] { 0.5, 1e-5 })).ToPlainText());
        Assert.Contains("1e-5", Show.Tensor(torch.tensor(new[] { 0.5, 1e-5 })).ToPlainText());
        Assert.Contains("3.25", Show.Tensor(torch.tensor(3.25f)).ToPlainText());
    }

    [Fact]
    public void Token_table_shows_ids_and_visible_whitespace()
    {
        var t = Show.Tokens([15496, 11, 314, 716], ["Hello", ",", " I", " am"]);
        var html = Html.Render(t);
        Assert.Contains("15496", html);
        Assert.Contains("·I", html);
        Assert.Equal("4 tokens: 15496:Hello 11:, 314:·I 716:·am", t.ToPlainText());
        Assert.Throws<PicoGptException>(() => Show.Tokens([1, 2], ["a"]));
    }

    [Fact]
    public void Probability_table_lists_top_tokens_with_bars()
    {
        var probs = torch.tensor(new[] { 0.1, 0.6, 0.05, 0.25 });
        var t = Show.Probabilities(probs, id => new[] { "a", "b", "c", "d" }[id], top: 3);
        Assert.Equal([1, 3, 0], t.Rows.Select(r => r.Id));
        var html = Html.Render(t);
        Assert.Contains("60.00%", html);
        Assert.Contains("width:120px", html);                                     // 0.6 of a 200 px bar
        Assert.Equal(0.25, Show.NextTokens(torch.tensor(new[] { 0.0, 0.0, 0.0, 0.0 }), top: 1).Rows[0].Probability, 9);
    }
}
