// Define-by-run reverse-mode autograd: ops attach a GradFn to their outputs; backward() walks the graph in reverse.
import { shapeString, Tensor } from '../tensor/tensor.ts';

/** Given d(loss)/d(output), returns d(loss)/d(input) for each input (null where not needed). */
export type BackwardFn = (gradOutput: Float32Array, needsGrad: readonly boolean[]) => (Float32Array | null)[];

export interface GradFn {
  readonly name: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly backward: BackwardFn;
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
export function record(output: Tensor, name: string, inputs: readonly (Tensor | null)[], backward: BackwardFn): Tensor {
  if (gradEnabled && inputs.some((t) => t?.requiresGrad)) {
    output.requiresGrad = true;
    output.gradFn = { name, inputs, backward };
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
 * The graph is freed afterwards: a second backward through it needs a new forward.
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
    seed = gradient.data.slice();
  } else {
    if (root.numel !== 1)
      throw new Error(
        `backward(): grad can be implicitly created only for one-element outputs, got ${shapeString(root.shape)}`,
      );
    seed = new Float32Array([1]);
  }
  const grads = new Map<Tensor, Float32Array>([[root, seed]]);
  for (const t of topologicalOrder(root)) {
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    const fn = t.gradFn;
    if (!fn) {
      if (t.grad) {
        const acc = t.grad.data;
        for (let i = 0; i < acc.length; i++) acc[i] += g[i];
      } else {
        t.grad = new Tensor(g, t.shape);
      }
      continue;
    }
    const needs = fn.inputs.map((x) => x?.requiresGrad === true);
    const inputGrads = fn.backward(g, needs);
    fn.inputs.forEach((x, i) => {
      const gi = inputGrads[i];
      if (!x || !needs[i] || !gi) return;
      const prev = grads.get(x);
      if (prev) {
        for (let j = 0; j < prev.length; j++) prev[j] += gi[j];
      } else {
        // A backward fn may hand back its gradOutput unchanged (add, reshape): copy before accumulating into it.
        grads.set(x, gi === g ? gi.slice() : gi);
      }
    });
    t.gradFn = null;
  }
}
