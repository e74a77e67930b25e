// SGD with momentum, dampening, Nesterov and (coupled) weight decay, with torch.optim.SGD's update rule:
//   g ← grad + wd·p;  buf ← μ·buf + (1 − dampening)·g (buf ← g on the first step);  g ← g + μ·buf (Nesterov) or buf;
//   p ← p − lr·g
import { kernels } from '../backend/index.ts';
import type { Parameter } from '../nn/module.ts';
import { type GroupSpec, Optimizer, type OptimizerState, restoreBuffers } from './optimizer.ts';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  private momentumBuffers: (Float32Array | null)[] = [];

  constructor(params: Parameter[] | GroupSpec[], opts: SGDOptions) {
    super(params, opts);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum requires a momentum > 0 and zero dampening');
    }
  }

  step(): void {
    const k = kernels();
    for (const [i, p, group] of this.entries()) {
      if (!p.grad) continue;
      let buf = this.momentumBuffers[i];
      const first = this.momentum !== 0 && !buf;
      if (first) {
        buf = new Float32Array(p.numel);
        this.momentumBuffers[i] = buf;
      }
      const { lr, weightDecay } = group;
      k.sgdUpdate(
        p.data,
        p.grad.data,
        buf ?? null,
        lr,
        this.momentum,
        this.dampening,
        weightDecay,
        this.nesterov,
        first,
      );
    }
  }

  stateDict(): OptimizerState {
    const buffers = new Map<string, Float32Array>();
    this.momentumBuffers.forEach((b, i) => {
      if (b) buffers.set(`momentum.${i}`, b);
    });
    return { buffers, scalars: { momentum: this.momentum } };
  }

  loadStateDict(state: OptimizerState): void {
    const sizes = [...this.entries()].map(([, p]) => p.numel);
    restoreBuffers(state, 'momentum', sizes, this.momentumBuffers);
    if (state.scalars.momentum !== undefined) this.momentum = state.scalars.momentum;
  }
}
