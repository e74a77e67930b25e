// adaptiveAvgPool2d: average over PyTorch's adaptive windows to a fixed output size (1×1 is global pooling).
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank, type Pair, pair } from './util.ts';

// x is (N,C,H,W) → (N,C,OH,OW)
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  expectRank(x, 4, 'adaptiveAvgPool2d', 'input');
  const [n, c, h, w] = x.shape;
  const [oh, ow] = pair(outputSize, 'adaptiveAvgPool2d', 'outputSize');
  if (oh < 1 || ow < 1 || h < 1 || w < 1) {
    throw new Error(`adaptiveAvgPool2d: output size [${oh}, ${ow}] and input size [${h}, ${w}] must be positive`);
  }
  const k = kernels();
  const y = emptyTensor([n, c, oh, ow]);
  k.adaptiveAvgPool2d(n * c, h, w, oh, ow, x.data, y.data);
  return record(y, 'adaptiveAvgPool2d', [x], (dy) => {
    const dx = takeBuffer(x.numel); // the kernel overwrites it
    k.adaptiveAvgPool2dBackward(n * c, h, w, oh, ow, dy, dx);
    return [dx];
  });
}
