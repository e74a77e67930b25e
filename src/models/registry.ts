// Every architecture by its torchvision name, so the CLI and checkpoints can build a model from a string.
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/tensor.ts';
import * as cifar from './cifar.ts';
import * as resnet from './resnet.ts';

export interface ModelOptions {
  numClasses?: number;
  inChannels?: number;
  includeTop?: boolean;
  zeroInitResidual?: boolean;
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean];
}

/** A classifier with a feature extractor in front of `fc` (null when built with includeTop: false). */
export interface Classifier extends Module {
  fc: Module | null;
  readonly featureDim: number;
  /** The last conv stage's output (N, featureDim, h, w), before global average pooling. */
  featureMaps(x: Tensor): Tensor;
  /** Global average pooling of featureMaps, flattened: (N, featureDim). */
  features(x: Tensor): Tensor;
}

type Builder = (o: ModelOptions) => Classifier;

const imagenet =
  (b: (o: resnet.BuilderOptions) => resnet.ResNet): Builder =>
  (o) =>
    b(o);
const cifarNet =
  (b: (o: cifar.CifarResNetOptions) => cifar.CifarResNet): Builder =>
  (o) => {
    if (o.zeroInitResidual || o.replaceStrideWithDilation) {
      throw new Error('the CIFAR ResNets support only numClasses, inChannels and includeTop');
    }
    return b(o);
  };

export const architectures: Readonly<Record<string, Builder>> = {
  resnet18: imagenet(resnet.resnet18),
  resnet34: imagenet(resnet.resnet34),
  resnet50: imagenet(resnet.resnet50),
  resnet101: imagenet(resnet.resnet101),
  resnet152: imagenet(resnet.resnet152),
  resnext50_32x4d: imagenet(resnet.resnext50_32x4d),
  resnext101_32x8d: imagenet(resnet.resnext101_32x8d),
  resnext101_64x4d: imagenet(resnet.resnext101_64x4d),
  wide_resnet50_2: imagenet(resnet.wide_resnet50_2),
  wide_resnet101_2: imagenet(resnet.wide_resnet101_2),
  resnet20: cifarNet(cifar.resnet20),
  resnet32: cifarNet(cifar.resnet32),
  resnet44: cifarNet(cifar.resnet44),
  resnet56: cifarNet(cifar.resnet56),
  resnet110: cifarNet(cifar.resnet110),
};

export function buildModel(arch: string, opts: ModelOptions = {}): Classifier {
  const builder = architectures[arch];
  if (!builder)
    throw new Error(`unknown architecture "${arch}"; choose one of: ${Object.keys(architectures).join(', ')}`);
  return builder(opts);
}
