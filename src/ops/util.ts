// Small argument helpers shared by the ops: pairs, shape checks with messages that name the op and tensor.
import { takeBuffer } from '../tensor/pool.ts';
import { numel, type Shape, shapeString, Tensor } from '../tensor/tensor.ts';

export type Pair = number | readonly [number, number];

export function pair(v: Pair, op: string, name: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x)))
    throw new Error(`${op}: ${name} must be integers, got ${JSON.stringify(v)}`);
  return p;
}

/** An op's output from the buffer pool, contents undefined: for results a kernel overwrites completely. */
export function emptyTensor(shape: Shape): Tensor {
  return new Tensor(takeBuffer(numel(shape)), shape);
}

/**
 * The output of an elementwise op on x: with `inplace`, a tensor sharing x's buffer (x is overwritten, as torch's
 * in-place ops), refused for a leaf that requires grad; otherwise a fresh one from the pool.
 */
export function elementwiseOutput(x: Tensor, inplace: boolean, op: string): Tensor {
  if (!inplace) return emptyTensor(x.shape);
  if (x.requiresGrad && !x.gradFn)
    throw new Error(`${op}: a leaf tensor that requires grad cannot be modified in place`);
  return new Tensor(x.data, x.shape);
}

export function expectRank(t: Tensor, rank: number, op: string, name: string): void {
  if (t.shape.length !== rank) {
    throw new Error(`${op}: ${name} must have ${rank} dimensions, got shape ${shapeString(t.shape)}`);
  }
}

export function expectShape(t: Tensor, shape: Shape, op: string, name: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${name} must have shape ${shapeString(shape)}, got ${shapeString(t.shape)}`);
  }
}

/** Output length of a sliding window, as PyTorch computes it (floor mode). */
export function windowOutput(size: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}
