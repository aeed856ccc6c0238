using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using PicoGpt.Exercises;
using PicoGpt.Interactive;
using TorchSharp;

namespace PicoGpt.Tests;

/// <summary>
/// Answers carried between notebooks (<see cref="AnswerBook"/>, <see cref="Answers"/>): the pieces the kernel middleware
/// is made of, run on real C# script sessions (Roslyn's scripting, as the kernel compiles cells), with the real checks.
/// The middleware itself runs in the notebook tests (notebook 05 and 12 load answers).
/// </summary>
public class AnswersTests
{
    static readonly ScriptOptions Options = ScriptOptions.Default
        .AddReferences(typeof(torch).Assembly, typeof(Ops).Assembly, typeof(Checks).Assembly, typeof(AnswerBook).Assembly)
        .AddImports("System", "System.Linq", "System.Collections.Generic");

    const string Setup = "using TorchSharp;\nusing static TorchSharp.torch;\nusing PicoGpt;\nusing PicoGpt.Exercises;\n";

    /// <summary>Runs cells one after another as the kernel does, returning the last state.</summary>
    static ScriptState<object> Cells(params string[] cells)
    {
        ScriptState<object>? state = null;
        foreach (var cell in cells)
            state = state == null ? CSharpScript.RunAsync(cell, Options).Result : state.ContinueWithAsync(cell, Options).Result;
        return state!;
    }

    static ScriptState<object> Then(ScriptState<object> state, string cell) => state.ContinueWithAsync(cell, Options).Result;

    /// <summary>What the middleware saves after the last cell: method name -> file text.</summary>
    static Dictionary<string, string> Recorded(ScriptState<object> state)
    {
        var compilation = state.Script.GetCompilation();
        var saved = new Dictionary<string, string>();
        foreach (var (method, result) in AnswerBook.CheckedMethods(compilation, v => v == null ? state.ReturnValue : state.GetVariable(v)?.Value))
            if (result is CheckResult { Passed: true } && AnswerBook.AnswerFile(compilation, method) is { } text) saved[method.Name] = text;
        return saved;
    }

    static string? FirstError(ScriptState<object>? state, string code)
    {
        var script = state != null ? state.Script.ContinueWith(code, Options) : CSharpScript.Create(code, Options);
        return script.GetCompilation().GetDiagnostics().FirstOrDefault(d => d.Severity == DiagnosticSeverity.Error)?.Id;
    }

    const string StableSoftmax = """
        Tensor Softmax(Tensor x) // [..., n] -> [..., n]
        {
            var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp();
            return e / e.sum(-1, keepdim: true);
        }
        """;

    [Fact]
    public void A_passing_check_saves_the_method_with_its_helpers_and_the_usings()
    {
        var state = Cells(Setup,
            "Tensor Shift(Tensor x) => x - x.amax(new long[] { -1 }, keepdim: true); // a helper of the learner's",
            "Tensor Softmax(Tensor x) { var e = Shift(x).exp(); return e / e.sum(-1, keepdim: true); }",
            "var softmaxCheck = Checks.Softmax(Softmax);\nsoftmaxCheck");
        var saved = Recorded(state);
        Assert.Equal(["Softmax"], saved.Keys);
        var text = saved["Softmax"];
        Assert.Contains("using static TorchSharp.torch;", text);
        Assert.Contains("Tensor Shift(Tensor x)", text);
        Assert.True(text.IndexOf("Tensor Shift(") < text.IndexOf("Tensor Softmax("), "helpers come before the method that calls them");
        Assert.DoesNotContain("Checks.Softmax", text);
    }

    [Fact]
    public void A_check_as_the_cells_value_is_recorded_too() =>
        Assert.Equal(["Softmax"], Recorded(Cells(Setup, StableSoftmax, "Checks.Softmax(Softmax)")).Keys);

    [Fact]
    public void A_failing_check_saves_nothing()
    {
        var state = Cells(Setup, "Tensor Softmax(Tensor x) { var e = x.exp(); return e / e.sum(); }", "var c = Checks.Softmax(Softmax);");
        Assert.False(((CheckResult)state.GetVariable("c").Value).Passed);
        Assert.Empty(Recorded(state));
    }

    [Fact]
    public void A_method_called_inside_a_lambda_passed_to_a_check_is_recorded() =>
        Assert.Equal(["Softmax"], Recorded(Cells(Setup, StableSoftmax, "var c = Checks.Softmax(x => Softmax(x));")).Keys);

