// The tape: gradient accumulation across backward calls, noGrad, shared inputs, and clear errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { add } from '../../src/ops/add.ts';
import { conv2d } from '../../src/ops/conv2d.ts';
import { mulConstant, sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import { Generator } from '../../src/tensor/random.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose } from '../helpers.ts';

const rng = new Generator(3);
const randn = (shape: number[]) =>
  new Tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
    shape,
  );

/** d Σ conv2d(x, w) / dx, on a graph of its own. */
function convGradient(x: Tensor, w: Tensor): Float32Array {
  const x2 = new Tensor(x.data.slice(), x.shape, true);
  sum(conv2d(x2, w, null, { padding: 1 })).backward();
  return x2.grad!.data;
}

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
  // conv2d adds its dx into the gradient x already has from its other use (BackwardFn's pending), in the backend
  // (16 images of 8 channels: the native lanes path; 3 images: the plain one): the sum must not depend on which
  // branch the tape reaches first, and the buffer must stay the tape's (a second step reuses the pool). rtol 1e-5.
  for (const n of [16, 3]) {
    test(`conv2d x=[${n},8,6,5] w=[8,8,3,3]: an input also used as the identity, or by a second conv, sums both gradients`, () => {
      const x = new Tensor(randn([n, 8, 6, 5]).data, [n, 8, 6, 5], true);
      const [w1, w2] = [randn([8, 8, 3, 3]), randn([8, 8, 3, 3])];
      const [g1, g2] = [convGradient(x, w1), convGradient(x, w2)];
      for (let step = 0; step < 2; step++) {
        for (const [what, y, expected] of [
          ['conv + x', () => add(conv2d(x, w1, null, { padding: 1 }), x), g1.map((v) => v + 1)],
          ['x + conv', () => add(x, conv2d(x, w1, null, { padding: 1 })), g1.map((v) => v + 1)],
          [
            'conv + conv',
            () => add(conv2d(x, w1, null, { padding: 1 }), conv2d(x, w2, null, { padding: 1 })),
            g1.map((v, i) => v + g2[i]),
          ],
        ] as const) {
          x.grad = null;
          sum(y()).backward();
          assertClose(x.grad!.data, expected, { rtol: 1e-5, what: `${what}, step ${step}` });
        }
      }
    });
  }
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
