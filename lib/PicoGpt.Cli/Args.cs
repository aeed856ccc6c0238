using System.Globalization;

namespace PicoGpt.Cli;

/// <summary>A user error: printed as one line on stderr, exit code 2.</summary>
public sealed class CliError(string message) : Exception(message);

/// <summary>
/// Minimal "--name value" / "--flag" parser. Every option must be declared by the command that reads it:
/// unknown options, missing values and malformed numbers are CliErrors naming the option.
/// </summary>
public sealed class Args
{
    readonly Dictionary<string, string?> _options = new();
    readonly HashSet<string> _read = new();
    public List<string> Positionals { get; } = new();

    public Args(IEnumerable<string> argv, IReadOnlySet<string> flags)
    {
        var list = argv.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--") && a.Length > 2)
            {
                var name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (!flags.Contains(name))
                {
                    if (i + 1 >= list.Count) throw new CliError($"option --{name} needs a value");
                    value = list[++i];
                }
                if (_options.ContainsKey(name)) throw new CliError($"option --{name} is given twice");
                _options[name] = value;
            }
            else Positionals.Add(a);
        }
    }

    public bool Has(string name) { _read.Add(name); return _options.ContainsKey(name); }
    public bool Flag(string name) { _read.Add(name); return _options.ContainsKey(name); }

    public string? Get(string name) { _read.Add(name); return _options.TryGetValue(name, out var v) ? v : null; }

    public string Require(string name) => Get(name) ?? throw new CliError($"missing required option --{name}");

    public int? Int(string name, int? min = null)
    {
        var s = Get(name);
        if (s == null) return null;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new CliError($"--{name} must be an integer, got '{s}'");
        if (min is int m && v < m) throw new CliError($"--{name} must be at least {m}, got {v}");
        return v;
    }

    public long? Long(string name)
    {
        var s = Get(name);
        if (s == null) return null;
        if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new CliError($"--{name} must be an integer, got '{s}'");
        return v;
    }

    public double? Double(string name)
    {
        var s = Get(name);
        if (s == null) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v) || double.IsInfinity(v))
            throw new CliError($"--{name} must be a number, got '{s}'");
        return v;
    }

    /// <summary>Comma-separated integers, e.g. --ids 15496,11,314.</summary>
    public int[]? IntList(string name)
    {
        var s = Get(name);
        if (s == null) return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                throw new CliError($"--{name} must be a comma-separated list of integers, got '{parts[i]}'");
        if (ids.Length == 0) throw new CliError($"--{name} is empty");
        return ids;
    }

    /// <summary>Exactly one of the named options must be given.</summary>
    public string OneOf(params string[] names)
    {
        var given = names.Where(Has).ToList();
        if (given.Count == 0) throw new CliError($"give one of {string.Join(", ", names.Select(n => "--" + n))}");
        if (given.Count > 1) throw new CliError($"{string.Join(" and ", given.Select(n => "--" + n))} cannot be used together");
        return given[0];
    }

    /// <summary>Call after reading every option: unknown options and stray positionals are errors.</summary>
    public void EnsureAllUsed(int positionals = 0)
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CliError($"unknown option --{unknown[0]}");
        if (Positionals.Count > positionals) throw new CliError($"unexpected argument '{Positionals[positionals]}'");
    }
}

/// <summary>One CLI command: name, one-line help, the flags it takes, and its body.</summary>
public interface ICommand
{
    string Name { get; }
    string Help { get; }
    IReadOnlySet<string> Flags { get; }
    int Run(Args args);
}
