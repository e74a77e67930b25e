// ResNet as torchvision builds it (models/resnet.py): conv helpers, the two blocks with their expansion,
// ResNet with makeLayer, then the builders, whose architecture is data. Stride sits on the 3×3 ("v1.5").

import { constant, kaimingNormal } from '../nn/init.ts';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import { add, addRelu } from '../ops/add.ts';
import { flatten } from '../ops/reshape.ts';
import type { Tensor } from '../tensor/tensor.ts';

export type NormLayer = (channels: number) => Module;

/** 3×3 convolution with padding (= dilation, so the spatial size only changes with the stride). */
export function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, dilation, bias: false });
}

/** 1×1 convolution: changes the channel count (and with stride 2, subsamples). */
export function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

export interface BlockArgs {
  stride?: number;
  downsample?: Module | null;
  groups?: number;
  baseWidth?: number;
  dilation?: number;
  normLayer?: NormLayer;
}

export interface Block extends Module {
  /** The last norm layer of the residual branch: zeroInitResidual zeroes its weight. */
  readonly lastNorm: Module;
}

export interface BlockClass {
  new (inPlanes: number, planes: number, args?: BlockArgs): Block;
  /** Output channels = planes × expansion. */
  readonly expansion: number;
}

const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);

let fusing = true;

/**
 * Runs fn with the blocks calling their layers one module at a time, in torchvision's order (norm, ReLU module,
 * shortcut after the branch, add, ReLU module): what `summary` lists. The values are the same either way.
 */
export function unfused<T>(fn: () => T): T {
  const was = fusing;
  fusing = false;
  try {
    return fn();
  } finally {
    fusing = was;
  }
}

/**
 * relu(norm(x)). With a BatchNorm2d (the default norm layer) the ReLU happens in the norm's own pass over the output,
 * which saves the in-place ReLU's read and write of the whole activation; other norm layers run as two modules.
 */
export function normRelu(norm: Module, relu: ReLU, x: Tensor): Tensor {
  return fusesRelu(norm) ? norm.forward(x, { relu: true }) : relu.forward(norm.forward(x));
}

/** Whether normRelu and normAddRelu run the ReLU (and the add) in `norm`'s own pass. */
function fusesRelu(norm: Module): norm is BatchNorm2d {
  return fusing && norm instanceof BatchNorm2d;
}

/**
 * maxpool(relu(norm(x))), the stem's end. With the ReLU fused into a BatchNorm2d (normRelu) nothing reads the ReLU's
 * output once it is pooled: the norm's backward finds the ReLU's mask from the norm's input, and the pooling's from
 * its indices. So the output's buffer takes its own gradient (maxPool2d's gradIntoInput), and resnet18's training
 * step at batch 32 holds two 103 MB buffers at the stem's backward instead of three.
 */
export function normReluMaxPool(norm: Module, relu: ReLU, pool: MaxPool2d, x: Tensor): Tensor {
  return pool.forward(normRelu(norm, relu, x), { gradIntoInput: fusesRelu(norm) });
}

/**
 * relu(norm(x) + shortcut()), a residual block's end. With a BatchNorm2d the add and the ReLU happen in the norm's
 * own pass over the output, which needs the shortcut first; other norm layers run the norm, then the add and ReLU
 * in one pass in place.
 */
export function normAddRelu(norm: Module, relu: ReLU, x: Tensor, shortcut: () => Tensor): Tensor {
  if (fusesRelu(norm)) return norm.forward(x, { relu: true, residual: shortcut() });
  const out = norm.forward(x);
  const identity = shortcut();
  return fusing ? addRelu(out, identity, true) : relu.forward(add(out, identity, true));
}

