namespace PicoGpt.Decode;

/// <summary>One parallel job: <see cref="Run"/> is called once for each chunk index in [0, count), on any thread.</summary>
public interface IChunkJob
{
    void Run(int chunk);
}

/// <summary>
/// A small fixed pool for decoding: <c>threads - 1</c> background workers plus the calling thread, which always takes
/// part. Chunks are claimed one at a time from a shared counter, so a worker that the OS does not schedule (another
/// process busy on the cores) simply claims fewer chunks; the caller never waits for a thread that has not started a
/// chunk. Idle workers block on a monitor (no spinning): a pool that is not used costs nothing, and under contention
/// our threads give the cores back instead of burning them.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    // state word: generation (16 bits) | chunk count (24 bits) | next chunk to claim (24 bits)
    long _state;
    IChunkJob? _job;
    int _done;
    bool _stop;
    readonly object _wake = new(), _finished = new();
    readonly Thread[] _workers;

    /// <summary>Threads that run chunks, the caller included.</summary>
    public int Threads { get; }

    /// <param name="threads">threads in all, the caller included (1: everything runs on the caller)</param>
    public WorkerPool(int threads)
    {
        if (threads < 1 || threads > 256) throw new PicoGptException($"threads must be in [1, 256], got {threads}");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"picogpt-decode-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>The default thread count: the machine's logical processors.</summary>
    public static int DefaultThreads => Environment.ProcessorCount;

    const int Bits = 24;
    const long Mask = (1L << Bits) - 1;

    /// <summary>Runs <paramref name="job"/> for every chunk in [0, <paramref name="count"/>) and returns when all are done.
    /// Not reentrant: one Run at a time per pool.</summary>
    public void Run(int count, IChunkJob job)
    {
        if (count <= 0) return;
        if (count > Mask) throw new ArgumentOutOfRangeException(nameof(count));
        if (_workers.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) job.Run(i);
            return;
        }
        long gen = ((Volatile.Read(ref _state) >> (2 * Bits)) + 1) & 0xFFFF;
        _job = job;
        Volatile.Write(ref _done, 0);
        Volatile.Write(ref _state, (gen << (2 * Bits)) | ((long)count << Bits));   // publishes the job (release)
        lock (_wake) Monitor.PulseAll(_wake);
        Work(job, gen);
        if (Volatile.Read(ref _done) < count)
        {
            // a worker is inside its last chunk: a short spin, then block
            var spin = new SpinWait();
            for (int i = 0; i < 20 && Volatile.Read(ref _done) < count; i++) spin.SpinOnce(sleep1Threshold: -1);
            if (Volatile.Read(ref _done) < count)
                lock (_finished)
                    while (Volatile.Read(ref _done) < count) Monitor.Wait(_finished);
        }
        _job = null;
    }

    /// <summary>Claims and runs chunks of generation <paramref name="gen"/> until none is left.</summary>
    void Work(IChunkJob job, long gen)
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            if (((s >> (2 * Bits)) & 0xFFFF) != gen) return;
            long count = (s >> Bits) & Mask, next = s & Mask;
            if (next >= count) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            job.Run((int)next);
            if (Interlocked.Increment(ref _done) == count)
                lock (_finished) Monitor.PulseAll(_finished);
        }
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            long s = 0;
            lock (_wake)
            {
                while (!_stop && (((s = Volatile.Read(ref _state)) >> (2 * Bits)) & 0xFFFF) == seen) Monitor.Wait(_wake);
                if (_stop) return;
            }
            seen = (s >> (2 * Bits)) & 0xFFFF;
            // the job was written before the state word was published; it stays until every chunk of this generation is done,
            // and a chunk of this generation can only be claimed while the state word still holds it
            var job = Volatile.Read(ref _job);
            if (job != null) Work(job, seen);
        }
    }

    public void Dispose()
    {
        lock (_wake) { _stop = true; Monitor.PulseAll(_wake); }
        foreach (var w in _workers) w.Join();
    }
}
