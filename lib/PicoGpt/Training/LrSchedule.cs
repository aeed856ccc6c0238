namespace PicoGpt.Training;

/// <summary>Linear warmup to the peak rate, cosine decay to a floor at <see cref="DecaySteps"/>, then the floor (nanoGPT's get_lr).</summary>
public sealed record LrSchedule(double MaxLr, double MinLr, int WarmupSteps, int DecaySteps)
{
    public double At(int step)
    {
        if (step < WarmupSteps) return MaxLr * (step + 1) / (WarmupSteps + 1);
        if (step >= DecaySteps) return MinLr;
        double ratio = (double)(step - WarmupSteps) / (DecaySteps - WarmupSteps);   // 0 -> 1
        double coeff = 0.5 * (1 + Math.Cos(Math.PI * ratio));                         // 1 -> 0
        return MinLr + coeff * (MaxLr - MinLr);
    }
}
