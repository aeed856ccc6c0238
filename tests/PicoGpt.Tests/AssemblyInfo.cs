// Tests share process-wide state (Console.Out for in-process CLI runs, the notebook page's plotly.js flag, torch's
// global RNG and thread pool) and the machine has 2 cores: run them one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
