using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive.Documents;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>
/// nbformat 4.5 files through Microsoft.DotNet.Interactive.Documents (Polyglot's own serializer): what we write is what
/// Polyglot writes; what we read keeps its metadata; the committed notebooks round-trip byte for byte; stripping and drift.
/// </summary>
[Collection("plotly page")]
public class NotebookFileTests
{
    [Fact]
    public void Writer_produces_nbformat_4_5_with_unique_ids_and_polyglot_metadata()
    {
        var nb = NotebookFile.New(NotebookFile.Markdown("# Title\ntext"), NotebookFile.Code("var a = 1;\na"), NotebookFile.Code("a + 1"));
        var json = NotebookFile.ToJson(nb);
        var root = JsonNode.Parse(json)!.AsObject();
        Assert.Equal(4, (int)root["nbformat"]!);
        Assert.Equal(5, (int)root["nbformat_minor"]!);
        var ids = root["cells"]!.AsArray().Select(c => (string)c!["id"]!).ToList();
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[a-zA-Z0-9_-]{1,64}$", id));
        Assert.Equal(".net-csharp", (string)root["metadata"]!["kernelspec"]!["name"]!);
        Assert.Equal(".NET (C#)", (string)root["metadata"]!["kernelspec"]!["display_name"]!);
        Assert.Equal("C#", (string)root["metadata"]!["language_info"]!["name"]!);
        Assert.Equal("csharp", (string)root["metadata"]!["polyglot_notebook"]!["kernelInfo"]!["defaultKernelName"]!);
        var code = root["cells"]![1]!;
        Assert.Equal("csharp", (string)code["metadata"]!["polyglot_notebook"]!["kernelName"]!);
        Assert.Equal("csharp", (string)code["metadata"]!["dotnet_interactive"]!["language"]!);
        Assert.Equal(["var a = 1;\n", "a"], code["source"]!.AsArray().Select(x => (string)x!));
        Assert.Empty(code["outputs"]!.AsArray());
        Assert.Null(code["execution_count"]);
        Assert.False(root["cells"]![0]!.AsObject().ContainsKey("outputs"));    // markdown cells have none
        Assert.StartsWith("{\n \"cells\": [\n  {\n   \"cell_type\": \"markdown\",", json); // sorted keys, one-space indent
        Assert.EndsWith("}\n", json);
        using var tmp = TestPaths.Temp();
        var path = Path.Combine(tmp.Path, "new.ipynb");
        NotebookFile.Save(nb, path);
        Assert.Equal(json, File.ReadAllText(path));
        Assert.Empty(NotebookFile.Problems(path));
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp-*"));                    // written through a temp file + rename
    }

    [Fact]
    public void Committed_notebooks_round_trip_byte_for_byte()
    {
        var files = Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb", SearchOption.AllDirectories);
        Assert.True(files.Length >= 22, $"{files.Length} notebooks");
        foreach (var f in files)
            Assert.True(File.ReadAllText(f) == NotebookFile.ToJson(NotebookFile.Load(f)), $"{f} changes when read and written by Microsoft.DotNet.Interactive.Documents");
    }

    [Fact]
    public void Reading_keeps_metadata_and_outputs()
    {
        const string json = """
        {"nbformat": 4, "nbformat_minor": 4,
         "metadata": {"kernelspec": {"name": ".net-csharp", "display_name": ".NET (C#)", "language": "C#"}, "custom": {"x": [1, 2]},
                      "polyglot_notebook": {"kernelInfo": {"defaultKernelName": "csharp", "items": []}}},
         "cells": [
          {"cell_type": "code", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}, "tags": ["t"]}, "source": "1 + 1", "execution_count": 3,
           "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"text/plain": ["2"]}},
                       {"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}]},
          {"cell_type": "markdown", "metadata": {}, "source": ["# h\n", "text"]},
          {"cell_type": "code", "id": "same", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}}, "source": [], "outputs": [], "execution_count": null},
          {"cell_type": "code", "id": "same", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}}, "source": [], "outputs": [], "execution_count": null}
         ]}
        """;
        var nb = NotebookFile.Parse(json);
        Assert.Equal("1 + 1", nb.Elements[0].Contents);
        Assert.Equal("2", NotebookFile.DataText(NotebookFile.Data(nb.Elements[0].Outputs[0])!, "text/plain"));
        Assert.Equal("a\nb\n", Assert.IsType<TextElement>(nb.Elements[0].Outputs[1]).Text);
        Assert.Equal("# h\ntext", nb.Elements[1].Contents);
        Assert.False(nb.Elements[1].IsCode());

        var back = JsonNode.Parse(NotebookFile.ToJson(nb))!.AsObject();
        Assert.Equal(5, (int)back["nbformat_minor"]!);                           // upgraded, with ids
        Assert.Equal(2, (int)back["metadata"]!["custom"]!["x"]![1]!);
        Assert.Equal("t", (string)back["cells"]![0]!["metadata"]!["tags"]![0]!);
        Assert.Equal(3, (int)back["cells"]![0]!["outputs"]![0]!["execution_count"]!);
        var ids = back["cells"]!.AsArray().Select(c => (string)c!["id"]!).ToList();
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Equal("same", ids[2]);                                             // the first keeps its id, the duplicate gets a new one
        var once = NotebookFile.ToJson(nb);
        Assert.Equal(once, NotebookFile.ToJson(NotebookFile.Parse(once)));         // stable
    }

