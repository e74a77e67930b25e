// summary(): a layer table (output shape, parameters, multiply-adds) computed from shapes alone, so even
// wide_resnet101_2 at 224×224 is summarised instantly. Leaf layers are replaced by shape functions for one pass.

import { noGrad } from '../autograd/tape.ts';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Identity, Linear, MaxPool2d, ReLU } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { convGeometry } from '../ops/conv2d.ts';
import { poolGeometry } from '../ops/maxPool2d.ts';
import { pair } from '../ops/util.ts';
import { numel, Tensor } from '../tensor/tensor.ts';
import { ShortcutA } from './cifar.ts';
import { unfused } from './resnet.ts';

export interface SummaryRow {
  name: string;
  type: string;
  outputShape: number[];
  params: number;
  /** Multiply-adds for one image (convolutions and linear layers, as torchvision's GFLOPS column counts). */
  macs: number;
}

export interface Summary {
  rows: SummaryRow[];
  params: number;
  trainableParams: number;
  macs: number;
  inputShape: number[];
}

function leafShape(m: Module, s: readonly number[]): { shape: number[]; macs: number } {
  if (m instanceof Conv2d) {
    const g = convGeometry(s, m.weight.shape, m.options);
    return { shape: [g.n, g.oc, g.oh, g.ow], macs: g.oc * g.oh * g.ow * (g.c / g.groups) * g.kh * g.kw };
  }
  if (m instanceof Linear) return { shape: [s[0], m.weight.shape[0]], macs: m.weight.numel };
  if (m instanceof MaxPool2d) {
    const g = poolGeometry(s, m.options);
    return { shape: [g.n, g.c, g.oh, g.ow], macs: 0 };
  }
  if (m instanceof AdaptiveAvgPool2d)
    return { shape: [s[0], s[1], ...pair(m.outputSize, 'summary', 'outputSize')], macs: 0 };
  if (m instanceof ShortcutA) {
    return { shape: [s[0], s[1] + 2 * m.padChannels, Math.ceil(s[2] / m.stride), Math.ceil(s[3] / m.stride)], macs: 0 };
  }
  if (m instanceof Flatten) return { shape: [...s.slice(0, m.startDim), numel(s.slice(m.startDim))], macs: 0 };
  if (m instanceof BatchNorm2d || m instanceof ReLU || m instanceof Identity) return { shape: [...s], macs: 0 };
  throw new Error(`summary: no shape rule for layer type ${m.constructor.name}`);
}

export function summary(model: Module, inputShape: readonly number[]): Summary {
  const rows: SummaryRow[] = [];
  const counted = new Set<string>();
  const patched: Module[] = [];
  for (const [name, m] of model.namedModules()) {
    if (m.namedChildren().length > 0 || m === model) continue;
    const params = m.parameters().reduce((n, p) => n + p.numel, 0);
    m.forward = (x: Tensor) => {
      const { shape, macs } = leafShape(m, x.shape);
      // A shared module (torchvision's one ReLU per block) appears once per call, under its one name.
      rows.push({
        name,
        type: m.constructor.name,
        outputShape: shape,
        params: counted.has(name) ? 0 : params,
        macs,
      });
      counted.add(name);
      return Tensor.zeros(shape);
    };
    patched.push(m);
  }
  try {
    noGrad(() => unfused(() => model.forward(Tensor.zeros(inputShape))));
  } finally {
    for (const m of patched) delete (m as Partial<Module>).forward;
  }
  const all = model.parameters();
  return {
    rows,
    params: all.reduce((n, p) => n + p.numel, 0),
    trainableParams: all.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel, 0),
    macs: rows.reduce((n, r) => n + r.macs, 0),
    inputShape: [...inputShape],
  };
}
