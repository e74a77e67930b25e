// maxPool2d: the largest value in each window; the gradient goes back to where it came from (saved indices).
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import type { PoolGeometry } from '../backend/kernels.ts';
import { takeBuffer, takeInt32 } from '../tensor/pool.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank, type Pair, pair, windowOutput } from './util.ts';

export interface MaxPool2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export function poolGeometry(shape: readonly number[], opts: MaxPool2dOptions): PoolGeometry {
  const [n, c, h, w] = shape;
  const [kh, kw] = pair(opts.kernelSize, 'maxPool2d', 'kernelSize');
  const [strideH, strideW] = pair(opts.stride ?? opts.kernelSize, 'maxPool2d', 'stride');
  const [padH, padW] = pair(opts.padding ?? 0, 'maxPool2d', 'padding');
  const [dilationH, dilationW] = pair(opts.dilation ?? 1, 'maxPool2d', 'dilation');
  if (kh < 1 || kw < 1 || strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1) {
    throw new Error('maxPool2d: kernelSize, stride and dilation must be ≥ 1');
  }
  // PyTorch's rule: padding at most half the kernel, so every window holds at least one real value.
  if (padH < 0 || padW < 0 || padH > kh / 2 || padW > kw / 2) {
    throw new Error(`maxPool2d: padding [${padH}, ${padW}] must be between 0 and half the kernel [${kh}, ${kw}]`);
  }
  const oh = windowOutput(h, kh, strideH, padH, dilationH);
  const ow = windowOutput(w, kw, strideW, padW, dilationW);
  if (oh < 1 || ow < 1) throw new Error(`maxPool2d: input ${shapeString(shape)} is too small (output ${oh}×${ow})`);
  return { n, c, h, w, oh, ow, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW };
}

/**
 * x is (N,C,H,W) → (N,C,OH,OW). With `gradIntoInput` the caller promises that nothing reads x's values after this
 * call (the backward pass of a ReLU fused into the batch norm before it reads the norm's input, not x): the backward
 * pass then writes x's gradient into x's own buffer instead of a new one.
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions, { gradIntoInput = false } = {}): Tensor {
  expectRank(x, 4, 'maxPool2d', 'input');
  const g = poolGeometry(x.shape, opts);
  const k = kernels();
  const y = emptyTensor([g.n, g.c, g.oh, g.ow]);
  const indices = takeInt32(y.numel);
  k.maxPool2d(g, x.data, y.data, indices);
  return record(y, 'maxPool2d', [x], (dy) => {
    const dx = gradIntoInput ? x.data : takeBuffer(x.numel);
    k.maxPool2dBackward(g, dy, indices, dx);
    return [dx];
  });
}
