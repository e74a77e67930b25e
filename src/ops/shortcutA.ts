// The paper's option-A shortcut (He et al. 2015, §4.2): subsample by the stride, then zero-pad channels equally
// on both sides. It has no parameters, so the CIFAR nets keep exactly the paper's parameter counts.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank } from './util.ts';

// x is (N,C,H,W) → (N, C + 2·padChannels, ⌈H/stride⌉, ⌈W/stride⌉): the backend's shortcutA kernels.
export function shortcutA(x: Tensor, stride: number, padChannels: number): Tensor {
  expectRank(x, 4, 'shortcutA', 'input');
  const [n, c, h, w] = x.shape;
  const k = kernels();
  const y = emptyTensor([n, c + 2 * padChannels, Math.ceil(h / stride), Math.ceil(w / stride)]);
  k.shortcutA(n, c, h, w, stride, padChannels, x.data, y.data);
  return record(y, 'shortcutA', [x], (dy) => {
    const dx = takeBuffer(x.numel);
    k.shortcutABackward(n, c, h, w, stride, padChannels, dy, dx);
    return [dx];
  });
}
