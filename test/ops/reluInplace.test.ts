// relu(x, inplace): the result shares and overwrites x's buffer, with the same values and gradients as a copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward } from '../../src/autograd/tape.ts';
import { add } from '../../src/ops/add.ts';
import { sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import { Tensor } from '../../src/tensor/tensor.ts';

test('x=[2,3] relu in place after batch-norm-like producer: same output and gradient, x shares the buffer', () => {
  const run = (inplace: boolean) => {
    const leaf = Tensor.from([1, -2, 3, -4, 5, -6], [2, 3]);
    leaf.requiresGrad = true;
    const x = add(leaf, leaf);
    const y = relu(x, inplace);
    backward(sum(add(y, y)));
    return { y: [...y.data], grad: [...(leaf.grad?.data ?? [])], shared: y.data === x.data };
  };
  const copy = run(false);
  const inPlace = run(true);
  assert.deepEqual(inPlace.y, copy.y);
  assert.deepEqual(inPlace.grad, [4, 0, 4, 0, 4, 0]);
  assert.deepEqual(copy.grad, inPlace.grad);
  assert.equal(inPlace.shared, true);
  const leaf = Tensor.from([1], [1]);
  leaf.requiresGrad = true;
  assert.throws(() => relu(leaf, true), /leaf tensor that requires grad/);
});
