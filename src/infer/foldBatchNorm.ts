// Folding an eval-mode BatchNorm2d into the convolution before it: conv(x, w)·s + (β − μ·s) with s = γ/√(σ² + ε)
// is conv(x, w·s) + b, so one fused kernel call replaces conv, BN (and the ReLU and residual add after them).

import type { ConvGeometry } from '../backend/kernels.ts';
import { BatchNorm2d, type Conv2d } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { convGeometry } from '../ops/conv2d.ts';

/** A convolution with its BN folded in: weight [OC, C/groups, KH, KW] and bias [OC], copies of the model's. */
export interface FoldedConv {
  weight: Float32Array;
  bias: Float32Array;
  weightShape: readonly number[];
  options: Conv2d['options'];
  /** Where it came from, for error messages: e.g. 'layer1.0.conv1+bn1'. */
  name: string;
  /**
   * weight in the backend's packed layouts (Kernels.packConv2dWeight), by layout name (Kernels.conv2dPackedLayout;
   * 'winograd' for either Winograd variant), each made at the first call that needs it: a model run at batch 1 and 8
   * holds two packings of resnet50's layer4.
   */
  packed: Map<string, Float32Array>;
}

/** Folds `norm` (a BatchNorm2d with running statistics) into `conv`; the model itself is not changed. */
export function foldBatchNorm(conv: Conv2d, norm: Module, name: string): FoldedConv {
  if (!(norm instanceof BatchNorm2d)) {
    throw new Error(`compileForInference: ${name}: only BatchNorm2d can be folded, got ${norm.constructor.name}`);
  }
  const [oc] = conv.weight.shape;
  if (norm.runningMean.numel !== oc) {
    throw new Error(`compileForInference: ${name}: BN has ${norm.runningMean.numel} channels, conv has ${oc}`);
  }
  const perChannel = conv.weight.numel / oc;
  const weight = new Float32Array(conv.weight.numel);
  const bias = new Float32Array(oc);
  for (let o = 0; o < oc; o++) {
    // In float64, so that folding adds no error beyond the final rounding to float32.
    const scale = norm.weight.data[o] / Math.sqrt(norm.runningVar.data[o] + norm.eps);
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) weight[i] = conv.weight.data[i] * scale;
    const convBias = conv.bias ? conv.bias.data[o] : 0;
    bias[o] = norm.bias.data[o] + (convBias - norm.runningMean.data[o]) * scale;
  }
  return { weight, bias, weightShape: conv.weight.shape, options: conv.options, name, packed: new Map() };
}

/** The geometry of a folded convolution on an input of shape xShape. */
export function foldedGeometry(f: FoldedConv, xShape: readonly number[]): ConvGeometry {
  return convGeometry(xShape, f.weightShape, f.options);
}
