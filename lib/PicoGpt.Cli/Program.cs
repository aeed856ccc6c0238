return PicoGpt.Cli.CliApp.Run(args);
