// add: elementwise sum of two same-shaped tensors (the residual connection); the gradient flows to both unchanged.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { elementwiseOutput } from './util.ts';

/**
 * With `inplace` the sum overwrites a's buffer, as torchvision's `out += identity`: after a batch norm, whose
 * backward reads its input and not its output, this saves one activation per residual block of a training step.
 * As with relu's, it is only safe when nothing else reads a afterwards; unlike torch, nothing checks that.
 */
export function add(a: Tensor, b: Tensor, inplace = false): Tensor {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`add: shapes ${shapeString(a.shape)} and ${shapeString(b.shape)} differ`);
  }
  const y = elementwiseOutput(a, inplace, 'add');
  kernels().add(a.data, b.data, y.data);
  return record(y, 'add', [a, b], (dy) => [dy, dy]);
}
