// Buffer reuse across training steps: ops take their outputs and gradients from exact-size free lists, and buffers
// go back when the tape (intermediate gradients) or a step scope (activations) knows nothing can see them any more.
import type { Tensor } from './tensor.ts';

// Exact byte lengths, not size classes: a ResNet step asks for the same few dozen sizes every time, so exact lists
// reach a steady state with no slack, where power-of-two classes would round activations up by as much as 2×.
const free = new Map<number, ArrayBuffer[]>();
/** Buffers the pool handed out: only these may come back (a caller's own array or a view is left alone). */
const owned = new WeakSet<ArrayBuffer>();
/** Buffers now on a free list, so that a second release of the same buffer is a no-op, not a double hand-out. */
const idle = new WeakSet<ArrayBuffer>();
const scopes: Set<ArrayBuffer>[] = [];

let enabled = process.env.RESNET_POOL !== '0';

export interface PoolStats {
  /** Buffers and bytes newly allocated (pool misses). */
  fresh: number;
  freshBytes: number;
  /** Buffers handed out again from a free list. */
  reused: number;
  reusedBytes: number;
  /** Bytes now waiting on the free lists. */
  idleBytes: number;
}

const stats: PoolStats = { fresh: 0, freshBytes: 0, reused: 0, reusedBytes: 0, idleBytes: 0 };

export function poolStats(): PoolStats {
  return { ...stats };
}

/** Turns reuse on or off (RESNET_POOL=0 starts it off); turning it off drops the free lists. */
export function setPoolEnabled(on: boolean): void {
  enabled = on;
  if (!on) clearPool();
}

/** Drops every idle buffer, for the garbage collector to return to the system. */
export function clearPool(): void {
  free.clear();
  stats.idleBytes = 0;
}

function takeRaw(bytes: number): ArrayBuffer {
  const list = free.get(bytes);
  const reused = list?.pop();
  let buffer: ArrayBuffer;
  if (reused) {
    idle.delete(reused);
    stats.reused++;
    stats.reusedBytes += bytes;
    stats.idleBytes -= bytes;
    buffer = reused;
  } else {
    buffer = new ArrayBuffer(bytes);
    stats.fresh++;
    stats.freshBytes += bytes;
    if (enabled) owned.add(buffer);
  }
  if (enabled) scopes.at(-1)?.add(buffer);
  return buffer;
}

/** A float32 buffer of `length` elements whose contents are undefined: for outputs a kernel overwrites. */
export function takeBuffer(length: number): Float32Array {
  return new Float32Array(takeRaw(length * 4));
}

/** A zero-filled float32 buffer of `length` elements: for outputs that are accumulated into. */
export function takeZeroed(length: number): Float32Array {
  const a = takeBuffer(length);
  return a.fill(0);
}

/** An int32 buffer of `length` elements with undefined contents (max-pool indices), pooled like the floats. */
export function takeInt32(length: number): Int32Array {
  return new Int32Array(takeRaw(length * 4));
}

/**
 * Hands a buffer back for reuse. The caller promises that nothing reads or writes it afterwards. Arrays the pool
 * did not hand out, views of part of a buffer, and buffers already back are ignored.
 */
export function releaseBuffer(a: Float32Array | Int32Array): void {
  const buffer = a.buffer as ArrayBuffer;
  if (a.byteLength === buffer.byteLength) releaseRaw(buffer);
}

function releaseRaw(buffer: ArrayBuffer): void {
  if (!enabled || !owned.has(buffer) || idle.has(buffer)) return;
  idle.add(buffer);
  let list = free.get(buffer.byteLength);
  if (!list) {
    list = [];
    free.set(buffer.byteLength, list);
  }
  list.push(buffer);
  stats.idleBytes += buffer.byteLength;
}

/** Hands the parameters' gradients back and clears them: zeroGrad for a loop that holds no other reference to them. */
export function releaseGrads(params: Iterable<Tensor>): void {
  for (const p of params) {
    if (p.grad) releaseBuffer(p.grad.data);
    p.grad = null;
  }
}

/** Keeps a buffer out of the enclosing scope's release (a leaf's .grad outlives the step that made it). */
export function retainBuffer(a: Float32Array | Int32Array): void {
  for (const scope of scopes) scope.delete(a.buffer as ArrayBuffer);
}

function collectTensors(value: unknown, into: Set<ArrayBuffer>, seen = new Set<object>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('data' in value && (value as Tensor).data instanceof Float32Array) {
    into.add((value as Tensor).data.buffer as ArrayBuffer);
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectTensors(v, into, seen);
}

/**
 * Runs one step (forward, loss, backward, update) and then returns to the pool every buffer taken during it:
 * activations, saved indices, gradients. Tensors in `fn`'s result (a tensor, or an array or object holding
 * tensors) and leaves' .grad survive; any other tensor made inside must not be used after the scope ends, and a
 * graph made inside must be backpropagated inside. Like tf.tidy, with parameter gradients kept.
 */
export function stepScope<T>(fn: () => T): T {
  const scope = new Set<ArrayBuffer>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keep = new Set<ArrayBuffer>();
  collectTensors(result, keep);
  const parent = scopes.at(-1);
  for (const buffer of scope) {
    if (keep.has(buffer)) parent?.add(buffer);
    else releaseRaw(buffer);
  }
  return result;
}
