using System.Text.Json.Nodes;
using PicoGpt.Notebooks;

namespace PicoGpt.Tests;

/// <summary>nbformat 4.5 files: what we write is what Polyglot writes; what we read keeps its metadata; stripping and drift.</summary>
[Collection("plotly page")]
public class NotebookFileTests
{
    [Fact]
    public void Writer_produces_nbformat_4_5_with_unique_ids_and_polyglot_metadata()
    {
        var nb = NotebookDocument.New([NotebookCell.Markdown("# Title\ntext"), NotebookCell.Code("var a = 1;\na"), NotebookCell.Code("a + 1")]);
        var json = nb.ToJson();
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
        Assert.Empty(nb.Problems());
    }

    [Fact]
    public void Reading_keeps_metadata_unknown_fields_and_outputs()
    {
        const string json = """
        {"nbformat": 4, "nbformat_minor": 4,
         "metadata": {"kernelspec": {"name": ".net-csharp", "display_name": ".NET (C#)", "language": "C#"}, "custom": {"x": [1, 2]},
                      "polyglot_notebook": {"kernelInfo": {"defaultKernelName": "csharp", "items": []}}},
         "cells": [
          {"cell_type": "code", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}, "tags": ["t"]}, "source": "1 + 1", "execution_count": 3,
           "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"text/plain": ["2"], "application/json": {"a": 1}}},
                       {"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}]},
          {"cell_type": "markdown", "metadata": {}, "source": ["# h\n", "text"], "attachments": {"img.png": {"image/png": "AAAA"}}},
          {"cell_type": "code", "id": "same", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}}, "source": [], "outputs": [], "execution_count": null},
          {"cell_type": "code", "id": "same", "metadata": {"polyglot_notebook": {"kernelName": "csharp"}}, "source": [], "outputs": [], "execution_count": null}
         ]}
        """;
        var nb = NotebookDocument.Parse(json);
        Assert.Equal("1 + 1", nb.Cells[0].Source);
        Assert.Equal("2", nb.Cells[0].Outputs[0].DataText("text/plain"));
        Assert.Equal("a\nb\n", nb.Cells[0].Outputs[1].Text);
        Assert.Equal("# h\ntext", nb.Cells[1].Source);

        var back = JsonNode.Parse(nb.ToJson())!.AsObject();
        Assert.Equal(5, (int)back["nbformat_minor"]!);                           // upgraded, with ids
        Assert.Equal(2, (int)back["metadata"]!["custom"]!["x"]![1]!);
        Assert.Equal("t", (string)back["cells"]![0]!["metadata"]!["tags"]![0]!);
        Assert.Equal(1, (int)back["cells"]![0]!["outputs"]![0]!["data"]!["application/json"]!["a"]!);
        Assert.Equal("AAAA", (string)back["cells"]![1]!["attachments"]!["img.png"]!["image/png"]!);
        var ids = back["cells"]!.AsArray().Select(c => (string)c!["id"]!).ToList();
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Equal("same", ids[2]);                                             // the first keeps its id, the duplicate gets a new one
        Assert.Equal(nb.ToJson(), NotebookDocument.Parse(nb.ToJson()).ToJson()); // stable
    }

    [Fact]
    public void Bad_files_give_one_line_errors()
    {
        Assert.Contains("invalid JSON", Assert.Throws<PicoGptException>(() => NotebookDocument.Parse("{", "x.ipynb")).Message);
        Assert.Contains("nbformat 3", Assert.Throws<PicoGptException>(() => NotebookDocument.Parse("""{"nbformat": 3, "cells": []}""")).Message);
        Assert.Contains("notebook not found", Assert.Throws<PicoGptException>(() => NotebookDocument.Load("/no/such.ipynb")).Message);
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
            #r "nuget: TorchSharp-cpu, 0.107.0"
            #r "../../lib/PicoGpt/bin/Debug/net10.0/PicoGpt.dll"
              #r  "../../lib/Other.dll"
            var s = "../../lib/ in a string stays";
            // #r "../../lib/ in a comment stays"
            #r "../../data/x.dll"
            """;
        Assert.Equal("""
            #r "nuget: TorchSharp-cpu, 0.107.0"
            #r "../lib/PicoGpt/bin/Debug/net10.0/PicoGpt.dll"
              #r  "../lib/Other.dll"
            var s = "../../lib/ in a string stays";
            // #r "../../lib/ in a comment stays"
            #r "../../data/x.dll"
            """, NotebookStripper.LearnerReferences(setup));

        var learner = NotebookStripper.Strip(NotebookDocument.New([NotebookCell.Code(setup), NotebookCell.Markdown("#r \"../../lib/x.dll\"")]));
        Assert.StartsWith("#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"../lib/PicoGpt/", learner.Cells[0].Source);
        Assert.Equal("#r \"../../lib/x.dll\"", learner.Cells[1].Source);           // markdown is left alone
    }

    [Fact]
    public void Strip_clears_outputs_keeps_ids_and_detects_drift()
    {
        using var tmp = TestPaths.Temp();
        var solutions = Directory.CreateDirectory(Path.Combine(tmp.Path, "solutions")).FullName;
        var solution = NotebookDocument.New([NotebookCell.Markdown("# Softmax"), NotebookCell.Code(Solution)]);
        solution.Cells[1].ExecutionCount = 1;
        solution.Cells[1].Outputs.Add(CellOutput.Stream("stdout", "old output"));
        solution.Save(Path.Combine(solutions, "01-softmax.ipynb"));

        Assert.Equal([Path.Combine(tmp.Path, "01-softmax.ipynb")], NotebookStripper.Sync(solutions, tmp.Path, check: true)); // missing = drifted
        Assert.False(File.Exists(Path.Combine(tmp.Path, "01-softmax.ipynb")));
        Assert.Single(NotebookStripper.Sync(solutions, tmp.Path, check: false));
        Assert.Empty(NotebookStripper.Sync(solutions, tmp.Path, check: true));

        var learner = NotebookDocument.Load(Path.Combine(tmp.Path, "01-softmax.ipynb"));
        Assert.Equal(solution.Cells.Select(c => c.Id), learner.Cells.Select(c => c.Id));
        Assert.Empty(learner.Cells[1].Outputs);
        Assert.Null(learner.Cells[1].ExecutionCount);
        Assert.Contains("throw new NotImplementedException();", learner.Cells[1].Source);
        Assert.DoesNotContain("amax", learner.Cells[1].Source);
        Assert.Empty(learner.Problems());

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
        var nb = NotebookDocument.New(
        [
            NotebookCell.Markdown("# Attention\nSome **bold**, *italic* and `a < b` code.\n\n- one\n- two\n\n1. first\n\n```csharp\nvar x = 1 < 2;\n```"),
            NotebookCell.Code("x"),
        ]);
        PicoGpt.Plots.PlotlyJs.ResetPage();
        var chart = PicoGpt.Plots.LinePlot.Loss([0, 1], [2, 1]);
        nb.Cells[1].Outputs.Add(CellOutput.Display(PicoGpt.Notebook.Html.Formats(chart)));
        nb.Cells[1].Outputs.Add(CellOutput.Display(PicoGpt.Notebook.Html.Formats(PicoGpt.Plots.LinePlot.Loss([0, 1], [3, 1]))));
        nb.Cells[1].Outputs.Add(CellOutput.Stream("stdout", "<hello>"));
        nb.Cells[1].Outputs.Add(CellOutput.Error("System.Exception", "boom", ["System.Exception: boom", "   at X"]));
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
