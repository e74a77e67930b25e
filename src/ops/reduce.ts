// sum and mean over all elements, to a 0-d tensor; the gradient spreads the upstream value evenly.
import { record } from '../autograd/tape.ts';
import { Tensor } from '../tensor/tensor.ts';

export function sum(x: Tensor): Tensor {
  let s = 0;
  for (let i = 0; i < x.numel; i++) s += x.data[i];
  return record(new Tensor(new Float32Array([s]), []), 'sum', [x], (dy) => [new Float32Array(x.numel).fill(dy[0])]);
}

export function mean(x: Tensor): Tensor {
  let s = 0;
  for (let i = 0; i < x.numel; i++) s += x.data[i];
  const n = x.numel;
  return record(new Tensor(new Float32Array([s / n]), []), 'mean', [x], (dy) => [new Float32Array(n).fill(dy[0] / n)]);
}

/** Elementwise product with a constant tensor (no gradient to `c`): handy for weighted sums in tests and losses. */
export function mulConstant(x: Tensor, c: Float32Array): Tensor {
  if (c.length !== x.numel) throw new Error(`mulConstant: ${c.length} factors for ${x.numel} elements`);
  const y = new Tensor(new Float32Array(x.numel), x.shape);
  for (let i = 0; i < x.numel; i++) y.data[i] = x.data[i] * c[i];
  return record(y, 'mulConstant', [x], (dy) => {
    const dx = new Float32Array(dy.length);
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * c[i];
    return [dx];
  });
}
