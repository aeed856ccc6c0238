using PicoGpt.Notebook;
using PicoGpt.Notebooks;

namespace PicoGpt.Cli.Commands;

/// <summary>
/// picogpt learn: the course in the terminal, in the spirit of rustlings. Runs the current lesson (lessons/NAME.cs, a
/// file-based app) on every save, shows the first failing check with its hint, moves on when every check passes, and
/// shows the progress. Keys: r run again, n next lesson, l list, q quit.
/// picogpt learn --list: every exercise with its state. --lesson NAME: start at that lesson. --once: run once and exit
/// (exit 0 when the lesson passed). --from-notebook notebooks/NAME.ipynb: rewrite lessons/NAME.cs with the answers of
/// that notebook; --to-notebook notebooks/NAME.ipynb: the reverse. --lessons DIR: another folder of lessons (at the same
/// depth as lessons/, so their #:project lines resolve). The logic lives in PicoGpt.Notebooks' LearnSession.
/// </summary>
public sealed class LearnCommand : ICommand
{
    public string Name => "learn";
    public string Help => "the course in the terminal: run the current lesson on every save, show the first hint, move on when it passes ([--list] [--lesson NAME] [--once] [--lessons DIR] [--from-notebook NB | --to-notebook NB])";
    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "list", "once" };

    public int Run(Args args)
    {
        bool list = args.Flag("list"), once = args.Flag("once");
        var lesson = args.Get("lesson");
        var from = args.Get("from-notebook");
        var to = args.Get("to-notebook");
        var timeout = TimeSpan.FromSeconds(args.Int("timeout", min: 10) ?? 900);
        var lessonsOption = args.Get("lessons");
        args.EnsureAllUsed();
        var root = Paths.RepoRoot ?? throw new CliError("run picogpt learn inside the course's repository (no global.json and weights/ found above the working directory)");
        var lessonsDir = Path.GetFullPath(lessonsOption ?? Path.Combine(root, "lessons"));

        if (from != null || to != null)
        {
            var notebook = Path.GetFullPath(from ?? to!);
            if (!File.Exists(notebook)) throw new CliError($"notebook not found: {from ?? to}");
            var lessonPath = LessonGenerator.LessonPaths(lessonsDir, notebook).Learner;
            int n = from != null ? LessonAnswers.FromNotebook(root, notebook, lessonPath) : LessonAnswers.ToNotebook(lessonPath, notebook);
            Console.WriteLine(from != null
                ? $"wrote {Path.GetRelativePath(Environment.CurrentDirectory, lessonPath)} with the {n} answer{(n == 1 ? "" : "s")} of {from}"
                : $"wrote {n} answer{(n == 1 ? "" : "s")} of {Path.GetRelativePath(Environment.CurrentDirectory, lessonPath)} into {to}");
            return 0;
        }

        var session = new LearnSession(lessonsDir, Path.Combine(root, LearnSession.StateFileName));
        if (lesson != null) session.Select(lesson);
        bool colour = Terminal.Colour;
        if (list)
        {
            Console.WriteLine(session.List(colour));
            return 0;
        }
        if (once)
        {
            var step = RunOnce(session, root, timeout, colour, clear: false);
            return step.Outcome is LearnOutcome.LessonDone or LearnOutcome.CourseDone ? 0 : 1;
        }
        return Watch(session, root, timeout, colour);
    }

    static LearnStep RunOnce(LearnSession session, string root, TimeSpan timeout, bool colour, bool clear)
    {
        var path = session.CurrentPath;
        var warnings = LessonGuard.Check(path);
        Console.WriteLine($"running {Path.GetRelativePath(Environment.CurrentDirectory, path)} ...");
        var run = LessonRunner.Run(root, path, timeout);
        var step = session.Observe(run);
        if (clear && colour) Console.Write("\u001b[2J\u001b[H");
        Console.Write(session.Screen(step, colour, warnings));
        return step;
    }

    static int Watch(LearnSession session, string root, TimeSpan timeout, bool colour)
    {
        bool keys = !Console.IsInputRedirected;
        while (true)
        {
            var step = RunOnce(session, root, timeout, colour, clear: true);
            if (step.Outcome == LearnOutcome.CourseDone) return 0;
            if (step.Outcome == LearnOutcome.LessonDone) continue;       // the next lesson is current: run it
            Console.WriteLine(keys ? "Save the lesson file to check it again · r run again · n next lesson · l list · q quit" : "Save the lesson file to check it again (Ctrl+C quits)");
            var path = session.CurrentPath;
            var stamp = File.GetLastWriteTimeUtc(path);
            while (true)
            {
                Thread.Sleep(250);
                if (File.Exists(path) && File.GetLastWriteTimeUtc(path) != stamp) { Thread.Sleep(150); break; }   // let the editor finish writing
                if (!keys || !Console.KeyAvailable) continue;
                var key = char.ToLowerInvariant(Console.ReadKey(intercept: true).KeyChar);
                if (key == 'q') return 0;
                if (key == 'r') break;
                if (key == 'l') { Console.WriteLine(); Console.WriteLine(session.List(colour)); }
                if (key == 'n')
                {
                    var names = session.Lessons.Select(l => l.Name).ToList();
                    session.Select(names[(names.IndexOf(session.Current) + 1) % names.Count]);
                    break;
                }
            }
        }
    }
}
