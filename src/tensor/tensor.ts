// Tensor: a contiguous float32 NCHW array with a shape, and the autograd links that ops attach to it.
import { backward, type GradFn } from '../autograd/tape.ts';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid shape ${shapeString(shape)}`);
  }
}

export class Tensor {
  readonly dtype = 'float32' as const;
  readonly shape: Shape;
  data: Float32Array;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf that requires grad (after backward()). */
  grad: Tensor | null = null;
  /** How this tensor was made, when it is part of a recorded graph. */
  gradFn: GradFn | null = null;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    checkShape(shape, 'Tensor');
    if (data.length !== numel(shape)) {
      throw new Error(`Tensor: data has ${data.length} elements but shape ${shapeString(shape)} needs ${numel(shape)}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
  }

  static zeros(shape: Shape, requiresGrad = false): Tensor {
    return new Tensor(new Float32Array(numel(shape)), shape, requiresGrad);
  }

  static full(shape: Shape, value: number, requiresGrad = false): Tensor {
    return new Tensor(new Float32Array(numel(shape)).fill(value), shape, requiresGrad);
  }

  static from(values: ArrayLike<number>, shape?: Shape): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length]);
  }

  get numel(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1)
      throw new Error(`item(): tensor of shape ${shapeString(this.shape)} has ${this.data.length} elements`);
    return this.data[0];
  }

  /** A tensor sharing this one's data, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** Reverse-mode pass from this tensor: accumulates into every leaf's .grad. */
  backward(gradient?: Tensor): void {
    backward(this, gradient);
  }

  toString(): string {
    return `Tensor(${shapeString(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** An int64 tensor: class labels and BatchNorm's num_batches_tracked. It never takes part in autograd. */
export class IntTensor {
  readonly dtype = 'int64' as const;
  readonly shape: Shape;
  data: BigInt64Array;

  constructor(data: BigInt64Array, shape: Shape) {
    checkShape(shape, 'IntTensor');
    if (data.length !== numel(shape)) {
      throw new Error(
        `IntTensor: data has ${data.length} elements but shape ${shapeString(shape)} needs ${numel(shape)}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  static from(values: ArrayLike<number | bigint>, shape?: Shape): IntTensor {
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
    return new IntTensor(data, shape ?? [values.length]);
  }

  get numel(): number {
    return this.data.length;
  }

  clone(): IntTensor {
    return new IntTensor(this.data.slice(), this.shape);
  }
}

export type AnyTensor = Tensor | IntTensor;
