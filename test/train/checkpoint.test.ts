// The resume checkpoint restores model, optimizer and loop position exactly, and pretrained loading reports what
// it loaded, skipped and re-initialised.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeWeights } from '../../src/io/weights.ts';
import { buildModel } from '../../src/models/registry.ts';
import { crossEntropy } from '../../src/ops/crossEntropy.ts';
import { SGD } from '../../src/optim/sgd.ts';
import { manualSeed } from '../../src/tensor/random.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { loadPretrained, trainableParameters } from '../../src/train/transfer.ts';

const x = Tensor.from(
  Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i)),
  [2, 3, 8, 8],
);

function step(model: ReturnType<typeof buildModel>, opt: SGD): void {
  opt.zeroGrad();
  crossEntropy(model.forward(x), [1, 3]).backward();
  opt.step();
}

test('checkpoint: resnet20 x=[2,3,8,8], save after 2 SGD steps, restore, 2 more steps equal an unbroken run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-ckpt-'));
  manualSeed(1);
  const a = buildModel('resnet20', { numClasses: 4 });
  const optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  step(a, optA);
  step(a, optA);
  const loop = {
    epoch: 1,
    batch: 3,
    globalStep: 7,
    epochLossSum: 1.5,
    epochCorrect: 2,
    epochSeen: 4,
    epochSeconds: 0.5,
    bestValAcc: 0.25,
    bestEpoch: 1,
    rng: [1, 2, 3, 4, Number.NaN],
  };
  const file = join(dir, 'checkpoint.safetensors');
  saveCheckpoint(file, a, optA, loop);

  manualSeed(99);
  const b = buildModel('resnet20', { numClasses: 4 });
  const optB = new SGD(b.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const state = loadCheckpoint(file, b, optB);
  assert.equal(state.globalStep, 7);
  assert.equal(state.batch, 3);
  for (const m of [a, b]) m.train();
  step(a, optA);
  step(a, optA);
  step(b, optB);
  step(b, optB);
  const sa = a.stateDict();
  for (const [k, t] of b.stateDict()) assert.deepEqual(t.data, sa.get(k)?.data, k);
});

test('checkpoint: a file that is not a training checkpoint is refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-ckpt-'));
  const model = buildModel('resnet20', { numClasses: 4 });
  const file = join(dir, 'model.safetensors');
  writeWeights(file, model.stateDict());
  assert.throws(
    () => loadCheckpoint(file, model, new SGD(model.parameters(), { lr: 0.1 })),
    /model\.safetensors: not a resnet-ts training checkpoint/,
  );
});

test('loadPretrained: resnet20 10 classes → 5 classes loads the backbone, re-initialises fc, freezes on request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-pre-'));
  manualSeed(3);
  const source = buildModel('resnet20', { numClasses: 10 });
  const file = join(dir, 'pre.safetensors');
  writeWeights(file, source.stateDict());
  const target = buildModel('resnet20', { numClasses: 5 });
  const fcBefore = target.stateDict().get('fc.weight')?.data.slice();
  const lines = loadPretrained(target, file);
  assert.match(lines[0], /loaded \d+ of \d+ tensors/);
  assert.match(lines.join('\n'), /re-initialised: fc\.weight \(checkpoint \[10, 64\], model \[5, 64\]\), fc\.bias/);
  assert.deepEqual(target.stateDict().get('conv1.weight')?.data, source.stateDict().get('conv1.weight')?.data);
  assert.deepEqual(target.stateDict().get('fc.weight')?.data, fcBefore);
  const { backbone, head } = trainableParameters(target, 'backbone');
  assert.equal(backbone.length, 0);
  assert.equal(head.length, 2);
  assert.ok(target.parameters().filter((p) => p.requiresGrad).length === 2);
});

test('loadPretrained: a checkpoint of another architecture is refused with the file name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-pre-'));
  const file = join(dir, 'other.safetensors');
  writeWeights(file, new Map([['something.else', Tensor.zeros([2])]]));
  assert.throws(() => loadPretrained(buildModel('resnet20'), file), /other\.safetensors: no tensor matches/);
});
