// relu: max(x, 0); its gradient passes where the output is positive.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { elementwiseOutput } from './util.ts';

/**
 * With `inplace` the result overwrites x's buffer, as nn.ReLU(inplace=True): after a batch norm or residual add,
 * whose backward does not read its own output, this saves one activation per layer of a training step. Like
 * torch's, it is only safe when nothing else reads x afterwards; unlike torch, nothing checks that.
 */
export function relu(x: Tensor, inplace = false): Tensor {
  const k = kernels();
  const y = elementwiseOutput(x, inplace, 'relu');
  k.relu(x.data, y.data);
  // In place on the output of an op that can fold a ReLU into its backward (batch norm, recomputing its output to
  // find the mask), the two become one node: no separate pass over dy and y, and no dx buffer between them.
  const producer = inplace ? x.gradFn : null;
  if (producer?.withRelu) {
    y.requiresGrad = true;
    y.gradFn = { ...producer, name: `${producer.name}+relu`, backward: producer.withRelu, withRelu: undefined };
    return y;
  }
  return record(y, 'relu', [x], (dy) => {
    const dx = takeBuffer(dy.length);
    k.reluBackward(dy, y.data, dx);
    return [dx];
  });
}
