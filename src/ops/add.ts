// add: elementwise sum of two same-shaped tensors (the residual connection); the gradient flows to both unchanged.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { emptyTensor } from './util.ts';

export function add(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`add: shapes ${shapeString(a.shape)} and ${shapeString(b.shape)} differ`);
  }
  const y = emptyTensor(a.shape);
  kernels().add(a.data, b.data, y.data);
  return record(y, 'add', [a, b], (dy) => [dy, dy]);
}
