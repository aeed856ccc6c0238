using System.Text.Json;
using PicoGpt.Cli;

namespace PicoGpt.Tests;

/// <summary>Runs the CLI in-process with captured stdout/stderr (one at a time: Console is global).</summary>
[CollectionDefinition("console", DisableParallelization = true)]
public class ConsoleCollection { }

[Collection("console")]
public class CliTests
{
    static readonly object Gate = new();
    internal static string Golden(string name) => Path.Combine(TestPaths.Fixtures, "golden", name);

    internal static (int Code, string Out, string Err) Cli(params string[] args)
    {
        lock (Gate)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try { return (CliApp.Run(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    [Fact]
    public void NextPrintsTheTopTokensAsJson()
    {
        var (code, stdout, err) = Cli("next", "--model", Golden("tiny-plain"), "--ids", "1,2,3,4,5", "--top", "5", "--json");
        Assert.True(code == 0, err);
        var top = JsonDocument.Parse(stdout).RootElement.GetProperty("top").EnumerateArray().ToList();
        Assert.Equal(5, top.Count);
        Assert.Equal(70, top[0].GetProperty("id").GetInt32());                 // the golden reference's argmax
        var logits = top.Select(t => t.GetProperty("logit").GetDouble()).ToList();
        Assert.Equal(logits.OrderByDescending(x => x), logits);                // highest first
        double p0 = top[0].GetProperty("prob").GetDouble();
        Assert.InRange(p0, 0.2, 0.23);                                         // softmax over all 96 logits
    }

    [Fact]
    public void InfoPrintsConfigAndParameterCount()
    {
        var (code, stdout, _) = Cli("info", "--model", Golden("tiny-f16"), "--json");
        Assert.Equal(0, code);
        var j = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(29_568, j.GetProperty("parameters").GetInt64());
        Assert.Equal(4, j.GetProperty("n_head").GetInt32());
    }

    [Theory]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1,96" }, 1, "token id 96 is outside the vocabulary [0, 96)")]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1,x" }, 2, "--ids must be a comma-separated list of integers, got 'x'")]
    [InlineData(new[] { "next", "--model", "GOLDEN" }, 2, "missing required option --ids")]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1", "--top", "0" }, 2, "--top must be at least 1")]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1", "--wat" }, 2, "option --wat needs a value")]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1", "--wat", "3" }, 2, "unknown option --wat")]
    [InlineData(new[] { "next", "--model", "GOLDEN", "--ids", "1", "--dtype", "q4" }, 1, "unknown dtype 'q4'")]
    [InlineData(new[] { "next", "--model", "/nonexistent/model", "--ids", "1" }, 1, "/nonexistent/model: model folder not found")]
    [InlineData(new[] { "info", "--model", "no-such-model" }, 1, "unknown model 'no-such-model'")]
    [InlineData(new[] { "frobnicate" }, 2, "unknown command 'frobnicate'")]
    public void BadArgumentsGiveOneLineErrors(string[] args, int code, string message)
        => AssertOneLineError(args.Select(a => a == "GOLDEN" ? Golden("tiny-plain") : a).ToArray(), code, message);

    /// <summary>The command fails with this exit code, one line on stderr containing the message, and nothing on stdout.</summary>
    internal static void AssertOneLineError(string[] args, int code, string message)
    {
        var (rc, stdout, err) = Cli(args);
        Assert.Equal(code, rc);
        Assert.Contains(message, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
    }

    [Fact]
    public void TooManyIdsForTheContextIsAnError()
    {
        var (rc, _, err) = Cli("next", "--model", Golden("tiny-plain"), "--ids", string.Join(",", Enumerable.Repeat(1, 33)));
        Assert.Equal(1, rc);
        Assert.Contains("--ids has 33 tokens, more than the context length 32", err);
    }

    [Theory]
    [InlineData("attention", "--help")]
    [InlineData("generate", "--prompt", "x", "-h")]
    [InlineData("notebooks", "run", "--help")]
    public void A_commands_help_prints_what_it_does(params string[] args)
    {
        var (rc, stdout, err) = Cli(args);
        Assert.Equal(0, rc);
        Assert.Equal("", err);
        Assert.StartsWith($"picogpt {args[0]}: ", stdout);
        Assert.Single(stdout.TrimEnd('\n').Split('\n'));
    }
}
