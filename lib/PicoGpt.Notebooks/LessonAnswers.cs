namespace PicoGpt.Notebooks;

/// <summary>
/// Moves a learner's answers between their notebook (notebooks/NAME.ipynb) and their lesson (lessons/NAME.cs). An answer
/// is the whole code of an exercise cell; both forms know each exercise by its notebook cell id (a lesson names it on
/// its <c>// ── exercise N: NAME (cell ID)</c> line). The rest of the target is regenerated from the solution notebook,
/// so only the answers travel. The file that is overwritten is first copied to NAME.cs.bak / NAME.ipynb.bak when it
/// holds something else.
/// </summary>
public static class LessonAnswers
{
    /// <summary>
    /// Rewrites <paramref name="lessonPath"/> from the solution notebook, with the exercise cells of the learner's
    /// <paramref name="notebookPath"/> as its answers. Returns how many answers came over.
    /// </summary>
    public static int FromNotebook(string repoRoot, string notebookPath, string lessonPath)
    {
        var solution = SolutionFor(notebookPath);
        var learner = NotebookFile.Load(notebookPath);
        var doc = NotebookFile.Load(solution);
        var exerciseIds = ExerciseIds(doc);
        var answers = learner.Elements.Where(c => c.IsCode() && c.Id != null && exerciseIds.Contains(c.Id))
            .ToDictionary(c => c.Id!, c => c.Contents.Replace("\r\n", "\n"));
        if (answers.Count == 0)
            throw new PicoGptException($"{notebookPath}: none of its cells is an exercise cell of {solution} (cells are matched by id; was the notebook made by `picogpt notebooks strip`?)");
        int depth = Path.GetRelativePath(repoRoot, Path.GetDirectoryName(Path.GetFullPath(lessonPath))!).Split(Path.DirectorySeparatorChar).Length;
        var text = LessonGenerator.Generate(doc, Path.GetRelativePath(repoRoot, solution).Replace('\\', '/'), depth, learner: true, answers);
        Write(lessonPath, text);
        return answers.Count;
    }

    /// <summary>
    /// Writes the answers of <paramref name="lessonPath"/> into the learner's <paramref name="notebookPath"/> (the cells with
    /// the same ids; outputs of those cells are cleared). Returns how many answers went over.
    /// </summary>
    public static int ToNotebook(string lessonPath, string notebookPath)
    {
        var answers = LessonGenerator.Answers(File.ReadAllText(lessonPath), lessonPath);
        var learner = NotebookFile.Load(notebookPath);
        int n = 0;
        foreach (var cell in learner.Elements)
        {
            if (cell.Id == null || !answers.TryGetValue(cell.Id, out var code)) continue;
            if (cell.Contents.Replace("\r\n", "\n") != code) { cell.Contents = code; cell.Outputs.Clear(); }
            n++;
        }
        if (n == 0) throw new PicoGptException($"{notebookPath}: no cell has the id of an exercise of {lessonPath} (was it made by `picogpt notebooks strip`?)");
        Write(notebookPath, NotebookFile.ToJson(learner));
        return n;
    }

    /// <summary>notebooks/solutions/NAME.ipynb for a learner notebook notebooks/NAME.ipynb.</summary>
    public static string SolutionFor(string notebookPath)
    {
        var solution = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(notebookPath))!, "solutions", Path.GetFileName(notebookPath));
        return File.Exists(solution) ? solution
            : throw new PicoGptException($"{notebookPath}: no solution notebook {solution} beside it (expected a learner notebook in notebooks/)");
    }

    static HashSet<string> ExerciseIds(Microsoft.DotNet.Interactive.Documents.InteractiveDocument solution) =>
        solution.Elements.Where(c => c.IsCode() && c.Id != null && c.Contents.Contains(NotebookStripper.Begin, StringComparison.Ordinal))
            .Select(c => c.Id!).ToHashSet();

    static void Write(string path, string text)
    {
        if (File.Exists(path) && File.ReadAllText(path).ReplaceLineEndings("\n") != text) File.Copy(path, path + ".bak", overwrite: true);
        NotebookFile.WriteAtomic(path, text);
    }
}