/** Two 3×3 convolutions (ResNet-18/34). */
export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: Module;
  relu = new ReLU(true);
  conv2: Conv2d;
  bn2: Module;
  downsample: Module | null;

  constructor(inPlanes: number, planes: number, args: BlockArgs = {}) {
    super();
    const { stride = 1, downsample = null, groups = 1, baseWidth = 64, dilation = 1, normLayer = defaultNorm } = args;
    if (groups !== 1 || baseWidth !== 64) throw new Error('BasicBlock only supports groups=1 and base_width=64');
    if (dilation > 1) throw new Error('Dilation > 1 not supported in BasicBlock');
    this.conv1 = conv3x3(inPlanes, planes, stride);
    this.bn1 = normLayer(planes);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = normLayer(planes);
    this.downsample = downsample;
  }

  get lastNorm(): Module {
    return this.bn2;
  }

  forward(x: Tensor): Tensor {
    const out = this.conv2.forward(normRelu(this.bn1, this.relu, this.conv1.forward(x)));
    return normAddRelu(this.bn2, this.relu, out, () => (this.downsample ? this.downsample.forward(x) : x));
  }
}

/** 1×1 reduce, 3×3 (strided, grouped), 1×1 expand ×4 (ResNet-50 and deeper, ResNeXt, Wide ResNet). */
export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: Module;
  conv2: Conv2d;
  bn2: Module;
  conv3: Conv2d;
  bn3: Module;
  relu = new ReLU(true);
  downsample: Module | null;

  constructor(inPlanes: number, planes: number, args: BlockArgs = {}) {
    super();
    const { stride = 1, downsample = null, groups = 1, baseWidth = 64, dilation = 1, normLayer = defaultNorm } = args;
    const width = Math.floor(planes * (baseWidth / 64)) * groups;
    this.conv1 = conv1x1(inPlanes, width);
    this.bn1 = normLayer(width);
    this.conv2 = conv3x3(width, width, stride, groups, dilation);
    this.bn2 = normLayer(width);
    this.conv3 = conv1x1(width, planes * Bottleneck.expansion);
    this.bn3 = normLayer(planes * Bottleneck.expansion);
    this.downsample = downsample;
  }

  get lastNorm(): Module {
    return this.bn3;
  }

  forward(x: Tensor): Tensor {
    let out = normRelu(this.bn1, this.relu, this.conv1.forward(x));
    out = this.conv3.forward(normRelu(this.bn2, this.relu, this.conv2.forward(out)));
    return normAddRelu(this.bn3, this.relu, out, () => (this.downsample ? this.downsample.forward(x) : x));
  }
}

export interface ResNetOptions {
  block: BlockClass;
  layers: readonly [number, number, number, number];
  numClasses?: number;
  /** false drops fc: forward returns the pooled feature vector (512·expansion values per image). */
  includeTop?: boolean;
  zeroInitResidual?: boolean;
  groups?: number;
  widthPerGroup?: number;
  /** For layer2..4: trade the stride-2 subsampling for dilation (semantic segmentation backbones). */
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean];
  normLayer?: NormLayer;
  inChannels?: number;
}

