// conv2d: forward and both gradients (input and weight; the bias gradient is a sum over N, H, W).
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import type { ConvGeometry } from '../backend/kernels.ts';
import { takeBuffer, takeZeroed } from '../tensor/pool.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank, type Pair, pair, windowOutput } from './util.ts';

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions): ConvGeometry {
  const [n, c, h, w] = xShape;
  const [oc, cPerGroup, kh, kw] = wShape;
  const [strideH, strideW] = pair(opts.stride ?? 1, 'conv2d', 'stride');
  const [padH, padW] = pair(opts.padding ?? 0, 'conv2d', 'padding');
  const [dilationH, dilationW] = pair(opts.dilation ?? 1, 'conv2d', 'dilation');
  const groups = opts.groups ?? 1;
  if (strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1 || padH < 0 || padW < 0) {
    throw new Error(`conv2d: stride and dilation must be ≥ 1 and padding ≥ 0`);
  }
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || oc % groups !== 0) {
    throw new Error(`conv2d: groups=${groups} must divide in channels ${c} and out channels ${oc}`);
  }
  if (cPerGroup * groups !== c) {
    throw new Error(
      `conv2d: weight ${shapeString(wShape)} expects ${cPerGroup * groups} input channels (groups=${groups}), but input ${shapeString(xShape)} has ${c}`,
    );
  }
  const oh = windowOutput(h, kh, strideH, padH, dilationH);
  const ow = windowOutput(w, kw, strideW, padW, dilationW);
  if (oh < 1 || ow < 1) {
    throw new Error(
      `conv2d: input ${shapeString(xShape)} is too small for kernel ${kh}×${kw} (output would be ${oh}×${ow})`,
    );
  }
  return { n, c, h, w, oc, kh, kw, oh, ow, strideH, strideW, padH, padW, dilationH, dilationW, groups };
}

// x is (N,C,H,W), weight is (OC,C/groups,KH,KW), bias is (OC) → (N,OC,OH,OW)
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  expectRank(x, 4, 'conv2d', 'input');
  expectRank(weight, 4, 'conv2d', 'weight');
  const g = convGeometry(x.shape, weight.shape, opts);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== g.oc)) {
    throw new Error(`conv2d: bias must have shape [${g.oc}], got ${shapeString(bias.shape)}`);
  }
  const k = kernels();
  const y = emptyTensor([g.n, g.oc, g.oh, g.ow]);
  k.conv2d(g, x.data, weight.data, bias?.data ?? null, y.data);
  return record(y, 'conv2d', [x, weight, bias], (dy, needs, pending) => {
    // x's gradient from its other use, if it has one, takes this one added in (see BackwardFn).
    const into = needs[0] ? pending[0] : undefined;
    const dx = needs[0] ? (into ?? takeBuffer(x.numel)) : null;
    const dw = needs[1] ? takeBuffer(weight.numel) : null;
    let db: Float32Array | null = null;
    if (dx || dw) k.conv2dBackward(g, dy, x.data, weight.data, dx, into !== undefined, dw);
    if (needs[2]) {
      db = takeZeroed(g.oc);
      const plane = g.oh * g.ow;
      for (let n = 0; n < g.n; n++) {
        for (let o = 0; o < g.oc; o++) {
          let s = 0;
          for (let i = (n * g.oc + o) * plane, end = i + plane; i < end; i++) s += dy[i];
          db[o] += s;
        }
      }
    }
    return [dx, dw, db];
  });
}