    [Fact]
    public void Bad_files_give_one_line_errors()
    {
        Assert.Contains("invalid notebook JSON", Assert.Throws<PicoGptException>(() => NotebookFile.Parse("{", "x.ipynb")).Message);
        Assert.Contains("nbformat 3", Assert.Throws<PicoGptException>(() => NotebookFile.Parse("""{"nbformat": 3, "cells": []}""")).Message);
        Assert.Contains("no cells array", Assert.Throws<PicoGptException>(() => NotebookFile.Parse("""{"nbformat": 4}""", "y.ipynb")).Message);
        Assert.Contains("not a JSON object", Assert.Throws<PicoGptException>(() => NotebookFile.Parse("[1]", "z.ipynb")).Message);
        Assert.Contains("notebook not found", Assert.Throws<PicoGptException>(() => NotebookFile.Load("/no/such.ipynb")).Message);
    }

    const string Solution = """
        Tensor Softmax(Tensor x)
        {
            // BEGIN SOLUTION
            var e = (x - x.amax(new long[] { -1 }, keepdim: true)).exp();
            return e / e.sum(-1, keepdim: true);
            // END SOLUTION
        }
        Checks.Softmax(Softmax)
        """;

    [Fact]
    public void Stripper_replaces_solution_blocks_with_a_stub_at_the_markers_indentation()
    {
        Assert.Equal("""
            Tensor Softmax(Tensor x)
            {
                throw new NotImplementedException();
            }
            Checks.Softmax(Softmax)
            """, NotebookStripper.StripSource(Solution));
        Assert.Equal("a\nthrow new NotImplementedException();\nb", NotebookStripper.StripSource("a\n// BEGIN SOLUTION\nx\n// END SOLUTION\nb"));
        Assert.Equal("no markers\n", NotebookStripper.StripSource("no markers\n"));
        Assert.Contains("no // END SOLUTION", Assert.Throws<PicoGptException>(() => NotebookStripper.StripSource("// BEGIN SOLUTION\nx", "a.ipynb cell 2")).Message);
        Assert.Contains("not opened", Assert.Throws<PicoGptException>(() => NotebookStripper.StripSource("x\n// END SOLUTION")).Message);
        Assert.Contains("inside", Assert.Throws<PicoGptException>(() => NotebookStripper.StripSource("// BEGIN SOLUTION\n// BEGIN SOLUTION\n// END SOLUTION")).Message);
    }

    [Fact]
    public void Stripper_points_the_library_reference_one_folder_up_for_learner_notebooks()
    {
        const string setup = """
            #r "nuget: Something, 1.0.0"
            #r "../../lib/PicoGpt.Course/bin/Debug/net10.0/PicoGpt.Course.dll"
              #r  "../../lib/Other.dll"
            var s = "../../lib/ in a string stays";
            // #r "../../lib/ in a comment stays"
            #r "../../data/x.dll"
            """;
        Assert.Equal("""
            #r "nuget: Something, 1.0.0"
            #r "../lib/PicoGpt.Course/bin/Debug/net10.0/PicoGpt.Course.dll"
              #r  "../lib/Other.dll"
            var s = "../../lib/ in a string stays";
            // #r "../../lib/ in a comment stays"
            #r "../../data/x.dll"
            """, NotebookStripper.LearnerReferences(setup));

        var learner = NotebookStripper.Strip(NotebookFile.New(NotebookFile.Code(setup), NotebookFile.Markdown("#r \"../../lib/x.dll\"")));
        Assert.StartsWith("#r \"nuget: Something, 1.0.0\"\n#r \"../lib/PicoGpt.Course/", learner.Elements[0].Contents);
        Assert.Equal("#r \"../../lib/x.dll\"", learner.Elements[1].Contents);       // markdown is left alone
    }