export class ResNet extends Module {
  conv1: Conv2d;
  bn1: Module;
  relu = new ReLU(true);
  maxpool = new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 });
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool = new AdaptiveAvgPool2d(1);
  fc: Linear | null;
  readonly featureDim: number;

  private inPlanes = 64;
  private dilation = 1;
  private readonly groups: number;
  private readonly baseWidth: number;
  private readonly normLayer: NormLayer;

  constructor(opts: ResNetOptions) {
    super();
    const { block, layers, numClasses = 1000, includeTop = true, zeroInitResidual = false, inChannels = 3 } = opts;
    const replace = opts.replaceStrideWithDilation ?? [false, false, false];
    if (replace.length !== 3) {
      throw new Error(
        `replace_stride_with_dilation should be None or a 3-element tuple, got ${JSON.stringify(replace)}`,
      );
    }
    if (layers.length !== 4 || !layers.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new Error(`ResNet: layers must be four positive block counts, got ${JSON.stringify(layers)}`);
    }
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new Error(`ResNet: numClasses must be ≥ 1, got ${numClasses}`);
    if (!Number.isInteger(inChannels) || inChannels < 1)
      throw new Error(`ResNet: inChannels must be ≥ 1, got ${inChannels}`);
    this.groups = opts.groups ?? 1;
    this.baseWidth = opts.widthPerGroup ?? 64;
    this.normLayer = opts.normLayer ?? defaultNorm;

    this.conv1 = new Conv2d(inChannels, this.inPlanes, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = this.normLayer(this.inPlanes);
    this.layer1 = this.makeLayer(block, 64, layers[0]);
    this.layer2 = this.makeLayer(block, 128, layers[1], 2, replace[0]);
    this.layer3 = this.makeLayer(block, 256, layers[2], 2, replace[1]);
    this.layer4 = this.makeLayer(block, 512, layers[3], 2, replace[2]);
    this.featureDim = 512 * block.expansion;
    this.fc = includeTop ? new Linear(this.featureDim, numClasses) : null;

    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
    }
    // Zero the last BN of each residual branch so every block starts as the identity (Goyal et al. 2017).
    if (zeroInitResidual) {
      for (const [, m] of this.namedModules()) {
        if ((m instanceof BasicBlock || m instanceof Bottleneck) && m.lastNorm instanceof BatchNorm2d) {
          constant(m.lastNorm.weight, 0);
        }
      }
    }
  }

  /**
   * One stage: `blocks` blocks of `planes`·expansion output channels. Only the first block may change the
   * resolution (stride) or the channel count, so only it can need a downsample shortcut (1×1 conv + norm).
   */
  private makeLayer(block: BlockClass, planes: number, blocks: number, stride = 1, dilate = false): Sequential {
    const previousDilation = this.dilation;
    if (dilate) {
      this.dilation *= stride;
      stride = 1;
    }
    let downsample: Module | null = null;
    if (stride !== 1 || this.inPlanes !== planes * block.expansion) {
      downsample = new Sequential(
        conv1x1(this.inPlanes, planes * block.expansion, stride),
        this.normLayer(planes * block.expansion),
      );
    }
    const common = { groups: this.groups, baseWidth: this.baseWidth, normLayer: this.normLayer };
    const layers: Module[] = [
      new block(this.inPlanes, planes, { ...common, stride, downsample, dilation: previousDilation }),
    ];
    this.inPlanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++)
      layers.push(new block(this.inPlanes, planes, { ...common, dilation: this.dilation }));
    return new Sequential(...layers);
  }

  /** The last stage's output (N, 512·expansion, h, w), before pooling: where Grad-CAM looks. */
  featureMaps(x: Tensor): Tensor {
    const y = normReluMaxPool(this.bn1, this.relu, this.maxpool, this.conv1.forward(x));
    return this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(y))));
  }

  /** The pooled feature vector (N, 512·expansion): everything but fc. */
  features(x: Tensor): Tensor {
    return flatten(this.avgpool.forward(this.featureMaps(x)), 1);
  }

  forward(x: Tensor): Tensor {
    const f = this.features(x);
    return this.fc ? this.fc.forward(f) : f;
  }
}

export type BuilderOptions = Omit<ResNetOptions, 'block' | 'layers'>;

export const resnet18 = (o: BuilderOptions = {}) => new ResNet({ ...o, block: BasicBlock, layers: [2, 2, 2, 2] });
export const resnet34 = (o: BuilderOptions = {}) => new ResNet({ ...o, block: BasicBlock, layers: [3, 4, 6, 3] });
export const resnet50 = (o: BuilderOptions = {}) => new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 6, 3] });
export const resnet101 = (o: BuilderOptions = {}) => new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 23, 3] });
export const resnet152 = (o: BuilderOptions = {}) => new ResNet({ ...o, block: Bottleneck, layers: [3, 8, 36, 3] });

export const resnext50_32x4d = (o: BuilderOptions = {}) =>
  new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 });
export const resnext101_32x8d = (o: BuilderOptions = {}) =>
  new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8 });
export const resnext101_64x4d = (o: BuilderOptions = {}) =>
  new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4 });

export const wide_resnet50_2 = (o: BuilderOptions = {}) =>
  new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 6, 3], widthPerGroup: 64 * 2 });
export const wide_resnet101_2 = (o: BuilderOptions = {}) =>
  new ResNet({ ...o, block: Bottleneck, layers: [3, 4, 23, 3], widthPerGroup: 64 * 2 });
