using PicoGpt.Exercises;
using PicoGpt.Interactive;

namespace PicoGpt.Tests;

/// <summary>A check cell whose exercise cell did not compile: a red box saying so, not the compiler's CS0103.</summary>
public class MissingExerciseTests
{
    [Fact]
    public void A_check_of_an_undefined_function_becomes_NotCompiled()
    {
        Assert.Equal("global::PicoGpt.Exercises.Checks.NotCompiled(\"Softmax\", \"Softmax\")", MissingExercise.Rewrite("Checks.Softmax(Softmax)", ["Softmax"]));
        Assert.Equal("var evalCheck = global::PicoGpt.Exercises.Checks.NotCompiled(\"EstimateLoss\", \"EstimateLoss\");\nevalCheck",
            MissingExercise.Rewrite("var evalCheck = Checks.EstimateLoss(EstimateLoss);\nevalCheck", ["EstimateLoss"]));
        Assert.Equal("global::PicoGpt.Exercises.Checks.NotCompiled(\"WeightDecay\", \"Decays\");", MissingExercise.Rewrite("Checks.WeightDecay(Decays);", ["Decays"]));
    }

    [Fact]
    public void Other_cells_and_other_undefined_names_are_left_alone()
    {
        Assert.Null(MissingExercise.Rewrite("Checks.Softmax(Softmax)", []));
        Assert.Null(MissingExercise.Rewrite("Checks.Softmax(Softmax)", ["Sofmax"]));             // a typo elsewhere: the compiler's own error says it
        Assert.Null(MissingExercise.Rewrite("var y = Softmax(x);", ["Softmax"]));
        Assert.Null(MissingExercise.Rewrite("MyChecks.Softmax(Softmax)", ["Softmax"]));
    }

    [Fact]
    public void NotCompiled_is_a_failure_that_says_where_the_error_is()
    {
        var r = Checks.NotCompiled("Softmax", "Softmax");
        Assert.False(r.Passed);
        Assert.False(r.NotImplemented);
        Assert.Contains("did not compile", r.Message);
        Assert.Contains("read the error under it", r.Hint);
        Assert.DoesNotContain('\n', r.ToString());
    }
}
