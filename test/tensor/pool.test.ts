// The buffer pool: exact-size reuse, what may and may not come back, step scopes, and training steps that give
// the same gradients with reuse on as with it off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward } from '../../src/autograd/tape.ts';
import { buildModel } from '../../src/models/registry.ts';
import { add } from '../../src/ops/add.ts';
import { crossEntropy } from '../../src/ops/crossEntropy.ts';
import { sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import {
  poolStats,
  releaseBuffer,
  releaseGrads,
  setPoolEnabled,
  stepScope,
  takeBuffer,
  takeZeroed,
} from '../../src/tensor/pool.ts';
import { Generator, manualSeed } from '../../src/tensor/random.ts';
import { Tensor } from '../../src/tensor/tensor.ts';

test('a released buffer of 1000 floats comes back for the next take of 1000, not for 999', () => {
  setPoolEnabled(true);
  const a = takeBuffer(1000);
  releaseBuffer(a);
  assert.notEqual(takeBuffer(999).buffer, a.buffer);
  const b = takeBuffer(1000);
  assert.equal(b.buffer, a.buffer);
  releaseBuffer(b.fill(5));
  const zeroed = takeZeroed(1000);
  assert.equal(zeroed.buffer, a.buffer);
  assert.ok(zeroed.every((v) => v === 0));
});

test('foreign arrays, partial views and second releases are ignored', () => {
  setPoolEnabled(true);
  const foreign = new Float32Array(77);
  releaseBuffer(foreign);
  assert.notEqual(takeBuffer(77).buffer, foreign.buffer);
  const whole = takeBuffer(64);
  releaseBuffer(whole.subarray(0, 32));
  assert.notEqual(takeBuffer(64).buffer, whole.buffer);
  releaseBuffer(whole);
  releaseBuffer(whole);
  const first = takeBuffer(64);
  const second = takeBuffer(64);
  assert.equal(first.buffer, whole.buffer);
  assert.notEqual(second.buffer, whole.buffer);
});

test('stepScope returns what was taken inside except the result and leaf gradients', () => {
  setPoolEnabled(true);
  const x = Tensor.from([1, -2, 3], [3]);
  x.requiresGrad = true;
  const kept = stepScope(() => {
    const y = relu(x);
    backward(sum(y));
    return relu(x);
  });
  assert.deepEqual([...kept.data], [1, 0, 3]);
  assert.deepEqual([...(x.grad?.data ?? [])], [1, 0, 1]);
  // Both 3-float buffers still in use must not be handed out again.
  const fresh = [takeBuffer(3), takeBuffer(3), takeBuffer(3)];
  for (const f of fresh) {
    assert.notEqual(f.buffer, kept.data.buffer);
    assert.notEqual(f.buffer, x.grad?.data.buffer);
  }
});

test('x=[4] add(x, x): the gradient handed to both inputs is 2, not 1 or 4', () => {
  setPoolEnabled(true);
  const x = Tensor.from([1, 2, 3, 4], [4]);
  x.requiresGrad = true;
  backward(sum(add(x, x)));
  assert.deepEqual([...(x.grad?.data ?? [])], [2, 2, 2, 2]);
  const y = Tensor.from([1, -1], [2]);
  y.requiresGrad = true;
  backward(sum(add(relu(y), add(y, y))));
  assert.deepEqual([...(y.grad?.data ?? [])], [3, 2]);
});

function trainSteps(pool: boolean, steps: number): { grads: Float32Array[]; freshBytes: number } {
  setPoolEnabled(pool);
  manualSeed(0);
  const model = buildModel('resnet20', { numClasses: 5, inChannels: 1 });
  const rng = new Generator(3);
  const x = Tensor.zeros([2, 1, 9, 9]);
  for (let i = 0; i < x.numel; i++) x.data[i] = rng.normal();
  const params = model.parameters();
  let freshBytes = 0;
  for (let s = 0; s < steps; s++) {
    const before = poolStats().freshBytes;
    stepScope(() => {
      releaseGrads(params);
      backward(crossEntropy(model.forward(x), [1, 4]));
      // A plain SGD update, so that each step sees different weights and activations.
      for (const p of params) for (let i = 0; i < p.numel; i++) p.data[i] -= 0.1 * (p.grad?.data[i] ?? 0);
    });
    freshBytes = poolStats().freshBytes - before;
  }
  return { grads: params.map((p) => (p.grad ? p.grad.data.slice() : new Float32Array(0))), freshBytes };
}

test('resnet20 x=[2,1,9,9], 3 SGD steps: gradients equal bit for bit with reuse on and off', () => {
  const off = trainSteps(false, 3);
  const on = trainSteps(true, 3);
  setPoolEnabled(true);
  assert.equal(on.grads.length, off.grads.length);
  for (const [i, g] of on.grads.entries()) assert.deepEqual(g, off.grads[i], `parameter ${i}`);
  // With reuse, the third step allocates nothing new; without it, every output and gradient is new.
  assert.equal(on.freshBytes, 0);
  assert.ok(off.freshBytes > 100_000, `without reuse a step allocates ${off.freshBytes} bytes`);
});

test('stepScope keeps tensors nested in the result, and a result with a cycle does not hang', () => {
  setPoolEnabled(true);
  const x = Tensor.from([1, -1], [2]);
  const result = stepScope(() => {
    const out: { pair: Tensor[]; self?: unknown } = { pair: [relu(x), relu(x)] };
    out.self = out;
    return out;
  });
  const taken = [takeBuffer(2), takeBuffer(2)];
  for (const t of taken) for (const kept of result.pair) assert.notEqual(t.buffer, kept.data.buffer);
  assert.deepEqual([...result.pair[1].data], [1, 0]);
});
