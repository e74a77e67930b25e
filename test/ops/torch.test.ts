// Each op against torch on the fixture cases in test/fixtures/ops.safetensors (float64 reference):
// forward output and the gradient of Σ out·probe w.r.t. each input. Tolerance: 1e-5 relative to max|ref|.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readSafetensorsWithMetadata } from '../../src/io/safetensors.ts';
import { adaptiveAvgPool2d } from '../../src/ops/adaptiveAvgPool2d.ts';
import { batchNorm2d } from '../../src/ops/batchNorm2d.ts';
import { conv2d } from '../../src/ops/conv2d.ts';
import { crossEntropy, logSoftmax } from '../../src/ops/crossEntropy.ts';
import { linear } from '../../src/ops/linear.ts';
import { maxPool2d } from '../../src/ops/maxPool2d.ts';
import { mulConstant, sum } from '../../src/ops/reduce.ts';
import { fnv1a32, syntheticUniform } from '../../src/tensor/synthetic.ts';
import { IntTensor, Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, fixturesDir } from '../helpers.ts';

const { tensors, metadata } = readSafetensorsWithMetadata(join(fixturesDir, 'ops.safetensors'));
const RTOL = 1e-5;

function get(name: string): Tensor {
  const t = tensors.get(name);
  assert.ok(t instanceof Tensor, `fixture tensor ${name}`);
  return new Tensor(t.data.slice(), t.shape, true);
}

type Spec = Record<string, unknown> & { op: string; inputs: string[]; grads: string[] };

function run(name: string, spec: Spec, x: Record<string, Tensor>): Tensor {
  const pairOf = (v: unknown) => v as [number, number];
  switch (spec.op) {
    case 'conv2d':
      return conv2d(x.x, x.w, x.bias ?? null, {
        stride: pairOf(spec.stride),
        padding: pairOf(spec.padding),
        dilation: pairOf(spec.dilation),
        groups: spec.groups as number,
      });
    case 'batch_norm':
      x.running_mean.requiresGrad = false;
      x.running_var.requiresGrad = false;
      return batchNorm2d(x.x, x.running_mean, x.running_var, x.weight, x.bias, {
        training: spec.training as boolean,
        momentum: spec.momentum as number,
        eps: spec.eps as number,
      });
    case 'max_pool2d':
      return maxPool2d(x.x, {
        kernelSize: pairOf(spec.kernel_size),
        stride: pairOf(spec.stride),
        padding: pairOf(spec.padding),
        dilation: pairOf(spec.dilation),
      });
    case 'adaptive_avg_pool2d':
      return adaptiveAvgPool2d(x.x, pairOf(spec.output_size));
    case 'linear':
      return linear(x.x, x.w, x.b);
    case 'log_softmax':
      return logSoftmax(x.x);
    case 'cross_entropy':
      return crossEntropy(x.logits, tensors.get(`${name}.labels`) as IntTensor, {
        labelSmoothing: spec.label_smoothing as number,
      });
    default:
      throw new Error(`no runner for op ${spec.op}`);
  }
}

describe('ops match torch (float64 reference)', () => {
  for (const name of JSON.parse(metadata.cases) as string[]) {
    const spec = JSON.parse(metadata[name]) as Spec;
    const shapes = spec.inputs
      .filter((i) => tensors.get(`${name}.${i}`) instanceof Tensor)
      .map((i) => `${i}=[${tensors.get(`${name}.${i}`)?.shape.join(',')}]`)
      .join(' ');
    test(`${name} ${shapes}`, () => {
      const inputs: Record<string, Tensor> = {};
      for (const i of spec.inputs)
        if (!(tensors.get(`${name}.${i}`) instanceof IntTensor)) inputs[i] = get(`${name}.${i}`);
      const out = run(name, spec, inputs);
      assertClose(out.data, get(`${name}.out`).data, { rtol: RTOL, what: `${name}.out` });
      const loss =
        spec.op === 'cross_entropy'
          ? out
          : sum(mulConstant(out, syntheticUniform(fnv1a32(`${name}.probe`), out.numel)));
      loss.backward();
      for (const g of spec.grads) {
        const grad = inputs[g].grad;
        assert.ok(grad, `${name}: no gradient for ${g}`);
        assertClose(grad.data, get(`${name}.grad_${g}`).data, { rtol: RTOL, what: `${name}.grad_${g}` });
      }
      if (spec.training) {
        assertClose(inputs.running_mean.data, get(`${name}.running_mean_after`).data, {
          rtol: RTOL,
          what: 'running_mean',
        });
        assertClose(inputs.running_var.data, get(`${name}.running_var_after`).data, {
          rtol: RTOL,
          what: 'running_var',
        });
      }
    });
  }
});
