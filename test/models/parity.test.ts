// Every builder against torchvision through the CLI contract (`resnet forward`), on the fixtures that
// scripts/make_parity_fixtures.py wrote with a float64 reference and synthetic weights.
// Tolerances, relative to the reference's max |value| (norm for gradients):
//   eval and train outputs, loss: 1e-4;
//   gradient stats: max(1e-4, 10 × the drift of torch's own float32 run from the same float64 reference),
//   because a few train-mode BN channels are ill-conditioned and no float32 engine gets closer than that.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  readSafetensors,
  readSafetensorsWithMetadata,
  type TensorMap,
  writeSafetensors,
} from '../../src/io/safetensors.ts';
import { buildModel, type ModelOptions } from '../../src/models/registry.ts';
import { crossEntropy } from '../../src/ops/crossEntropy.ts';
import { fnv1a32, syntheticUniform } from '../../src/tensor/synthetic.ts';
import { IntTensor, Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, fixturesDir, loadSynthetic } from '../helpers.ts';

// The js backend is the oracle these fixtures anchor; RESNET_BACKEND=native runs the same checks on the addon.
process.env.RESNET_BACKEND ??= 'js';
const root = join(fixturesDir, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'resnet-parity-'));
after(() => rmSync(work, { recursive: true, force: true }));

function resnet(args: string[]): void {
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    stdio: 'pipe',
  });
}

function float(map: Map<string, unknown>, name: string): Tensor {
  const t = map.get(name);
  assert.ok(t instanceof Tensor, `missing float tensor ${name}`);
  return t;
}

/** [dot(t, probe), ‖t‖₂, t[0], t[n/2], t[n−1]] as the fixture script computes it, and ‖probe‖₂. */
function stats(name: string, t: Float32Array): { values: number[]; probeNorm: number } {
  const probe = syntheticUniform(fnv1a32(`probe:${name}`), t.length);
  let dot = 0;
  let sq = 0;
  let probeSq = 0;
  for (let i = 0; i < t.length; i++) {
    dot += t[i] * probe[i];
    sq += t[i] * t[i];
    probeSq += probe[i] * probe[i];
  }
  return { values: [dot, Math.sqrt(sq), t[0], t[t.length >> 1], t[t.length - 1]], probeNorm: Math.sqrt(probeSq) };
}

/** max(1e-4, 10 × the drift of torch's own float32 run): where float32 itself flips a ReLU, so may any engine. */
function gradTolerance(metadata: Record<string, string>): number {
  const drift = JSON.parse(metadata.torch_f32_drift ?? '{}') as Record<string, number>;
  return Math.max(1e-4, 10 * (drift.grads ?? 0));
}

/** Compares stats with |Δdot| ≤ tol·‖ref‖·‖probe‖ and the rest within tol·‖ref‖. */
function assertStats(name: string, actual: Float32Array, ref: Float32Array, tol: number): void {
  const { values: ours, probeNorm } = stats(name, actual);
  const norm = ref[1];
  const bounds = [tol * norm * probeNorm, tol * norm, tol * norm, tol * norm, tol * norm];
  ours.forEach((v, i) => {
    assert.ok(
      Math.abs(v - ref[i]) <= bounds[i] + 1e-30,
      `${name}: stat ${['dot', 'norm', 'first', 'middle', 'last'][i]} is ${v}, torch ${ref[i]} (tol ${bounds[i].toExponential(2)})`,
    );
  });
}

/** `resnet forward` builds classifiers with --num-classes and --in-channels; other options go through the API. */
function cliBuilds(options: ModelOptions): boolean {
  return options.includeTop !== false && !options.replaceStrideWithDilation;
}

const cases = readdirSync(join(fixturesDir, 'parity'))
  .filter((f) => f.endsWith('.safetensors'))
  .map((f) => f.replace('.safetensors', ''))
  .sort();

describe('parity with torchvision through `resnet forward`', () => {
  for (const name of cases) {
    const { tensors: ref, metadata } = readSafetensorsWithMetadata(join(fixturesDir, 'parity', `${name}.safetensors`));
    const options = JSON.parse(metadata.options) as ModelOptions;
    const input = float(ref, 'input');
    const withGrads = ref.has('labels');
    const gradTol = gradTolerance(metadata);
    test(`${name} ${metadata.arch} input=[${input.shape.join(',')}] ${metadata.options} grads tol ${gradTol.toExponential(0)}`, () => {
      const model = buildModel(metadata.arch, options);
      loadSynthetic(model);
      const weights = join(work, `${name}.weights.safetensors`);
      writeSafetensors(weights, model.stateDict());
      const inFile = join(work, `${name}.in.safetensors`);
      const inputs: TensorMap = new Map([['input', input]]);
      if (withGrads) inputs.set('labels', ref.get('labels') as IntTensor);
      writeSafetensors(inFile, inputs);
      const common = ['--arch', metadata.arch, '--weights', weights, '--input', inFile];
      if (options.numClasses) common.push('--num-classes', String(options.numClasses));
      if (options.inChannels) common.push('--in-channels', String(options.inChannels));
      if (!cliBuilds(options)) return; // checked through the API below
      const evalOut = join(work, `${name}.eval.safetensors`);
      resnet(['forward', ...common, '--output', evalOut]);
      assertClose(float(readSafetensors(evalOut), 'output').data, float(ref, 'eval_output').data, {
        what: 'eval_output',
      });

      const trainOut = join(work, `${name}.train.safetensors`);
      const gradsOut = join(work, `${name}.grads.safetensors`);
      resnet(['forward', ...common, '--output', trainOut, '--train', '--grads', gradsOut]);
      assertClose(float(readSafetensors(trainOut), 'output').data, float(ref, 'train_output').data, {
        what: 'train_output',
      });
      const grads = readSafetensors(gradsOut);
      assertClose(float(grads, 'loss').data, float(ref, 'loss').data, { what: 'loss' });
      for (const [p] of model.namedParameters()) {
        assertStats(p, float(grads, p).data, float(ref, `grad.${p}`).data, gradTol);
      }
    });
  }
});

describe('parity with torchvision through the API', () => {
  for (const name of cases) {
    const { tensors: ref, metadata } = readSafetensorsWithMetadata(join(fixturesDir, 'parity', `${name}.safetensors`));
    const options = JSON.parse(metadata.options) as ModelOptions;
    // The cases the CLI cannot build, and two small ones for the BN running statistics.
    if (cliBuilds(options) && !/^resnet(18_odd|20_gray)$/.test(name)) continue;
    test(`${name} ${metadata.options}: outputs, gradients and BN running stats after one train-mode step`, () => {
      const model = buildModel(metadata.arch, options);
      loadSynthetic(model);
      const input = float(ref, 'input');
      model.eval();
      assertClose(model.forward(input).data, float(ref, 'eval_output').data, { what: 'eval_output' });
      model.train();
      const out = model.forward(input);
      assertClose(out.data, float(ref, 'train_output').data, { what: 'train_output' });
      for (const [b, t] of ref.has('labels') ? model.namedBuffers() : []) {
        if (t instanceof IntTensor) {
          assert.equal(t.data[0], 1n, `${b} counts one training batch`);
        } else {
          assertStats(b, t.data, float(ref, `buffer.${b}`).data, 1e-4);
        }
      }
      if (ref.has('labels')) {
        crossEntropy(out, ref.get('labels') as IntTensor).backward();
        const gradTol = gradTolerance(metadata);
        for (const [p, param] of model.namedParameters())
          assertStats(p, param.grad!.data, float(ref, `grad.${p}`).data, gradTol);
      }
    });
  }
});
