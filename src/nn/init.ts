// Parameter initialisers with PyTorch's formulas (torch.nn.init): fans, gains, kaiming normal and uniform.
import { defaultGenerator, type Generator } from '../tensor/random.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';

export type FanMode = 'fanIn' | 'fanOut';
export type Nonlinearity = 'relu' | 'leakyRelu' | 'linear';

export function calculateFans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2)
    throw new Error(`init: fan in and fan out need at least 2 dimensions, got ${shapeString(shape)}`);
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i];
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export function calculateGain(nonlinearity: Nonlinearity, a = 0.01): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leakyRelu') return Math.sqrt(2 / (1 + a * a));
  return 1;
}

export interface KaimingOptions {
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(t: Tensor, { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu' }: KaimingOptions): number {
  const fans = calculateFans(t.shape);
  const fan = mode === 'fanIn' ? fans.fanIn : fans.fanOut;
  return calculateGain(nonlinearity, a) / Math.sqrt(fan);
}

/** N(0, std²) with std = gain/√fan: torch.nn.init.kaiming_normal_. */
export function kaimingNormal(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, opts), opts.generator);
}

/** U(−bound, bound) with bound = gain·√(3/fan): torch.nn.init.kaiming_uniform_. */
export function kaimingUniform(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform(t, -bound, bound, opts.generator);
}

export function uniform(t: Tensor, low: number, high: number, generator: Generator = defaultGenerator): Tensor {
  for (let i = 0; i < t.numel; i++) t.data[i] = generator.uniform(low, high);
  return t;
}

export function normal(t: Tensor, mean: number, std: number, generator: Generator = defaultGenerator): Tensor {
  for (let i = 0; i < t.numel; i++) t.data[i] = mean + std * generator.normal();
  return t;
}

export function constant(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}
