// add: elementwise sum of two same-shaped tensors (the residual connection); the gradient flows to both unchanged.
// addRelu: relu(a + b) in one pass, the end of every residual block.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { elementwiseOutput } from './util.ts';

/**
 * With `inplace` the sum overwrites a's buffer, as torchvision's `out += identity`: after a batch norm, whose
 * backward reads its input and not its output, this saves one activation per residual block of a training step.
 * As with relu's, it is only safe when nothing else reads a afterwards; unlike torch, nothing checks that.
 */
export function add(a: Tensor, b: Tensor, inplace = false): Tensor {
  expectSameShape(a, b, 'add');
  const y = elementwiseOutput(a, inplace, 'add');
  kernels().add(a.data, b.data, y.data);
  return record(y, 'add', [a, b], (dy) => [dy, dy]);
}

/**
 * relu(a + b): the values and gradients of relu(add(a, b)), with one pass over the output instead of two. With
 * `inplace` the result overwrites a's buffer, as add's does.
 */
export function addRelu(a: Tensor, b: Tensor, inplace = false): Tensor {
  expectSameShape(a, b, 'addRelu');
  const k = kernels();
  const y = elementwiseOutput(a, inplace, 'addRelu');
  k.addRelu(a.data, b.data, y.data);
  return record(y, 'add+relu', [a, b], (dy) => {
    const g = takeBuffer(dy.length);
    k.reluBackward(dy, y.data, g);
    return [g, g];
  });
}

function expectSameShape(a: Tensor, b: Tensor, op: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${shapeString(a.shape)} and ${shapeString(b.shape)} differ`);
  }
}
