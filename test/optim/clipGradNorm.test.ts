// clipGradNorm against torch.nn.utils.clip_grad_norm_'s rule: one factor maxNorm / (norm + 1e-6) for every gradient
// when their joint L2 norm is above maxNorm. Tolerance 1e-6 relative (float32 gradients).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Parameter } from '../../src/nn/module.ts';
import { clipGradNorm } from '../../src/optim/clipGradNorm.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose } from '../helpers.ts';

function withGrad(values: number[]): Parameter {
  const p = new Parameter(new Float32Array(values.length), [values.length]);
  p.grad = new Tensor(Float32Array.from(values), [values.length]);
  return p;
}

test('clipGradNorm p=[2] and p=[1]: norm 13 scaled to 1 with one factor; a parameter without grad skipped', () => {
  const a = withGrad([3, 4]);
  const b = withGrad([12]);
  const none = new Parameter(new Float32Array(3), [3]);
  const norm = clipGradNorm([a, none, b], 1);
  assert.equal(norm, 13);
  const factor = 1 / (13 + 1e-6);
  assertClose(a.grad!.data, Float32Array.from([3 * factor, 4 * factor]), { rtol: 1e-6, what: 'a.grad' });
  assertClose(b.grad!.data, Float32Array.from([12 * factor]), { rtol: 1e-6, what: 'b.grad' });
  assert.equal(none.grad, null);
});

test('clipGradNorm p=[2]: a norm at or below maxNorm leaves the gradients as they are', () => {
  const a = withGrad([3, 4]);
  assert.equal(clipGradNorm([a], 5), 5);
  assert.deepEqual([...a.grad!.data], [3, 4]);
});

test('clipGradNorm with maxNorm 0 or NaN throws: clipping is off when not asked for', () => {
  assert.throws(() => clipGradNorm([withGrad([1])], 0), /maxNorm must be > 0, got 0/);
  assert.throws(() => clipGradNorm([withGrad([1])], Number.NaN), /maxNorm must be > 0/);
});
