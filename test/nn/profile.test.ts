// The per-module profiler: rows named by state-dict path with forward calls and backward time, a section for work
// outside the model, and modules restored exactly when it is detached.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { resnet20 } from '../../src/models/cifar.ts';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.ts';
import { formatProfile, Profiler } from '../../src/nn/profile.ts';
import { sum } from '../../src/ops/reduce.ts';
import { Tensor } from '../../src/tensor/tensor.ts';

test('Sequential(Linear 4→3, ReLU) x=[2,4]: a row per layer, backward time under the layer that recorded it', () => {
  const model = new Sequential(new Linear(4, 3), new ReLU());
  const profiler = new Profiler(model).attach();
  const x = Tensor.full([2, 4], 0.5);
  for (let i = 0; i < 2; i++) {
    const loss = profiler.section('loss', () => sum(model.forward(x)));
    loss.backward();
  }
  profiler.detach();
  const rows = new Map(profiler.rows().map((r) => [r.name, r]));
  assert.deepEqual([...rows.keys()].sort(), ['(model)', '0', '1', 'loss']);
  assert.equal(rows.get('0')?.type, 'Linear');
  assert.equal(rows.get('0')?.forwardCalls, 2);
  assert.equal(rows.get('1')?.forwardCalls, 2);
  assert.ok((rows.get('0')?.backwardMs ?? 0) > 0, 'linear backward timed');
  assert.equal(rows.get('(model)')?.backwardMs, 0, 'the container recorded no op itself');
  assert.match(formatProfile(profiler.rows(), 2), /^0 +Linear/m);
  // Detached: the class's own forward again, and a new forward is not counted.
  assert.equal(Object.hasOwn(model.at(0), 'forward'), false);
  model.forward(x);
  assert.equal(rows.get('0')?.forwardCalls, 2);
});

test('resnet20 x=[2,1,28,28]: the same output profiled as not (the batch norms get their fused ReLU and residual)', () => {
  const model = resnet20({ inChannels: 1 });
  model.eval();
  const x = Tensor.zeros([2, 1, 28, 28]);
  for (let i = 0; i < x.numel; i++) x.data[i] = Math.sin(i);
  const plain = noGrad(() => model.forward(x)).data;
  const profiler = new Profiler(model).attach();
  const profiled = noGrad(() => model.forward(x)).data;
  profiler.detach();
  assert.deepEqual(profiled, plain);
});
