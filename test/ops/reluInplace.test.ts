// relu(x, inplace): the result shares and overwrites x's buffer, with the same values and gradients as a copy; after
// a batch norm it folds into the batch norm's backward. batchNorm2d's relu option and addRelu fuse the forward too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward } from '../../src/autograd/tape.ts';
import { setBackend } from '../../src/backend/index.ts';
import { add, addRelu } from '../../src/ops/add.ts';
import { batchNorm2d } from '../../src/ops/batchNorm2d.ts';
import { maxPool2d } from '../../src/ops/maxPool2d.ts';
import { mulConstant, sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import { Generator } from '../../src/tensor/random.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose } from '../helpers.ts';

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

for (const backend of ['js', 'native'] as const) {
  for (const training of [true, false]) {
    test(`x=[3,4,5,7] batchNorm2d (${training ? 'train' : 'eval'}) then relu in place on ${backend}: one fused node, same output and gradients as an unfused relu (rtol 1e-6)`, (t) => {
      try {
        setBackend(backend);
      } catch {
        t.skip('native addon not built');
        return;
      }
      const rng = new Generator(5);
      const make = (shape: number[], shift = 0) => {
        const v = new Tensor(
          Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal() + shift),
          shape,
        );
        v.requiresGrad = true;
        return v;
      };
      const x = make([3, 4, 5, 7], 0.5);
      const gamma = make([4]);
      const beta = make([4]);
      const runningMean = Tensor.from([0.1, -0.2, 0.3, 0.4], [4]);
      const runningVar = Tensor.from([1.5, 0.5, 2, 1], [4]);
      const weights = Float32Array.from({ length: 3 * 4 * 5 * 7 }, () => rng.normal());
      const run = (inplace: boolean, option = false) => {
        for (const p of [x, gamma, beta]) p.grad = null;
        const bn = batchNorm2d(x, runningMean.clone(), runningVar.clone(), gamma, beta, { training, relu: option });
        const y = option ? bn : relu(bn, inplace);
        const name = y.gradFn?.name;
        backward(sum(mulConstant(y, weights)));
        return {
          y: Float32Array.from(y.data),
          name,
          grads: [x, gamma, beta].map((p) => p.grad?.data ?? new Float32Array()),
        };
      };
      const plain = run(false);
      const fused = run(true);
      const option = run(false, true); // batchNorm2d(…, { relu: true }): the ReLU in the forward pass too
      assert.equal(plain.name, 'relu');
      assert.equal(fused.name, 'batchNorm2d+relu');
      assert.equal(option.name, 'batchNorm2d+relu');
      assert.deepEqual(fused.y, plain.y);
      assert.deepEqual(option.y, plain.y);
      assert.ok(
        plain.y.some((v) => v === 0) && plain.y.some((v) => v > 0),
        'the ReLU clips some values and keeps others',
      );
      for (const [i, what] of ['x', 'gamma', 'beta'].entries()) {
        assertClose(fused.grads[i], plain.grads[i], { rtol: 1e-6, what: `d${what}` });
        assertClose(option.grads[i], plain.grads[i], { rtol: 1e-6, what: `d${what} (relu option)` });
      }
    });
  }
}

/**
 * A residual block's end on x=[2,3]: a = leaf + leaf, then end(a, identity), then a weighted sum's backward. Returns
 * the output, both gradients, and whether the output took a's buffer.
 */
function residualEnd(identityValues: number[], end: (a: Tensor, identity: Tensor) => Tensor) {
  const leaf = Tensor.from([1, -2, 3, -4, 5, -6], [2, 3]);
  leaf.requiresGrad = true;
  const identity = Tensor.from(identityValues, [2, 3]);
  identity.requiresGrad = true;
  const a = add(leaf, leaf);
  const y = end(a, identity);
  backward(sum(mulConstant(y, Float32Array.from([1, 2, 3, 4, 5, 6]))));
  return {
    y: [...y.data],
    dLeaf: [...(leaf.grad?.data ?? [])],
    dId: [...(identity.grad?.data ?? [])],
    shared: y.data === a.data,
  };
}

