// reshape and flatten: new shapes over the same contiguous data; gradients pass through unchanged.
import { record } from '../autograd/tape.ts';
import { numel, shapeString, Tensor } from '../tensor/tensor.ts';

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  const resolved = [...shape];
  if (inferred >= 0) {
    const known = numel(shape.filter((_, i) => i !== inferred));
    resolved[inferred] = known === 0 ? 0 : x.numel / known;
  }
  if (numel(resolved) !== x.numel || !resolved.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`reshape: cannot view ${shapeString(x.shape)} as ${shapeString(shape)}`);
  }
  return record(new Tensor(x.data, resolved), 'reshape', [x], (dy) => [dy]);
}

/** Flattens dimensions startDim.. into one, as torch.flatten(x, startDim). */
export function flatten(x: Tensor, startDim = 1): Tensor {
  if (startDim < 0 || startDim >= Math.max(1, x.shape.length)) {
    throw new Error(`flatten: startDim ${startDim} out of range for shape ${shapeString(x.shape)}`);
  }
  return reshape(x, [...x.shape.slice(0, startDim), numel(x.shape.slice(startDim))]);
}
