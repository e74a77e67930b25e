// ONNX export of the eval-mode forward pass of any model in src/models: each module kind has an emitter that
// mirrors its forward(); BatchNorm is folded into the preceding convolution or kept as BatchNormalization.
import { CifarResNet, ShortcutA } from '../../models/cifar.ts';
import type { Classifier } from '../../models/registry.ts';
import { BasicBlock, Bottleneck, ResNet } from '../../models/resnet.ts';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../../nn/layers.ts';
import type { Module } from '../../nn/module.ts';
import { pair } from '../../ops/util.ts';
import { Graph } from './graph.ts';

export interface OnnxExportOptions {
  inChannels: number;
  imgSize: number;
  /** Fold each BatchNorm into the convolution before it (default false): fewer nodes, same outputs. */
  foldBn?: boolean;
  /** 13 or newer (default 13). */
  opset?: number;
}

const MIN_OPSET = 13;
const MAX_OPSET = 21;

class Exporter {
  constructor(
    readonly g: Graph,
    readonly foldBn: boolean,
  ) {}

  /** Emits module `m` (at state-dict path `path`) applied to value `x`; returns the output value. */
  emit(m: Module, path: string, x: string): string {
    const at = (name: string) => (path ? `${path}.${name}` : name);
    if (m instanceof ResNet) {
      let y = this.relu(this.convNorm(m.conv1, m.bn1, at('conv1'), at('bn1'), x), at('relu'));
      y = this.emit(m.maxpool, at('maxpool'), y);
      for (const name of ['layer1', 'layer2', 'layer3', 'layer4'] as const) y = this.emit(m[name], at(name), y);
      return this.head(m, path, y);
    }
    if (m instanceof CifarResNet) {
      let y = this.relu(this.convNorm(m.conv1, m.bn1, at('conv1'), at('bn1'), x), at('relu'));
      for (const name of ['layer1', 'layer2', 'layer3'] as const) y = this.emit(m[name], at(name), y);
      return this.head(m, path, y);
    }
    if (m instanceof BasicBlock) {
      let y = this.relu(this.convNorm(m.conv1, m.bn1, at('conv1'), at('bn1'), x), at('relu1'));
      y = this.convNorm(m.conv2, m.bn2, at('conv2'), at('bn2'), y);
      return this.residual(m.downsample, at('downsample'), x, y, path);
    }
    if (m instanceof Bottleneck) {
      let y = this.relu(this.convNorm(m.conv1, m.bn1, at('conv1'), at('bn1'), x), at('relu1'));
      y = this.relu(this.convNorm(m.conv2, m.bn2, at('conv2'), at('bn2'), y), at('relu2'));
      y = this.convNorm(m.conv3, m.bn3, at('conv3'), at('bn3'), y);
      return this.residual(m.downsample, at('downsample'), x, y, path);
    }
    if (m instanceof Sequential) {
      let y = x;
      for (let i = 0; i < m.length; i++) {
        const next = m.layers[i + 1];
        if (m.layers[i] instanceof Conv2d && next !== undefined) {
          y = this.convNorm(m.layers[i] as Conv2d, next, at(String(i)), at(String(i + 1)), y);
          i++;
        } else {
          y = this.emit(m.layers[i], at(String(i)), y);
        }
      }
      return y;
    }
    if (m instanceof ShortcutA) return this.shortcutA(m, path, x);
    if (m instanceof Conv2d) return this.conv(m, path, x, null);
    if (m instanceof BatchNorm2d) return this.batchNorm(m, path, x);
    if (m instanceof ReLU) return this.relu(x, path);
    if (m instanceof MaxPool2d) {
      const o = m.options;
      const [kh, kw] = pair(o.kernelSize, 'MaxPool2d', 'kernelSize');
      const [ph, pw] = pair(o.padding ?? 0, 'MaxPool2d', 'padding');
      return this.g.node('MaxPool', [x], path, {
        kernel_shape: [kh, kw],
        strides: pair(o.stride ?? o.kernelSize, 'MaxPool2d', 'stride'),
        pads: [ph, pw, ph, pw],
        dilations: pair(o.dilation ?? 1, 'MaxPool2d', 'dilation'),
      });
    }
    if (m instanceof AdaptiveAvgPool2d) {
      const [oh, ow] = pair(m.outputSize, 'AdaptiveAvgPool2d', 'outputSize');
      if (oh !== 1 || ow !== 1) throw new Error(`exportOnnx: ${path}: only AdaptiveAvgPool2d(1) is exported`);
      return this.g.node('GlobalAveragePool', [x], path);
    }
    if (m instanceof Flatten) return this.g.node('Flatten', [x], path, { axis: m.startDim });
    if (m instanceof Linear) {
      const inputs = [x, this.param(m.weight.shape, m.weight.data, `${path}.weight`)];
      if (m.bias) inputs.push(this.param(m.bias.shape, m.bias.data, `${path}.bias`));
      return this.g.node('Gemm', inputs, path, { transB: 1 });
    }
    if (m instanceof Identity) return x;
    throw new Error(`exportOnnx: ${path || 'model'}: no ONNX export for module ${m.constructor.name}`);
  }