    [Fact]
    public void Strip_clears_outputs_keeps_ids_and_detects_drift()
    {
        using var tmp = TestPaths.Temp();
        var solutions = Directory.CreateDirectory(Path.Combine(tmp.Path, "solutions")).FullName;
        var solution = NotebookFile.New(NotebookFile.Markdown("# Softmax"), NotebookFile.Code(Solution));
        solution.Elements[1].ExecutionOrder = 1;
        solution.Elements[1].Outputs.Add(new TextElement("old output", "stdout"));
        NotebookFile.Save(solution, Path.Combine(solutions, "01-softmax.ipynb"));

        Assert.Equal([Path.Combine(tmp.Path, "01-softmax.ipynb")], NotebookStripper.Sync(solutions, tmp.Path, check: true)); // missing = drifted
        Assert.False(File.Exists(Path.Combine(tmp.Path, "01-softmax.ipynb")));
        Assert.Single(NotebookStripper.Sync(solutions, tmp.Path, check: false));
        Assert.Empty(NotebookStripper.Sync(solutions, tmp.Path, check: true));

        var learnerPath = Path.Combine(tmp.Path, "01-softmax.ipynb");
        var learner = NotebookFile.Load(learnerPath);
        Assert.Equal(solution.Elements.Select(c => c.Id), learner.Elements.Select(c => c.Id));
        Assert.Empty(learner.Elements[1].Outputs);
        Assert.Equal(0, learner.Elements[1].ExecutionOrder);
        Assert.Contains("\"execution_count\": null", File.ReadAllText(learnerPath));
        Assert.Contains("throw new NotImplementedException();", learner.Elements[1].Contents);
        Assert.DoesNotContain("amax", learner.Elements[1].Contents);
        Assert.Empty(NotebookFile.Problems(learnerPath));

        File.AppendAllText(Path.Combine(tmp.Path, "01-softmax.ipynb"), " ");      // a hand edit
        Assert.Single(NotebookStripper.Sync(solutions, tmp.Path, check: true));
    }

    [Fact]
    public void Markdown_tables_render_with_alignment_and_pipes_in_code()
    {
        var html = Markdown.ToHtml("""
            Shapes:

            | tensor | shape | note |
            | --- | :-: | ---: |
            | `x` | `[n_seq, n_embd]` | **input** |
            | `q | k | v` | a\|b |
            | last |
            after the table
            """);
        Assert.Contains("<p>Shapes:</p>", html);
        Assert.Contains("<thead><tr><th>tensor</th><th style=\"text-align:center\">shape</th><th style=\"text-align:right\">note</th></tr></thead>", html);
        Assert.Contains("<tr><td><code>x</code></td><td style=\"text-align:center\"><code>[n_seq, n_embd]</code></td><td style=\"text-align:right\"><strong>input</strong></td></tr>", html);
        Assert.Contains("<tr><td><code>q | k | v</code></td><td style=\"text-align:center\">a|b</td><td style=\"text-align:right\"></td></tr>", html);
        Assert.Contains("<tr><td>last</td>", html);
        Assert.Contains("</tbody>\n</table>\n<p>after the table</p>", html);
        Assert.Equal("<p>a | b is not a table</p>\n", Markdown.ToHtml("a | b is not a table"));
    }

    [Fact]
    public void Html_export_renders_markdown_code_outputs_and_plotly_once()
    {
        var nb = NotebookFile.New(
            NotebookFile.Markdown("# Attention\nSome **bold**, *italic* and `a < b` code.\n\n- one\n- two\n\n1. first\n\n```csharp\nvar x = 1 < 2;\n```"),
            NotebookFile.Code("x"));
        PicoGpt.Plots.PlotlyJs.ResetPage();
        static DisplayElement Display(object value) => new(PicoGpt.Notebook.Html.Formats(value).ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        nb.Elements[1].Outputs.Add(Display(PicoGpt.Plots.LinePlot.Loss([0, 1], [2, 1])));
        nb.Elements[1].Outputs.Add(Display(PicoGpt.Plots.LinePlot.Loss([0, 1], [3, 1])));
        nb.Elements[1].Outputs.Add(new TextElement("<hello>", "stdout"));
        nb.Elements[1].Outputs.Add(new ErrorElement("boom", "System.Exception", ["System.Exception: boom", "   at X"]));
        var html = NotebookHtml.Export(nb, "Attention");
        Assert.Contains("<h1>Attention</h1>", html);
        Assert.Contains("<strong>bold</strong>", html);
        Assert.Contains("<em>italic</em>", html);
        Assert.Contains("<code>a &lt; b</code>", html);
        Assert.Contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>", html);
        Assert.Contains("<ol>\n<li>first</li>\n</ol>", html);
        Assert.Contains("<pre><code class=\"language-csharp\">var x = 1 &lt; 2;</code></pre>", html);
        Assert.Contains("&lt;hello&gt;", html);
        Assert.Contains("System.Exception: boom", html);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "data-plotlyjs"));
        Assert.True(html.IndexOf("data-plotlyjs") < html.IndexOf("</head>"));
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(html[html.IndexOf("</head>")..], "Plotly.newPlot").Count);
    }
}
