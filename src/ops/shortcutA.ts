// The paper's option-A shortcut (He et al. 2015, §4.2): subsample by the stride, then zero-pad channels equally
// on both sides. It has no parameters, so the CIFAR nets keep exactly the paper's parameter counts.
import { record } from '../autograd/tape.ts';
import { takeZeroed } from '../tensor/pool.ts';
import { Tensor } from '../tensor/tensor.ts';
import { expectRank } from './util.ts';

// x is (N,C,H,W) → (N, C + 2·padChannels, ⌈H/stride⌉, ⌈W/stride⌉)
export function shortcutA(x: Tensor, stride: number, padChannels: number): Tensor {
  expectRank(x, 4, 'shortcutA', 'input');
  const [n, c, h, w] = x.shape;
  const oh = Math.ceil(h / stride);
  const ow = Math.ceil(w / stride);
  const oc = c + 2 * padChannels;
  const y = new Tensor(takeZeroed(n * oc * oh * ow), [n, oc, oh, ow]);
  // Maps each kept input element to its output position; the backward pass is the same map reversed.
  const forEach = (fn: (xi: number, yi: number) => void) => {
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        const xo = (b * c + ch) * h * w;
        const yo = (b * oc + ch + padChannels) * oh * ow;
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) fn(xo + oy * stride * w + ox * stride, yo + oy * ow + ox);
        }
      }
    }
  };
  forEach((xi, yi) => {
    y.data[yi] = x.data[xi];
  });
  return record(y, 'shortcutA', [x], (dy) => {
    const dx = takeZeroed(x.numel);
    forEach((xi, yi) => {
      dx[xi] = dy[yi];
    });
    return [dx];
  });
}