    [Theory]
    [InlineData("Answers.Load(\"Softmax\", \"Gelu\")", "Softmax,Gelu")]
    [InlineData("Answers.Load(\"Softmax\");", "Softmax")]
    [InlineData("PicoGpt.Answers.Load(\"Gpt2\", \"Gpt2\")", "Gpt2")]
    [InlineData("var a = Answers.Load(\"Softmax\");", null)]
    [InlineData("Answers.Load(name)", null)]
    [InlineData("Answers.Load(\"Softmax\");\nConsole.WriteLine(1);", null)]
    [InlineData("Answers.Load(\"not a name\")", null)]
    [InlineData("Console.WriteLine(\"Answers.Load\")", null)]
    public void Only_a_cell_that_is_exactly_a_load_call_is_replaced(string cell, string? names) =>
        Assert.Equal(names, AnswerBook.LoadRequest(cell) is { } n ? string.Join(",", n) : null);

    [Fact]
    public void Loading_defines_saved_answers_and_the_library_for_the_rest()
    {
        var saved = Recorded(Cells(Setup, StableSoftmax, "var c = Checks.Softmax(Softmax);"));
        var notebook = Cells(Setup);
        var loaded = AnswerBook.Compose(["Softmax", "Gelu"], n => saved.GetValueOrDefault(n), n => Answers.Library.GetValueOrDefault(n), c => FirstError(notebook, c));
        Assert.Equal("yours: Softmax; library: Gelu", loaded.Line);
        var after = Then(Then(notebook, loaded.Code), "(Softmax(torch.tensor(new double[] { 1, 2, 3 })).sum().item<double>(), Gelu(torch.tensor(1.0)).item<double>())");
        var (sum, gelu) = ((double, double))after.ReturnValue;
        Assert.Equal(1.0, sum, 12);
        Assert.Equal(0.8411920, gelu, 6);                                     // GPT-2's tanh GELU at 1
    }

    [Fact]
    public void A_saved_answer_that_no_longer_compiles_falls_back_to_the_library_and_says_so()
    {
        var broken = Setup + "Tensor Softmax(Tensor x) => NoSuchHelper(x);\n";
        var notebook = Cells(Setup);
        var loaded = AnswerBook.Compose(["Softmax"], _ => broken, n => Answers.Library.GetValueOrDefault(n), c => FirstError(notebook, c));
        Assert.Empty(loaded.Yours);
        Assert.Equal(["Softmax"], loaded.Library);
        Assert.Contains("Softmax: your saved answer no longer compiles here (CS0103)", loaded.Line);
        Assert.Null(FirstError(notebook, loaded.Code));
    }

    [Fact]
    public void A_requested_answer_replaces_the_copy_saved_as_another_answers_helper()
    {
        // Attention was saved with the Softmax of its day; the Softmax saved later (a different one) must win, once
        const string attention = Setup + "Tensor Softmax(Tensor x) => x * 0;\nTensor Attention(Tensor q) => Softmax(q);\n";
        const string softmax = Setup + "Tensor Softmax(Tensor x) => x * 2;\n";
        var notebook = Cells(Setup);
        var files = new Dictionary<string, string> { ["Attention"] = attention, ["Softmax"] = softmax };
        foreach (var order in new[] { new[] { "Attention", "Softmax" }, ["Softmax", "Attention"] })
        {
            var loaded = AnswerBook.Compose(order, files.GetValueOrDefault, _ => null, c => FirstError(notebook, c));
            Assert.Equal(2, loaded.Yours.Count);
            var after = Then(Then(notebook, loaded.Code), "Attention(torch.tensor(3.0)).item<double>()");
            Assert.Equal(6.0, (double)after.ReturnValue);
        }
    }

    [Fact]
    public void An_unknown_name_is_named_in_the_line()
    {
        var loaded = AnswerBook.Compose(["Sofmax"], _ => null, n => Answers.Library.GetValueOrDefault(n), _ => null);
        Assert.Contains("Sofmax: no saved answer and no library version of that name", loaded.Line);
    }

    [Fact]
    public void Every_library_version_compiles_after_the_setup_cell()
    {
        var notebook = Cells(Setup);
        var errors = Answers.Library.Where(kv => FirstError(notebook, kv.Value) != null).Select(kv => $"{kv.Key}: {FirstError(notebook, kv.Value)}").ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void Answers_are_saved_whole_or_not_at_all()
    {
        using var dir = TestPaths.Temp();
        AnswerBook.Save("Softmax", "first", dir.Path);
        AnswerBook.Save("Softmax", "second", dir.Path);
        Assert.Equal("second", File.ReadAllText(AnswerBook.PathOf("Softmax", dir.Path)));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