  /** Global average pool, flatten, and fc when the model has its top. */
  head(m: ResNet | CifarResNet, path: string, x: string): string {
    const at = (name: string) => (path ? `${path}.${name}` : name);
    const pooled = this.emit(m.avgpool, at('avgpool'), x);
    const flat = this.g.node('Flatten', [pooled], at('flatten'), { axis: 1 });
    return m.fc ? this.emit(m.fc, at('fc'), flat) : flat;
  }

  residual(downsample: Module | null, path: string, x: string, y: string, block: string): string {
    const identity = downsample ? this.emit(downsample, path, x) : x;
    return this.relu(this.g.node('Add', [y, identity], `${block}.add`), `${block}.relu`);
  }

  relu(x: string, path: string): string {
    return this.g.node('Relu', [x], path);
  }

  param(shape: readonly number[], data: Float32Array, name: string): string {
    return this.g.initializer(name, shape, data);
  }

  /** conv then norm; folded into one Conv when asked and the norm is a BatchNorm2d. */
  convNorm(conv: Conv2d, norm: Module, convPath: string, normPath: string, x: string): string {
    if (this.foldBn && norm instanceof BatchNorm2d) return this.conv(conv, convPath, x, norm);
    return this.emit(norm, normPath, this.conv(conv, convPath, x, null));
  }

  /**
   * Conv, with `bn` folded in when given: w' = w·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β.
   * Computed in float64 and rounded once.
   */
  conv(conv: Conv2d, path: string, x: string, bn: BatchNorm2d | null): string {
    const { stride, padding, dilation, groups } = conv.options;
    const [ph, pw] = pair(padding, 'Conv2d', 'padding');
    let weight = conv.weight.data;
    let bias = conv.bias?.data ?? null;
    const out = conv.weight.shape[0];
    if (bn) {
      const perChannel = weight.length / out;
      weight = new Float32Array(weight.length);
      bias = new Float32Array(out);
      for (let c = 0; c < out; c++) {
        const scale = bn.weight.data[c] / Math.sqrt(bn.runningVar.data[c] + bn.eps);
        for (let i = c * perChannel; i < (c + 1) * perChannel; i++) weight[i] = conv.weight.data[i] * scale;
        bias[c] = ((conv.bias?.data[c] ?? 0) - bn.runningMean.data[c]) * scale + bn.bias.data[c];
      }
    }
    const inputs = [x, this.param(conv.weight.shape, weight, `${path}.weight`)];
    if (bias) inputs.push(this.param([out], bias, `${path}.bias`));
    const [kh, kw] = conv.weight.shape.slice(2);
    return this.g.node('Conv', inputs, path, {
      kernel_shape: [kh, kw],
      strides: pair(stride, 'Conv2d', 'stride'),
      pads: [ph, pw, ph, pw],
      dilations: pair(dilation, 'Conv2d', 'dilation'),
      group: groups,
    });
  }

  batchNorm(bn: BatchNorm2d, path: string, x: string): string {
    const inputs = [
      x,
      this.param(bn.weight.shape, bn.weight.data, `${path}.weight`),
      this.param(bn.bias.shape, bn.bias.data, `${path}.bias`),
      this.param(bn.runningMean.shape, bn.runningMean.data, `${path}.running_mean`),
      this.param(bn.runningVar.shape, bn.runningVar.data, `${path}.running_var`),
    ];
    return this.g.node('BatchNormalization', inputs, path, { epsilon: { float: bn.eps } });
  }

  /** Option A: x[:, :, ::s, ::s] (a strided Slice), then zero channels on both sides (Pad). */
  shortcutA(m: ShortcutA, path: string, x: string): string {
    const ints = (name: string, values: number[]) =>
      this.g.initializer(`${path}.${name}`, [values.length], BigInt64Array.from(values, BigInt));
    const end = Number.MAX_SAFE_INTEGER;
    const sliced = this.g.node(
      'Slice',
      [x, ints('starts', [0, 0]), ints('ends', [end, end]), ints('axes', [2, 3]), ints('steps', [m.stride, m.stride])],
      `${path}.slice`,
    );
    const p = m.padChannels;
    return this.g.node('Pad', [sliced, ints('pads', [0, p, 0, 0, 0, p, 0, 0])], `${path}.pad`);
  }
}

/** The model's eval-mode forward as an ONNX file: input "input" [batch, C, S, S], output "output" [batch, K]. */
export function exportOnnx(model: Classifier, opts: OnnxExportOptions): Uint8Array {
  const { inChannels, imgSize, foldBn = false, opset = MIN_OPSET } = opts;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new Error(`exportOnnx: opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  }
  if (!Number.isInteger(imgSize) || imgSize < 1) throw new Error(`exportOnnx: imgSize must be ≥ 1, got ${imgSize}`);
  const stem = model instanceof ResNet || model instanceof CifarResNet ? model.conv1.weight.shape[1] : inChannels;
  if (inChannels !== stem) {
    throw new Error(`exportOnnx: inChannels is ${inChannels} but the model's first convolution takes ${stem}`);
  }
  const fc = model.fc;
  const classes = fc instanceof Linear ? fc.weight.shape[0] : model.featureDim;
  const g = new Graph();
  const input = g.name('input');
  const last = new Exporter(g, foldBn).emit(model, '', input);
  const output = g.node('Identity', [last], 'output');
  return g.serialize({
    input,
    inputShape: [inChannels, imgSize, imgSize],
    output,
    outputShape: [classes],
    opset,
    graphName: model.constructor.name,
  });
}
