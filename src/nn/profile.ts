// Where a model's time goes, module by module, forward and backward: wraps each module's forward while attached
// and labels the tape's nodes with the module that made them. Nothing is wrapped or timed when detached.
import { setTapeProfiler, type TapeProfiler } from '../autograd/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Module } from './module.ts';

export interface ProfileRow {
  /** The module's state-dict path ('layer1.0.conv1'), or a section's name ('loss', 'optimizer'). */
  name: string;
  type: string;
  /** Milliseconds spent in this module itself, its children's time excluded (the residual add counts to its block). */
  forwardMs: number;
  backwardMs: number;
  forwardCalls: number;
}

interface Frame {
  row: ProfileRow;
  started: number;
  childMs: number;
}

export class Profiler implements TapeProfiler {
  scope: string | undefined = undefined;
  readonly #rows = new Map<string, ProfileRow>();
  readonly #stack: Frame[] = [];
  /** Each wrapped module with the own `forward` it had before (usually none: the class method). */
  readonly #wrapped: [Module, PropertyDescriptor | undefined][] = [];

  constructor(readonly model: Module) {}

  /** Starts timing: every module's forward is wrapped and the tape reports backward times here. */
  attach(): this {
    for (const [path, m] of this.model.namedModules()) {
      const name = path || '(model)';
      const row = this.#row(name, m.constructor.name);
      const forward = m.forward;
      this.#wrapped.push([m, Object.getOwnPropertyDescriptor(m, 'forward')]);
      // Every argument passes on: BatchNorm2d takes its fused ReLU and residual as a second one.
      (m as { forward: (...args: unknown[]) => Tensor }).forward = (...args) =>
        this.#timed(row, () => (forward as (...a: unknown[]) => Tensor).apply(m, args));
    }
    setTapeProfiler(this);
    return this;
  }

  /** Restores every module's own forward and stops the tape's timing. */
  detach(): void {
    for (const [m, own] of this.#wrapped) {
      if (own) Object.defineProperty(m, 'forward', own);
      else delete (m as { forward?: unknown }).forward;
    }
    this.#wrapped.length = 0;
    setTapeProfiler(null);
  }

  /** Times work outside the model (the loss, the optimizer) as a row of its own, and labels what it records. */
  section<T>(name: string, fn: () => T): T {
    return this.#timed(this.#row(name, 'section'), fn);
  }

  backwardDone(scope: string | undefined, _name: string, ms: number): void {
    this.#row(scope ?? '(outside modules)', 'section').backwardMs += ms;
  }

  reset(): void {
    this.#rows.clear();
  }

  /** Rows with any time, in model order. */
  rows(): ProfileRow[] {
    return [...this.#rows.values()].filter((r) => r.forwardMs > 0 || r.backwardMs > 0);
  }

  #row(name: string, type: string): ProfileRow {
    let row = this.#rows.get(name);
    if (!row) {
      row = { name, type, forwardMs: 0, backwardMs: 0, forwardCalls: 0 };
      this.#rows.set(name, row);
    }
    return row;
  }

  #timed<T>(row: ProfileRow, fn: () => T): T {
    const outerScope = this.scope;
    const frame: Frame = { row, started: performance.now(), childMs: 0 };
    this.#stack.push(frame);
    this.scope = row.name;
    try {
      return fn();
    } finally {
      const ms = performance.now() - frame.started;
      this.#stack.pop();
      this.scope = outerScope;
      row.forwardMs += ms - frame.childMs;
      row.forwardCalls++;
      const parent = this.#stack.at(-1);
      if (parent) parent.childMs += ms;
    }
  }
}

/** The profile as a text table, per iteration, heaviest first; `top` rows, then one line per module type. */
/** `unit` names what a row is: a module (the default), or a kernel call of a compiled forward. */
export function formatProfile(rows: ProfileRow[], iterations: number, top = 25, unit = 'module'): string {
  const total = rows.reduce((s, r) => s + r.forwardMs + r.backwardMs, 0);
  const per = (ms: number) => (ms / iterations).toFixed(2);
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(1)}%`;
  const table = (title: string, list: { name: string; type: string; forwardMs: number; backwardMs: number }[]) => {
    const body = list.map((r) => [
      r.name,
      r.type,
      per(r.forwardMs),
      per(r.backwardMs),
      per(r.forwardMs + r.backwardMs),
      pct(r.forwardMs + r.backwardMs),
    ]);
    const header = [title, 'type', 'fwd ms', 'bwd ms', 'total ms', 'share'];
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
  };
  const byTime = [...rows].sort((a, b) => b.forwardMs + b.backwardMs - (a.forwardMs + a.backwardMs));
  const byType = new Map<string, { name: string; type: string; forwardMs: number; backwardMs: number }>();
  for (const r of rows) {
    const t = byType.get(r.type) ?? { name: r.type, type: '', forwardMs: 0, backwardMs: 0 };
    t.forwardMs += r.forwardMs;
    t.backwardMs += r.backwardMs;
    byType.set(r.type, t);
  }
  const types = [...byType.values()].sort((a, b) => b.forwardMs + b.backwardMs - (a.forwardMs + a.backwardMs));
  return [
    `profile per iteration (${iterations} timed), self time of each ${unit}, heaviest ${Math.min(top, rows.length)} of ${rows.length}:`,
    table(unit, byTime.slice(0, top)),
    '',
    table('by type', types),
  ].join('\n');
}
