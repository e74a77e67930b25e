// Module behaviour: state-dict order and names, atomic loadStateDict with named errors, train/eval,
// and PyTorch's initialisation statistics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resnet18, resnet50 } from '../../src/models/resnet.ts';
import { BatchNorm2d, Conv2d, Linear, Sequential } from '../../src/nn/layers.ts';
import { manualSeed } from '../../src/tensor/random.ts';
import { IntTensor, Tensor } from '../../src/tensor/tensor.ts';

function stdOf(data: Float32Array): number {
  const mean = data.reduce((s, v) => s + v, 0) / data.length;
  return Math.sqrt(data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length);
}

describe('stateDict', () => {
  test('BatchNorm2d(3): weight, bias, running_mean, running_var, num_batches_tracked (int64 [])', () => {
    const sd = new BatchNorm2d(3).stateDict();
    assert.deepEqual([...sd.keys()], ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    assert.equal(sd.get('num_batches_tracked')?.dtype, 'int64');
    assert.deepEqual(sd.get('num_batches_tracked')?.shape, []);
  });
  test('Sequential names children 0, 1, …', () => {
    const keys = [...new Sequential(new Conv2d(3, 4, 1, { bias: false }), new BatchNorm2d(4)).stateDict().keys()];
    assert.deepEqual(keys.slice(0, 3), ['0.weight', '1.weight', '1.bias']);
  });
  test('parameters() excludes buffers; resnet18 has 62 parameter tensors', () => {
    assert.equal(resnet18().parameters().length, 62);
  });
});

describe('loadStateDict', () => {
  test('round trip resnet18 → resnet18 copies every value', () => {
    const a = resnet18();
    const b = resnet18();
    b.loadStateDict(a.stateDict());
    for (const [k, t] of a.stateDict()) assert.deepEqual(b.stateDict().get(k)?.data, t.data, k);
  });
  test('size mismatch names the key and both shapes, and leaves the model untouched', () => {
    const model = resnet18();
    const before = model.conv1.weight.data.slice();
    const sd = resnet18({ numClasses: 10 }).stateDict();
    assert.throws(
      () => model.loadStateDict(sd),
      /size mismatch for fc\.weight: checkpoint has \[10, 512\], model has \[1000, 512\]/,
    );
    assert.deepEqual(model.conv1.weight.data, before);
  });
  test('strict: missing and unexpected keys are listed', () => {
    const sd = resnet18().stateDict();
    sd.delete('layer1.0.conv1.weight');
    sd.set('extra.weight', Tensor.zeros([1]));
    assert.throws(
      () => resnet18().loadStateDict(sd),
      /missing keys: layer1\.0\.conv1\.weight[\s\S]*unexpected keys: extra\.weight/,
    );
  });
  test('non-strict: reports missing and unexpected keys instead of failing', () => {
    const sd = resnet18().stateDict();
    sd.delete('fc.bias');
    sd.set('extra', Tensor.zeros([1]));
    const result = resnet18().loadStateDict(sd, { strict: false });
    assert.deepEqual(result, { missingKeys: ['fc.bias'], unexpectedKeys: ['extra'] });
  });
  test('num_batches_tracked loads from int64', () => {
    const bn = new BatchNorm2d(2);
    const sd = bn.stateDict();
    sd.set('num_batches_tracked', IntTensor.from([7], []));
    bn.loadStateDict(sd);
    assert.equal(bn.numBatchesTracked.data[0], 7n);
  });
});

describe('train and eval', () => {
  test('eval() reaches every submodule; BN counts batches only in training', () => {
    const model = resnet18();
    model.eval();
    for (const [name, m] of model.namedModules()) assert.equal(m.training, false, name);
    const bn = new BatchNorm2d(2);
    bn.forward(Tensor.full([2, 2, 1, 1], 1));
    bn.eval().forward(Tensor.full([2, 2, 1, 1], 1));
    assert.equal(bn.numBatchesTracked.data[0], 1n);
  });
});

describe('initialisation as PyTorch', () => {
  test('ResNet convs: kaiming normal, fan_out, relu (std √(2/fan_out)) within 3%', () => {
    manualSeed(0);
    const w = resnet50().layer3.at(0).stateDict().get('conv2.weight') as Tensor;
    const fanOut = w.shape[0] * w.shape[2] * w.shape[3];
    assert.ok(Math.abs(stdOf(w.data) / Math.sqrt(2 / fanOut) - 1) < 0.03);
  });
  test('Linear: U(±1/√in) for weight and bias', () => {
    const fc = new Linear(400, 300);
    const bound = 1 / Math.sqrt(400);
    assert.ok(fc.weight.data.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.abs(stdOf(fc.weight.data) / (bound / Math.sqrt(3)) - 1) < 0.03);
    assert.ok(fc.bias!.data.every((v) => Math.abs(v) <= bound));
  });
  test('same seed, same weights; different seed, different weights', () => {
    manualSeed(42);
    const a = resnet18().fc!.weight.data;
    manualSeed(42);
    const b = resnet18().fc!.weight.data;
    manualSeed(43);
    const c = resnet18().fc!.weight.data;
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });
});
