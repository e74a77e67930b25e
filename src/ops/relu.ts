// relu: max(x, 0); its gradient passes where the output is positive.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { Tensor } from '../tensor/tensor.ts';

export function relu(x: Tensor): Tensor {
  const k = kernels();
  const y = Tensor.zeros(x.shape);
  k.relu(x.data, y.data);
  return record(y, 'relu', [x], (dy) => {
    const dx = new Float32Array(dy.length);
    k.reluBackward(dy, y.data, dx);
    return [dx];
  });
}
