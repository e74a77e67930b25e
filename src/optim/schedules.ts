// Learning-rate schedules as pure functions of the global step, so a resumed run recomputes exactly the rate it
// would have had. Each returns a factor of the base rate (and, for one-cycle, the momentum), updated every step.

export type ScheduleName = 'cosine' | 'onecycle' | 'step' | 'none';
export const scheduleNames: readonly ScheduleName[] = ['cosine', 'onecycle', 'step', 'none'];

export interface ScheduleOptions {
  name: ScheduleName;
  epochs: number;
  stepsPerEpoch: number;
  /** Linear warmup from 1/(warmup steps) of the rate; for one-cycle, the length of its rising phase instead. */
  warmupEpochs?: number;
}

export interface ScheduleValue {
  lrFactor: number;
  /** One-cycle's momentum (torch's cycle_momentum: 0.95 → 0.85 → 0.95); undefined keeps the optimizer's own. */
  momentum?: number;
}

export type Schedule = (step: number) => ScheduleValue;

const cosineBetween = (start: number, end: number, t: number) =>
  end + ((start - end) * (1 + Math.cos(Math.PI * t))) / 2;

export function makeSchedule({ name, epochs, stepsPerEpoch, warmupEpochs = 0 }: ScheduleOptions): Schedule {
  const total = Math.max(1, epochs * stepsPerEpoch);
  const warmup = Math.min(total, Math.round(warmupEpochs * stepsPerEpoch));
  if (name === 'onecycle') return oneCycle(total, warmup > 0 ? warmup / total : 0.3);
  const after = (step: number): number => {
    if (name === 'cosine') return cosineBetween(1, 0, Math.min(1, (step - warmup) / Math.max(1, total - warmup)));
    // torchvision's reference recipe: ×0.1 every third of the run (30 of 90 epochs).
    if (name === 'step') return 0.1 ** Math.floor(step / (Math.max(1, Math.round(epochs / 3)) * stepsPerEpoch));
    return 1;
  };
  return (step) => ({ lrFactor: step < warmup ? (step + 1) / warmup : after(step) });
}

/**
 * torch.optim.lr_scheduler.OneCycleLR with its defaults (cosine annealing, div_factor 25, final_div_factor 1e4,
 * momentum cycled between 0.85 and 0.95): the base rate is the peak.
 */
function oneCycle(total: number, pctStart: number): Schedule {
  const initial = 1 / 25;
  const final = initial / 1e4;
  const peakStep = Math.max(1, pctStart * total - 1);
  const lastStep = total - 1;
  return (step) => {
    if (step <= peakStep) {
      const t = step / peakStep;
      return { lrFactor: cosineBetween(initial, 1, t), momentum: cosineBetween(0.95, 0.85, t) };
    }
    const t = Math.min(1, (step - peakStep) / Math.max(1, lastStep - peakStep));
    return { lrFactor: cosineBetween(1, final, t), momentum: cosineBetween(0.85, 0.95, t) };
  };
}
