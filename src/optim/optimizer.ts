// The shared shape of an optimizer: parameter groups with their own learning rate (for --lr-backbone), per-parameter
// state buffers, and a state dict that a checkpoint can save and restore exactly.
import type { Parameter } from '../nn/module.ts';

export interface ParamGroup {
  params: Parameter[];
  /** The rate the schedule scales: lr = baseLr · factor(step). */
  baseLr: number;
  lr: number;
  weightDecay: number;
}

export type GroupSpec = { params: Parameter[]; lr?: number; weightDecay?: number };

/** Optimizer state as flat named arrays plus JSON scalars, so a checkpoint can store it beside the weights. */
export interface OptimizerState {
  buffers: Map<string, Float32Array>;
  scalars: Record<string, number>;
}

export abstract class Optimizer {
  readonly groups: ParamGroup[];

  constructor(params: Parameter[] | GroupSpec[], defaults: { lr: number; weightDecay?: number }) {
    if (!(defaults.lr >= 0)) throw new Error(`optimizer: learning rate must be ≥ 0, got ${defaults.lr}`);
    const specs: GroupSpec[] =
      params.length > 0 && 'params' in (params[0] as object)
        ? (params as GroupSpec[])
        : [{ params: params as Parameter[] }];
    this.groups = specs.map((s) => {
      const lr = s.lr ?? defaults.lr;
      return { params: s.params, baseLr: lr, lr, weightDecay: s.weightDecay ?? defaults.weightDecay ?? 0 };
    });
  }

  /** Every parameter in group order: the index is the key of its state. */
  protected *entries(): Generator<[number, Parameter, ParamGroup]> {
    let i = 0;
    for (const g of this.groups) for (const p of g.params) yield [i++, p, g];
  }

  abstract step(): void;
  abstract stateDict(): OptimizerState;
  abstract loadStateDict(state: OptimizerState): void;

  /** Scales every group's rate by `factor` of its base rate (what a schedule sets each step). */
  setLrFactor(factor: number): void {
    for (const g of this.groups) g.lr = g.baseLr * factor;
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }
}

/** Restores named buffers, checking that each exists and has the parameter's size. */
export function restoreBuffers(
  state: OptimizerState,
  prefix: string,
  sizes: number[],
  into: (Float32Array | null)[],
): void {
  for (let i = 0; i < sizes.length; i++) {
    const b = state.buffers.get(`${prefix}.${i}`);
    if (!b) {
      into[i] = null;
      continue;
    }
    if (b.length !== sizes[i]) {
      throw new Error(`optimizer state ${prefix}.${i} has ${b.length} values, its parameter has ${sizes[i]}`);
    }
    into[i] = b.slice();
  }
}
