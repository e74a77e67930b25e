// ONNX export checked by running the files in onnxruntime-node: outputs must equal resnet-ts's eval outputs within
// 1e-4 of their largest magnitude, with BN folded or kept, at batch 1 and 3 from one file (the dynamic batch).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../../src/autograd/tape.ts';
import { exportOnnx } from '../../src/io/onnx/export.ts';
import { buildModel, type ModelOptions } from '../../src/models/registry.ts';
import { ResNet, resnet18 } from '../../src/models/resnet.ts';
import { Module } from '../../src/nn/module.ts';
import { syntheticUniform } from '../../src/tensor/synthetic.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, loadSynthetic } from '../helpers.ts';

const cases: { arch: string; size: number; options: ModelOptions; folds: boolean[] }[] = [
  { arch: 'resnet20', size: 32, options: { numClasses: 10 }, folds: [true, false] },
  { arch: 'resnet20', size: 28, options: { inChannels: 1, includeTop: false }, folds: [true] },
  { arch: 'resnet18', size: 40, options: { numClasses: 10 }, folds: [true, false] },
  {
    arch: 'resnext50_32x4d',
    size: 48,
    options: { numClasses: 5, replaceStrideWithDilation: [false, false, true] },
    folds: [true],
  },
];

describe('exportOnnx → onnxruntime-node', () => {
  for (const { arch, size, options, folds } of cases) {
    for (const foldBn of folds) {
      const inChannels = options.inChannels ?? 3;
      test(`${arch} ${JSON.stringify(options)} foldBn=${foldBn}: x=[1,${inChannels},${size},${size}] and [3,…]`, async () => {
        const model = buildModel(arch, options);
        loadSynthetic(model);
        model.eval();
        const session = await ort.InferenceSession.create(exportOnnx(model, { inChannels, imgSize: size, foldBn }));
        assert.deepEqual(session.inputNames, ['input']);
        assert.deepEqual(session.outputNames, ['output']);
        for (const batch of [1, 3]) {
          const shape = [batch, inChannels, size, size];
          const x = new Tensor(
            syntheticUniform(
              batch,
              shape.reduce((a, b) => a * b),
            ),
            shape,
          );
          const { output } = await session.run({ input: new ort.Tensor('float32', x.data, shape) });
          const expected = noGrad(() => model.forward(x));
          assert.deepEqual(output.dims, expected.shape);
          assertClose(output.data as Float32Array, expected.data, { rtol: 1e-4, what: `${arch} batch ${batch}` });
        }
      });
    }
  }

  test('errors name the problem: opset 12, inChannels 1 for a 3-channel stem, an unknown norm layer', () => {
    const model = buildModel('resnet20');
    assert.throws(
      () => exportOnnx(model, { inChannels: 3, imgSize: 32, opset: 12 }),
      /opset must be an integer from 13/,
    );
    assert.throws(() => exportOnnx(model, { inChannels: 1, imgSize: 32 }), /inChannels is 1 but .* takes 3/);
    class GroupNormish extends Module {
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const custom = resnet18({ normLayer: () => new GroupNormish() });
    assert.ok(custom instanceof ResNet);
    assert.throws(
      () => exportOnnx(custom, { inChannels: 3, imgSize: 32 }),
      /exportOnnx: bn1: no ONNX export for module GroupNormish/,
    );
  });
});
