// Grad-CAM against PyTorch hooks (scripts/make_gradcam_fixtures.py: float64, synthetic weights and input), and
// the picture helpers. Tolerances: logits 1e-4 relative to max |logit|; maps (in [0, 1]) 1e-5 absolute, ten times
// the worst float32-vs-float64 error measured (js backend 2e-7, native 1e-6).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { noGrad } from '../../src/autograd/tape.ts';
import { evalTransform, makePreprocess } from '../../src/data/transforms.ts';
import { camToPng, heatmapRgb, jet, overlayRgb, upsampleCam } from '../../src/explain/camImage.ts';
import { gradCam, networkView } from '../../src/explain/gradcam.ts';
import { readSafetensorsWithMetadata } from '../../src/io/safetensors.ts';
import { buildModel, type ModelOptions } from '../../src/models/registry.ts';
import { fnv1a32, syntheticUniform } from '../../src/tensor/synthetic.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, fixturesDir, loadSynthetic } from '../helpers.ts';

const { tensors, metadata } = readSafetensorsWithMetadata(join(fixturesDir, 'gradcam', 'gradcam.safetensors'));
const cases = JSON.parse(metadata.cases) as string[];

function fixture(name: string): Float32Array {
  const t = tensors.get(name);
  assert.ok(t instanceof Tensor, `gradcam fixture: missing ${name}`);
  return t.data;
}

describe('gradCam against PyTorch hooks', () => {
  for (const name of cases) {
    const c = JSON.parse(metadata[name]) as {
      arch: string;
      options: ModelOptions;
      shape: number[];
      top: number;
      other: number;
    };
    const model = buildModel(c.arch, c.options).eval();
    loadSynthetic(model);
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = new Tensor(syntheticUniform(fnv1a32('input'), n), c.shape);
    const [h, w] = tensors.get(`${name}.cam_top`)!.shape;

    test(`${c.arch} x=[${c.shape}] → cam [${h},${w}] for the top class ${c.top}`, () => {
      const r = gradCam(model, x);
      assert.equal(r.classIndex, c.top);
      assert.deepEqual([r.h, r.w], [h, w]);
      assertClose(r.logits, fixture(`${name}.logits`), { rtol: 1e-4, what: `${name} logits` });
      assertClose(r.cam, fixture(`${name}.cam_top`), { atol: 1e-5, rtol: 0, what: `${name} cam_top` });
    });

    test(`${c.arch} x=[${c.shape}] → cam [${h},${w}] for class ${c.other}`, () => {
      const r = gradCam(model, x, c.other);
      assert.equal(r.classIndex, c.other);
      assertClose(r.cam, fixture(`${name}.cam_other`), { atol: 1e-5, rtol: 0, what: `${name} cam_other` });
    });
  }
});

describe('gradCam contract', () => {
  const model = buildModel('resnet20', { numClasses: 4 }).eval();
  loadSynthetic(model);
  const x = new Tensor(syntheticUniform(fnv1a32('input'), 3 * 16 * 16), [1, 3, 16, 16]);

  test('resnet20 x=[1,3,16,16]: leaves fc gradients alone and matches the forward logits', () => {
    const r = gradCam(model, x);
    for (const p of model.parameters()) assert.equal(p.grad, null);
    assertClose(r.logits, noGrad(() => model.forward(x)).data, { rtol: 1e-6, what: 'logits' });
    assert.ok(r.cam.every((v) => v >= 0 && v <= 1));
    assert.equal(Math.max(...r.cam), 1);
  });

  test('rejects batches, class indices out of range, headless models and noGrad', () => {
    assert.throws(() => gradCam(model, Tensor.zeros([2, 3, 16, 16])), /one image of shape \[1, C, H, W\]/);
    assert.throws(() => gradCam(model, x, 4), /class index 4 is out of range for 4 classes/);
    const headless = buildModel('resnet20', { includeTop: false }).eval();
    assert.throws(() => gradCam(headless, x), /no fc/);
    assert.throws(() => noGrad(() => gradCam(model, x)), /inside noGrad/);
  });
});

describe('cam pictures', () => {
  test('upsampleCam [1,2] → [1,4] interpolates between pixel centres', () => {
    const up = upsampleCam({ cam: Float32Array.from([0, 1]), h: 1, w: 2 }, 4, 1);
    assertClose(up, [0, 0.25, 0.75, 1], { atol: 1e-7, what: 'upsampled' });
  });

  test('upsampleCam of a constant [3,5] map stays constant at [7,11]', () => {
    const up = upsampleCam({ cam: new Float32Array(15).fill(0.3), h: 3, w: 5 }, 11, 7);
    assertClose(up, new Float32Array(77).fill(0.3), { atol: 1e-6, what: 'upsampled' });
  });

  test('jet runs dark blue → green → dark red', () => {
    assert.deepEqual(jet(0), [0, 0, 128]);
    assert.deepEqual(jet(0.5), [128, 255, 128]);
    assert.deepEqual(jet(1), [128, 0, 0]);
  });

  test('overlay at opacity 0 is the image, at 1 the heat map; gray images are expanded', () => {
    const map = { cam: Float32Array.from([0, 1, 0.5, 0.25]), h: 2, w: 2 };
    const gray = { data: Uint8Array.from([10, 20, 30, 40]), width: 2, height: 2, channels: 1 as const };
    assert.deepEqual([...overlayRgb(map, gray, 0)], [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
    assert.deepEqual(overlayRgb(map, gray, 1), heatmapRgb(map, 2, 2));
    assert.throws(() => overlayRgb(map, gray, 1.5), /opacity must be in \[0, 1\]/);
  });

  test('camToPng: cam [2,3] over an image [5,7] gives a 7×5 RGB PNG', async () => {
    const image = { data: new Uint8Array(5 * 7 * 3).fill(200), width: 7, height: 5, channels: 3 as const };
    const png = await camToPng({ cam: new Float32Array(6).fill(1), h: 2, w: 3 }, image, 0.5);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 7, 5, 3]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([...data.subarray(0, 3)], [164, 100, 100]);
  });
});

describe('networkView', () => {
  for (const channels of [1, 3] as const) {
    test(`undoes Normalize: evalTransform of a ${channels}-channel [9,9] image at imgSize 9 gives its pixels back`, () => {
      const data = Uint8Array.from({ length: 81 * channels }, (_, i) => (i * 37) % 256);
      const image = { data, width: 9, height: 9, channels };
      const p = makePreprocess({ augment: 'none', imgSize: 9, inChannels: channels });
      assert.deepEqual(networkView(evalTransform(image, p), p), image);
    });
  }
});
