// The layers a ResNet is made of, with PyTorch's constructor arguments, defaults and initialisation.
import { adaptiveAvgPool2d } from '../ops/adaptiveAvgPool2d.ts';
import { batchNorm2d } from '../ops/batchNorm2d.ts';
import { conv2d } from '../ops/conv2d.ts';
import { linear } from '../ops/linear.ts';
import { maxPool2d } from '../ops/maxPool2d.ts';
import { relu } from '../ops/relu.ts';
import { flatten } from '../ops/reshape.ts';
import type { Pair } from '../ops/util.ts';
import { IntTensor, Tensor } from '../tensor/tensor.ts';
import { calculateFans, constant, kaimingUniform, uniform } from './init.ts';
import { Module, Parameter } from './module.ts';

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly options: Required<Omit<Conv2dOptions, 'bias'>>;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    const groups = opts.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1)
      throw new Error(`Conv2d: groups must be a positive integer, got ${groups}`);
    if (inChannels % groups !== 0)
      throw new Error(`Conv2d: in_channels ${inChannels} must be divisible by groups ${groups}`);
    if (outChannels % groups !== 0)
      throw new Error(`Conv2d: out_channels ${outChannels} must be divisible by groups ${groups}`);
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.options = { stride: opts.stride ?? 1, padding: opts.padding ?? 0, dilation: opts.dilation ?? 1, groups };
    this.weight = Parameter.zeros([outChannels, inChannels / groups, kh, kw]);
    this.bias = opts.bias === false ? null : Parameter.zeros([outChannels]);
    // nn.Conv2d.reset_parameters: kaiming_uniform_(a=√5), bias U(±1/√fan_in).
    kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = 1 / Math.sqrt(calculateFans(this.weight.shape).fanIn);
      uniform(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
}

export class BatchNorm2d extends Module {
  weight: Parameter;
  bias: Parameter;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: IntTensor;
  readonly eps: number;
  readonly momentum: number;

  constructor(numFeatures: number, { eps = 1e-5, momentum = 0.1 }: BatchNorm2dOptions = {}) {
    super();
    this.eps = eps;
    this.momentum = momentum;
    this.weight = constant(Parameter.zeros([numFeatures]), 1) as Parameter;
    this.bias = Parameter.zeros([numFeatures]);
    this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', Tensor.full([numFeatures], 1));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', IntTensor.from([0], []));
  }

  /**
   * batch norm(x), plus `residual` when given, then the ReLU with `relu`: all in one pass over the output (see
   * batchNorm2d's options).
   */
  forward(x: Tensor, { relu = false, residual }: { relu?: boolean; residual?: Tensor } = {}): Tensor {
    if (this.training) this.numBatchesTracked.data[0] += 1n;
    return batchNorm2d(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
      relu,
      residual,
    });
  }
}

/** nn.ReLU; with `inplace` it overwrites its input, as torchvision's ResNets build it (nn.ReLU(inplace=True)). */
export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }

  forward(x: Tensor): Tensor {
    return relu(x, this.inplace);
  }
}

export interface MaxPool2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export class MaxPool2d extends Module {
  constructor(readonly options: MaxPool2dOptions) {
    super();
  }

  /** See maxPool2d for `gradIntoInput`. */
  forward(x: Tensor, opts: { gradIntoInput?: boolean } = {}): Tensor {
    return maxPool2d(x, this.options, opts);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, { bias = true } = {}) {
    super();
    this.weight = Parameter.zeros([outFeatures, inFeatures]);
    this.bias = bias ? Parameter.zeros([outFeatures]) : null;
    // nn.Linear.reset_parameters: kaiming_uniform_(a=√5) gives U(±1/√in); the bias uses the same bound.
    kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) uniform(this.bias, -1 / Math.sqrt(inFeatures), 1 / Math.sqrt(inFeatures));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Runs its children in order; they are named "0", "1", … as in nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }

  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    return this.layers[i];
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y);
    return y;
  }
}