for (const backend of ['js', 'native'] as const) {
  test(`x=[2,3] addRelu on ${backend}: relu(a + b) and its gradients as add then relu; in place it shares a's buffer`, (t) => {
    try {
      setBackend(backend);
    } catch {
      t.skip('native addon not built');
      return;
    }
    const identity = [0.5, 0.5, -7, 0.5, 0.5, 9];
    const run = (fused: boolean) => residualEnd(identity, (a, id) => (fused ? addRelu(a, id, true) : relu(add(a, id))));
    const plain = run(false);
    const fused = run(true);
    assert.deepEqual(fused.y, [2.5, 0, 0, 0, 10.5, 0]);
    assert.deepEqual(fused.y, plain.y);
    assert.deepEqual(fused.dLeaf, [2, 0, 0, 0, 10, 0]);
    assert.deepEqual(fused.dLeaf, plain.dLeaf);
    assert.deepEqual(fused.dId, [1, 0, 0, 0, 5, 0]);
    assert.deepEqual(fused.dId, plain.dId);
    assert.equal(fused.shared, true);
  });
}

test('x=[2,3] add in place (out += identity): shares a buffer, same sum and gradients as a copy; a leaf is refused', () => {
  const run = (inplace: boolean) => residualEnd([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], (a, id) => add(a, id, inplace));
  const copy = run(false);
  const inPlace = run(true);
  assert.deepEqual(inPlace.y, copy.y);
  assert.deepEqual(inPlace.y, [2.5, -3.5, 6.5, -7.5, 10.5, -11.5]);
  assert.deepEqual(inPlace.dLeaf, copy.dLeaf);
  assert.deepEqual(inPlace.dId, [1, 2, 3, 4, 5, 6]);
  assert.equal(inPlace.shared, true);
  assert.equal(copy.shared, false);
  const leaf = Tensor.from([1], [1]);
  leaf.requiresGrad = true;
  assert.throws(() => add(leaf, leaf, true), /leaf tensor that requires grad/);
});

test('batchNorm2d residual of another shape: an error naming the residual and both shapes', () => {
  const x = Tensor.zeros([2, 3, 4, 4]);
  const stats = [Tensor.zeros([3]), Tensor.full([3], 1)] as const;
  assert.throws(
    () => batchNorm2d(x, ...stats, null, null, { training: true, residual: Tensor.zeros([2, 3, 4, 5]) }),
    /batchNorm2d: residual must have shape \[2, 3, 4, 4\], got \[2, 3, 4, 5\]/,
  );
});

// The stem's end (models/resnet.ts normReluMaxPool): maxPool2d(…, { gradIntoInput }) writes the pooled tensor's
// gradient into that tensor's own buffer, and batch norm's backward writes its dx into its dy: with x a leaf, x's
// gradient then lands in the ReLU output's buffer, and no 103 MB buffer is taken for either (resnet18 at batch 32).
for (const backend of ['js', 'native'] as const) {
  test(`x=[2,4,9,9] batchNorm2d+relu then maxPool2d 3/2 pad 1 on ${backend}: gradIntoInput gives the same gradients (rtol 1e-6) in the ReLU output's buffer`, (t) => {
    try {
      setBackend(backend);
    } catch {
      t.skip('native addon not built');
      return;
    }
    const rng = new Generator(7);
    const make = (shape: number[]) => {
      const v = new Tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
        shape,
      );
      v.requiresGrad = true;
      return v;
    };
    const x = make([2, 4, 9, 9]);
    const gamma = make([4]);
    const beta = make([4]);
    const weights = Float32Array.from({ length: 2 * 4 * 5 * 5 }, () => rng.normal());
    const run = (gradIntoInput: boolean) => {
      for (const p of [x, gamma, beta]) p.grad = null;
      const stats = [Tensor.zeros([4]), Tensor.from([1, 1, 1, 1], [4])] as const;
      const y = batchNorm2d(x, ...stats, gamma, beta, { training: true, relu: true });
      const pooled = maxPool2d(y, { kernelSize: 3, stride: 2, padding: 1 }, { gradIntoInput });
      backward(sum(mulConstant(pooled, weights)));
      return { y, grads: [x, gamma, beta].map((p) => Float32Array.from(p.grad?.data ?? [])), dx: x.grad?.data };
    };
    const plain = run(false);
    const reused = run(true);
    for (const [i, what] of ['x', 'gamma', 'beta'].entries()) {
      assertClose(reused.grads[i], plain.grads[i], { rtol: 1e-6, what: `d${what}` });
    }
    assert.equal(reused.dx, reused.y.data);
    assert.notEqual(plain.dx, plain.y.data);
  });
}
