// The tape: gradient accumulation across backward calls, noGrad, shared inputs, and clear errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { add } from '../../src/ops/add.ts';
import { mulConstant, sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import { Tensor } from '../../src/tensor/tensor.ts';

describe('autograd tape', () => {
  test('x=[3]: d Σ(x + x) / dx = 2, and a second backward accumulates to 4', () => {
    const x = new Tensor(new Float32Array([1, -2, 3]), [3], true);
    sum(add(x, x)).backward();
    assert.deepEqual([...x.grad!.data], [2, 2, 2]);
    sum(add(x, x)).backward();
    assert.deepEqual([...x.grad!.data], [4, 4, 4]);
  });
  test('a tensor used by two branches gets the sum of both gradients', () => {
    const x = new Tensor(new Float32Array([1, -1]), [2], true);
    const y = add(relu(x), mulConstant(x, new Float32Array([3, 3])));
    sum(y).backward();
    assert.deepEqual([...x.grad!.data], [4, 3]);
  });
  test('noGrad records nothing', () => {
    const x = new Tensor(new Float32Array([1]), [1], true);
    const y = noGrad(() => relu(x));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
  });
  test('inputs without requiresGrad get no gradient', () => {
    const x = new Tensor(new Float32Array([1, 2]), [2], true);
    const c = new Tensor(new Float32Array([5, 5]), [2]);
    sum(add(x, c)).backward();
    assert.equal(c.grad, null);
  });
  test('backward on a non-scalar without a gradient, or on a constant, explains itself', () => {
    const x = new Tensor(new Float32Array([1, 2]), [2], true);
    assert.throws(() => relu(x).backward(), /implicitly created only for one-element outputs/);
    assert.throws(() => new Tensor(new Float32Array([1]), [1]).backward(), /does not require grad/);
  });
  test('shape errors name the op and the shapes', () => {
    assert.throws(() => add(Tensor.zeros([2, 3]), Tensor.zeros([3, 2])), /add: shapes \[2, 3\] and \[3, 2\] differ/);
    assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /5 elements but shape \[2, 3\] needs 6/);
  });
});
