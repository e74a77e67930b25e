// The paper's CIFAR-10 ResNets (He et al. 2015, §4.2): 6n+2 layers on 16/32/64 channels, option-A shortcuts.
// Blocks are torchvision's BasicBlock with a parameter-free shortcut, so keys read layer1..3.i.{conv1,bn1,conv2,bn2}.

import { kaimingNormal } from '../nn/init.ts';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, ReLU, Sequential } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import { flatten } from '../ops/reshape.ts';
import { shortcutA } from '../ops/shortcutA.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { BasicBlock, conv3x3, normRelu } from './resnet.ts';

/** Option A: subsample by the stride, zero-pad the new channels equally on both sides. No parameters. */
export class ShortcutA extends Module {
  constructor(
    readonly stride: number,
    readonly padChannels: number,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return shortcutA(x, this.stride, this.padChannels);
  }
}

export interface CifarResNetOptions {
  numClasses?: number;
  inChannels?: number;
  includeTop?: boolean;
}

export class CifarResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu = new ReLU(true);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  avgpool = new AdaptiveAvgPool2d(1);
  fc: Linear | null;
  readonly featureDim = 64;
  private inPlanes = 16;

  /** `n` blocks per stage: depth 6n+2. */
  constructor(n: number, { numClasses = 10, inChannels = 3, includeTop = true }: CifarResNetOptions = {}) {
    super();
    if (!Number.isInteger(n) || n < 1) throw new Error(`CifarResNet: blocks per stage must be ≥ 1, got ${n}`);
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new Error(`CifarResNet: numClasses must be ≥ 1, got ${numClasses}`);
    if (!Number.isInteger(inChannels) || inChannels < 1)
      throw new Error(`CifarResNet: inChannels must be ≥ 1, got ${inChannels}`);
    this.conv1 = conv3x3(inChannels, 16);
    this.bn1 = new BatchNorm2d(16);
    this.layer1 = this.makeLayer(16, n, 1);
    this.layer2 = this.makeLayer(32, n, 2);
    this.layer3 = this.makeLayer(64, n, 2);
    this.fc = includeTop ? new Linear(64, numClasses) : null;
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
    }
  }

  private makeLayer(planes: number, blocks: number, stride: number): Sequential {
    const layers: Module[] = [];
    for (let i = 0; i < blocks; i++) {
      const s = i === 0 ? stride : 1;
      const downsample = s !== 1 || this.inPlanes !== planes ? new ShortcutA(s, (planes - this.inPlanes) / 2) : null;
      layers.push(new BasicBlock(this.inPlanes, planes, { stride: s, downsample }));
      this.inPlanes = planes;
    }
    return new Sequential(...layers);
  }

  /** The last stage's output (N, 64, H/4, W/4), before pooling: where Grad-CAM looks. */
  featureMaps(x: Tensor): Tensor {
    const y = normRelu(this.bn1, this.relu, this.conv1.forward(x));
    return this.layer3.forward(this.layer2.forward(this.layer1.forward(y)));
  }

  features(x: Tensor): Tensor {
    return flatten(this.avgpool.forward(this.featureMaps(x)), 1);
  }

  forward(x: Tensor): Tensor {
    const f = this.features(x);
    return this.fc ? this.fc.forward(f) : f;
  }
}

export const resnet20 = (o: CifarResNetOptions = {}) => new CifarResNet(3, o);
export const resnet32 = (o: CifarResNetOptions = {}) => new CifarResNet(5, o);
export const resnet44 = (o: CifarResNetOptions = {}) => new CifarResNet(7, o);
export const resnet56 = (o: CifarResNetOptions = {}) => new CifarResNet(9, o);
export const resnet110 = (o: CifarResNetOptions = {}) => new CifarResNet(18, o);
