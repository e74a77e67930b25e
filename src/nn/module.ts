// Module: a tree of layers whose parameters and buffers have PyTorch's state-dict names and order.
// Children and parameters are found from the object's own fields in assignment order, as nn.Module's
// __setattr__ registers them; buffers are registered explicitly because their names are snake_case.
import { type AnyTensor, IntTensor, shapeString, Tensor } from '../tensor/tensor.ts';

/** A tensor that a module trains. */
export class Parameter extends Tensor {
  constructor(data: Float32Array, shape: readonly number[]) {
    super(data, shape, true);
  }

  static override zeros(shape: readonly number[]): Parameter {
    return new Parameter(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  }
}

export type StateDict = Map<string, AnyTensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  readonly #buffers = new Map<string, AnyTensor>();

  abstract forward(x: Tensor): Tensor;

  protected registerBuffer<T extends AnyTensor>(name: string, t: T): T {
    this.#buffers.set(name, t);
    return t;
  }

  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  ownParameters(): [string, Parameter][] {
    return Object.entries(this).filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.namedChildren()) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.ownParameters()) yield [path ? `${path}.${name}` : name, p];
    }
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  *namedBuffers(prefix = ''): Generator<[string, AnyTensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.#buffers) yield [path ? `${path}.${name}` : name, b];
    }
  }

  /** Parameters then buffers of each module, parents before children: torch's state_dict() order. */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [path, m] of this.namedModules()) {
      const key = (name: string) => (path ? `${path}.${name}` : name);
      for (const [name, p] of m.ownParameters()) sd.set(key(name), p);
      for (const [name, b] of m.#buffers) sd.set(key(name), b);
    }
    return sd;
  }

  /**
   * Copies values from `sd` into this module's tensors. Everything is checked before anything is written,
   * so a failed load leaves the model untouched. Shape mismatches always fail; with `strict` (the default)
   * missing and unexpected keys fail too, all named in one error.
   */
  loadStateDict(sd: StateDict | Record<string, AnyTensor>, { strict = true } = {}): LoadResult {
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    for (const [key, target] of own) {
      const value = source.get(key);
      if (!value) continue;
      if (value.shape.length !== target.shape.length || value.shape.some((d, i) => d !== target.shape[i])) {
        problems.push(
          `size mismatch for ${key}: checkpoint has ${shapeString(value.shape)}, model has ${shapeString(target.shape)}`,
        );
      }
    }
    if (strict && missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length > 0)
      throw new Error(`loadStateDict failed for ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    for (const [key, target] of own) {
      const value = source.get(key);
      if (value) copyInto(target, value);
    }
    return { missingKeys, unexpectedKeys };
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}

function copyInto(target: AnyTensor, value: AnyTensor): void {
  if (target instanceof IntTensor) {
    for (let i = 0; i < target.data.length; i++) target.data[i] = BigInt(Math.round(Number(value.data[i])));
  } else {
    for (let i = 0; i < target.data.length; i++) target.data[i] = Number(value.data[i]);
  }
}
