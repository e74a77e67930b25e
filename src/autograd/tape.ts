// Define-by-run reverse-mode autograd: ops attach a GradFn to their outputs; backward() walks the graph in reverse.
import { kernels } from '../backend/index.ts';
import { releaseBuffer, retainBuffer, takeBuffer } from '../tensor/pool.ts';
import { shapeString, Tensor } from '../tensor/tensor.ts';

/**
 * Given d(loss)/d(output), returns d(loss)/d(input) for each input (null where not needed). `pending` holds, for an
 * input that already has a gradient from another use (a residual block's input), that gradient: a backward may add
 * its own into it and return that same buffer, which saves the tape a separate add.
 */
export type BackwardFn = (
  gradOutput: Float32Array,
  needsGrad: readonly boolean[],
  pending: readonly (Float32Array | undefined)[],
) => (Float32Array | null)[];

export interface GradFn {
  readonly name: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly backward: BackwardFn;
  /** The module that made this node, while a profiler is attached (see setTapeProfiler). */
  readonly scope?: string;
  /**
   * This node's backward with a ReLU applied in place to its output folded in, for ops that can fuse one (batch
   * norm): relu(x, inplace) then makes one node of the two, and the backward pass skips ReLU's own pass.
   */
  readonly withRelu?: BackwardFn;
}

/** What a profiler sees of the tape: the label new nodes carry, and how long each node's backward took. */
export interface TapeProfiler {
  scope: string | undefined;
  backwardDone(scope: string | undefined, name: string, ms: number): void;
}

let profiler: TapeProfiler | null = null;

/** Attaches (or with null, detaches) the profiler; with none attached the tape does no timing at all. */
export function setTapeProfiler(p: TapeProfiler | null): void {
  profiler = p;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording a graph (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Links `output` to its inputs when any of them requires grad and recording is on. Returns output. */
export function record(
  output: Tensor,
  name: string,
  inputs: readonly (Tensor | null)[],
  backward: BackwardFn,
  withRelu?: BackwardFn,
): Tensor {
  if (gradEnabled && inputs.some((t) => t?.requiresGrad)) {
    output.requiresGrad = true;
    output.gradFn = { name, inputs, backward, scope: profiler?.scope, withRelu };
  }
  return output;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: ResNet-152 graphs are deep enough to make recursion a risk.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next?.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * Accumulates d(root)/d(leaf) into every leaf's .grad (adding to what is there, as PyTorch does).
 * The graph is freed afterwards: a second backward through it needs a new forward. Intermediate gradients go
 * back to the buffer pool as soon as the node that received them has run; a leaf keeps its .grad.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward(): tensor does not require grad and has no grad_fn');
  let seed: Float32Array;
  if (gradient) {
    if (gradient.numel !== root.numel) {
      throw new Error(
        `backward(): gradient shape ${shapeString(gradient.shape)} does not match ${shapeString(root.shape)}`,
      );
    }
    seed = takeBuffer(root.numel);
    seed.set(gradient.data);
  } else {
    if (root.numel !== 1)
      throw new Error(
        `backward(): grad can be implicitly created only for one-element outputs, got ${shapeString(root.shape)}`,
      );
    seed = takeBuffer(1);
    seed[0] = 1;
  }
  const grads = new Map<Tensor, Float32Array>([[root, seed]]);
  for (const t of topologicalOrder(root)) {
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    const fn = t.gradFn;
    if (!fn) {
      if (t.grad) {
        kernels().add(t.grad.data, g, t.grad.data);
        releaseBuffer(g);
      } else {
        retainBuffer(g);
        t.grad = new Tensor(g, t.shape);
      }
      continue;
    }
    const needs = fn.inputs.map((x) => x?.requiresGrad === true);
    const pending = fn.inputs.map((x) => (x ? grads.get(x) : undefined));
    const started = profiler ? performance.now() : 0;
    const inputGrads = fn.backward(g, needs, pending);
    if (profiler) profiler.backwardDone(fn.scope, fn.name, performance.now() - started);
    // A backward fn may hand back its gradOutput (add, reshape), even to two inputs: each buffer has one owner.
    const handedOn = new Set<Float32Array>();
    fn.inputs.forEach((x, i) => {
      const gi = inputGrads[i];
      if (!x || !needs[i] || !gi) return;
      const prev = grads.get(x);
      if (prev && gi === pending[i]) {
        // the backward added its gradient into prev itself
      } else if (prev) {
        // A tensor used twice (every residual block's input) sums its gradients: the backend's add, in place (a JS
        // loop here was 5% of a resnet20 step).
        kernels().add(prev, gi, prev);
      } else if (handedOn.has(gi)) {
        const copy = takeBuffer(gi.length);
        copy.set(gi);
        grads.set(x, copy);
      } else {
        handedOn.add(gi);
        grads.set(x, gi);
      }
    });
    if (!handedOn.has(g)) releaseBuffer(g);
    for (const gi of inputGrads) {
      if (gi && gi !== g && !handedOn.has(gi) && !pending.includes(gi)) releaseBuffer(gi);
    }
    t.gradFn = null;
  }
}
