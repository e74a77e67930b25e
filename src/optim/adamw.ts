// AdamW (decoupled weight decay) with torch.optim.AdamW's update rule:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
//   p ← p − lr·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
import { kernels } from '../backend/index.ts';
import type { Parameter } from '../nn/module.ts';
import { type GroupSpec, Optimizer, type OptimizerState, restoreBuffers } from './optimizer.ts';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class AdamW extends Optimizer {
  beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private steps = 0;
  private m: (Float32Array | null)[] = [];
  private v: (Float32Array | null)[] = [];

  constructor(params: Parameter[] | GroupSpec[], opts: AdamWOptions) {
    // torch's AdamW default weight decay is 1e-2.
    super(params, { lr: opts.lr, weightDecay: opts.weightDecay ?? 1e-2 });
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }

  step(): void {
    this.steps++;
    const k = kernels();
    for (const [i, p, group] of this.entries()) {
      if (!p.grad) continue;
      this.m[i] ??= new Float32Array(p.numel);
      this.v[i] ??= new Float32Array(p.numel);
      const m = this.m[i];
      const v = this.v[i];
      k.adamwUpdate(
        p.data,
        p.grad.data,
        m,
        v,
        group.lr,
        this.beta1,
        this.beta2,
        this.eps,
        group.weightDecay,
        this.steps,
      );
    }
  }

  stateDict(): OptimizerState {
    const buffers = new Map<string, Float32Array>();
    for (const [i, b] of this.m.entries()) if (b) buffers.set(`exp_avg.${i}`, b);
    for (const [i, b] of this.v.entries()) if (b) buffers.set(`exp_avg_sq.${i}`, b);
    return { buffers, scalars: { steps: this.steps, beta1: this.beta1 } };
  }

  loadStateDict(state: OptimizerState): void {
    const sizes = [...this.entries()].map(([, p]) => p.numel);
    restoreBuffers(state, 'exp_avg', sizes, this.m);
    restoreBuffers(state, 'exp_avg_sq', sizes, this.v);
    this.steps = state.scalars.steps ?? 0;
    if (state.scalars.beta1 !== undefined) this.beta1 = state.scalars.beta1;
  }
}
