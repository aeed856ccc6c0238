using PicoGpt.Cli;
using PicoGpt.Cli.Commands;

// The picogpt command: a thin layer over the PicoGpt library. Each command lives in Commands/.
ICommand[] commands =
[
    new DoctorCommand(),
    new NotebooksCommand(),
    // (add commands here, one line each)
];

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("picogpt: GPT-2 from its parts, on TorchSharp\n\nCommands:");
    foreach (var c in commands) Console.WriteLine($"  {c.Name,-12} {c.Help}");
    return args.Length == 0 ? 2 : 0;
}

var command = commands.FirstOrDefault(c => c.Name == args[0]);
if (command == null)
{
    Console.Error.WriteLine($"picogpt: unknown command '{args[0]}' (try: {string.Join(", ", commands.Select(c => c.Name))})");
    return 2;
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
catch (PicoGpt.PicoGptException e)
{
    Console.Error.WriteLine($"picogpt {command.Name}: {e.Message}");
    return 1;
}
