using PicoGpt.Cli.Commands;

namespace PicoGpt.Cli;

/// <summary>The picogpt command: a thin layer over the PicoGpt library. Each command lives in Commands/.</summary>
public static class CliApp
{
    public static ICommand[] Commands { get; } =
    [
        new DoctorCommand(),
        new InfoCommand(),
        new NextCommand(),
        new TokenizeCommand(),
        new DecodeCommand(),
        new GenerateCommand(),
        new TrainCommand(),
        new EvalCommand(),
        new DownloadCommand(),
        new NotebooksCommand(),
        new LearnCommand(),
        new BenchCommand(),
        new AttentionCommand(),
        // (add commands here, one line each)
    ];

    /// <summary>Runs one command line; user errors print one line on stderr. Exit codes: 0 ok, 1 bad input/data, 2 bad usage.</summary>
    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            var w = args.Length == 0 ? Console.Error : Console.Out;
            w.WriteLine("picogpt: GPT-2 from its parts, on TorchSharp\n\nCommands:");
            foreach (var c in Commands) w.WriteLine($"  {c.Name,-12} {c.Help}");
            return args.Length == 0 ? 2 : 0;
        }

        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command == null)
        {
            Console.Error.WriteLine($"picogpt: unknown command '{args[0]}' (try: {string.Join(", ", Commands.Select(c => c.Name))})");
            return 2;
        }

        if (args.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.Out.WriteLine($"picogpt {command.Name}: {command.Help}");
            return 0;
        }

        try
        {
            return command.Run(new Args(args.Skip(1), command.Flags));
        }
        catch (CliError e)
        {
            Console.Error.WriteLine($"picogpt {command.Name}: {e.Message}");
            return 2;
        }
        catch (PicoGptException e)
        {
            Console.Error.WriteLine($"picogpt {command.Name}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"picogpt {command.Name}: cancelled");
            return 130;
        }
    }
}
