// Architectures against torchvision: parameter counts and every state-dict key, shape and dtype, in order
// (test/fixtures/architectures.json, written by scripts/make_architecture_fixture.py).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { resnet20, resnet32, resnet44, resnet56, resnet110 } from '../../src/models/cifar.ts';
import { buildModel } from '../../src/models/registry.ts';
import { BasicBlock, Bottleneck, ResNet, resnet18, resnet50 } from '../../src/models/resnet.ts';
import { summary } from '../../src/models/summary.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { fixturesDir } from '../helpers.ts';

type Entry = [string, number[], string];
const reference: Record<string, { params: number; state_dict: Entry[] }> = JSON.parse(
  readFileSync(join(fixturesDir, 'architectures.json'), 'utf8'),
);

describe('torchvision architectures', () => {
  for (const [name, ref] of Object.entries(reference)) {
    test(`${name}: ${ref.params.toLocaleString('en-US')} params and ${ref.state_dict.length} state-dict entries`, () => {
      const model =
        name === 'resnet50_dilated'
          ? buildModel('resnet50', { replaceStrideWithDilation: [false, true, true] })
          : buildModel(name);
      assert.equal(
        model.parameters().reduce((n, p) => n + p.numel, 0),
        ref.params,
      );
      const ours = [...model.stateDict()].map(([k, t]) => [k, [...t.shape], t.dtype]);
      assert.deepEqual(ours, ref.state_dict);
    });
  }
});

describe('CIFAR ResNets (He et al. 2015, table 6)', () => {
  const paper: [string, () => ReturnType<typeof resnet20>, number, number][] = [
    ['resnet20', resnet20, 20, 0.27],
    ['resnet32', resnet32, 32, 0.46],
    ['resnet44', resnet44, 44, 0.66],
    ['resnet56', resnet56, 56, 0.85],
    ['resnet110', resnet110, 110, 1.7],
  ];
  for (const [name, build, depth, millions] of paper) {
    test(`${name}: ${depth} weighted layers, ${millions}M params, option-A shortcuts have none`, () => {
      const model = build();
      const params = model.parameters().reduce((n, p) => n + p.numel, 0);
      assert.equal(Number((params / 1e6).toFixed(millions >= 1 ? 1 : 2)), millions);
      const weighted = [...model.namedParameters()].filter(([k, p]) => k.endsWith('weight') && p.shape.length >= 2);
      assert.equal(weighted.length, depth);
      for (const [k] of model.stateDict()) assert.match(k, /^(conv1|bn1|fc|layer[1-3]\.\d+\.(conv[12]|bn[12]))\./);
    });
  }
  test('resnet20 inChannels 1, numClasses 7: conv1.weight [16, 1, 3, 3], fc.weight [7, 64]', () => {
    const sd = resnet20({ inChannels: 1, numClasses: 7 }).stateDict();
    assert.deepEqual(sd.get('conv1.weight')?.shape, [16, 1, 3, 3]);
    assert.deepEqual(sd.get('fc.weight')?.shape, [7, 64]);
  });
});

describe('unsupported configurations throw at construction', () => {
  test('BasicBlock with groups 2', () => {
    assert.throws(
      () => new ResNet({ block: BasicBlock, layers: [2, 2, 2, 2], groups: 2 }),
      /BasicBlock only supports groups=1 and base_width=64/,
    );
  });
  test('BasicBlock with widthPerGroup 128', () => {
    assert.throws(() => resnet18({ widthPerGroup: 128 }), /BasicBlock only supports groups=1 and base_width=64/);
  });
  test('BasicBlock with dilation', () => {
    assert.throws(
      () => resnet18({ replaceStrideWithDilation: [false, false, true] }),
      /Dilation > 1 not supported in BasicBlock/,
    );
  });
  test('replaceStrideWithDilation of length 2', () => {
    assert.throws(
      () => resnet50({ replaceStrideWithDilation: [true, true] as unknown as [boolean, boolean, boolean] }),
      /3-element tuple/,
    );
  });
  test('zero layers in a stage', () => {
    assert.throws(() => new ResNet({ block: Bottleneck, layers: [3, 0, 6, 3] }), /four positive block counts/);
  });
  test('unknown architecture names the choices', () => {
    assert.throws(() => buildModel('resnet19'), /unknown architecture "resnet19".*resnet18/);
  });
  test('CIFAR nets refuse ImageNet-only options', () => {
    assert.throws(() => buildModel('resnet20', { zeroInitResidual: true }), /CIFAR ResNets support only/);
  });
});

describe('options', () => {
  test('includeTop false: no fc keys, forward gives the pooled [N, 2048] features', () => {
    const model = resnet50({ includeTop: false });
    assert.ok(![...model.stateDict().keys()].some((k) => k.startsWith('fc.')));
    assert.equal(model.featureDim, 2048);
    assert.deepEqual(noGrad(() => model.eval().forward(Tensor.zeros([1, 3, 32, 32]))).shape, [1, 2048]);
  });
  test('zeroInitResidual zeroes bn3 (Bottleneck) and bn2 (BasicBlock) weights only', () => {
    const b = resnet50({ zeroInitResidual: true }).stateDict();
    assert.ok((b.get('layer1.0.bn3.weight')!.data as Float32Array).every((v) => v === 0));
    assert.ok((b.get('layer1.0.bn2.weight')!.data as Float32Array).every((v) => v === 1));
    const a = resnet18({ zeroInitResidual: true }).stateDict();
    assert.ok((a.get('layer4.1.bn2.weight')!.data as Float32Array).every((v) => v === 0));
    assert.ok((a.get('layer4.1.bn1.weight')!.data as Float32Array).every((v) => v === 1));
  });
});

test('summary lists the layers in torchvision forward order, ReLU modules included (resnet18 layer2.0, resnet50 layer1.0)', () => {
  const rowsOf = (model: ResNet, prefix: string) =>
    summary(model, [1, 3, 64, 64])
      .rows.filter((r) => r.name.startsWith(prefix))
      .map((r) => r.name.slice(prefix.length));
  const basic = ['conv1', 'bn1', 'relu', 'conv2', 'bn2', 'downsample.0', 'downsample.1', 'relu'];
  assert.deepEqual(rowsOf(resnet18(), 'layer2.0.'), basic);
  const bottleneck = ['conv1', 'bn1', 'relu', 'conv2', 'bn2', 'relu', 'conv3', 'bn3', 'downsample.0', 'downsample.1'];
  assert.deepEqual(rowsOf(resnet50(), 'layer1.0.'), [...bottleneck, 'relu']);
});
