// Transforms against torchvision 0.14 fixtures (scripts/make_transform_fixtures.py), and the augmentations'
// geometry with scripted random draws.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type DecodedImage, decodeImage } from '../../src/data/image.ts';
import {
  evalTransform,
  makePreprocess,
  randomResizedCropBox,
  resizedCrop,
  roundHalfEven,
  shorterSideSize,
  trainTransform,
} from '../../src/data/transforms.ts';
import { readSafetensorsWithMetadata } from '../../src/io/safetensors.ts';
import { Generator } from '../../src/tensor/random.ts';
import { assertClose, fixturesDir } from '../helpers.ts';

const images = join(fixturesDir, 'images');
const fixture = readSafetensorsWithMetadata(join(fixturesDir, 'transforms', 'eval.safetensors'));

interface Case {
  key: string;
  file: string;
  augment?: 'imagenet' | 'cifar';
  imgSize: number;
  channels?: 1 | 3;
  box?: { x: number; y: number; width: number; height: number };
}

// The resize is Pillow's own fixed-point algorithm and Normalize is computed in float32 as torch does, so the
// outputs are identical (measured max |diff| = 0); 1e-6 only allows for a last-bit difference after Normalize.
const tolerance = { rtol: 0, atol: 1e-6 };

for (const c of JSON.parse(fixture.metadata.cases) as Case[]) {
  const channels = c.channels ?? 3;
  test(`torchvision ${c.box ? 'resized_crop' : c.augment} eval ${c.file} → [${channels}, ${c.imgSize}, ${c.imgSize}]`, async () => {
    const expected = fixture.tensors.get(c.key);
    assert.ok(expected, `fixture ${c.key}`);
    assert.deepEqual(expected.shape, [channels, c.imgSize, c.imgSize]);
    const img = await decodeImage(join(images, c.file), { channels });
    const actual = c.box
      ? evalTransform(
          resizedCrop(img, c.box, c.imgSize),
          makePreprocess({ augment: 'none', imgSize: c.imgSize, inChannels: 3 }),
        )
      : evalTransform(img, makePreprocess({ augment: c.augment!, imgSize: c.imgSize, inChannels: channels }));
    assertClose(actual, expected.data as Float32Array, { ...tolerance, what: c.key });
  });
}

test('makePreprocess: resizeSize = round(S·256/224), default mean/std, validation', () => {
  const p = makePreprocess({ augment: 'imagenet', imgSize: 224, inChannels: 3 });
  assert.deepEqual([p.resizeSize, p.mean, p.std], [256, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
  assert.equal(makePreprocess({ augment: 'imagenet', imgSize: 28, inChannels: 1 }).resizeSize, 32);
  const gray = makePreprocess({ augment: 'cifar', imgSize: 28, inChannels: 1 });
  assert.deepEqual([gray.resizeSize, gray.mean, gray.std], [28, [0.5], [0.5]]);
  const own = makePreprocess({ augment: 'none', imgSize: 28, inChannels: 1, mean: [0.286], std: [0.353] });
  assert.deepEqual([own.mean, own.std], [[0.286], [0.353]]);
  assert.throws(() => makePreprocess({ augment: 'none', imgSize: 28, inChannels: 3, mean: [0.5] }), /3 values/);
  assert.throws(() => makePreprocess({ augment: 'none', imgSize: 0, inChannels: 3 }), /imgSize/);
  assert.throws(() => makePreprocess({ augment: 'flip' as 'none', imgSize: 8, inChannels: 3 }), /augment/);
});

test("roundHalfEven is Python's round; shorterSideSize is int(size·long/short)", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, 3].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3, 3]);
  assert.deepEqual(shorterSideSize(37, 23, 37), [59, 37]);
  assert.deepEqual(shorterSideSize(19, 31, 37), [37, 60]);
});

test('randomResizedCropBox on 37×23: inside the image, area ≥ 8% or the clamped fallback', () => {
  const rng = new Generator(3);
  for (let i = 0; i < 500; i++) {
    const b = randomResizedCropBox(37, 23, rng);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= 37 && b.y + b.height <= 23, JSON.stringify(b));
    assert.ok(b.width * b.height >= 0.07 * 37 * 23, JSON.stringify(b));
  }
  // An impossible scale falls back to the central crop with the aspect ratio clamped to 4/3.
  assert.deepEqual(randomResizedCropBox(100, 10, rng, [2, 3]), { x: 43, y: 0, width: 13, height: 10 });
  assert.deepEqual(randomResizedCropBox(10, 100, rng, [2, 3]), { x: 0, y: 43, width: 10, height: 13 });
  assert.deepEqual(randomResizedCropBox(30, 25, rng, [2, 3]), { x: 0, y: 0, width: 30, height: 25 });
});

/** A Generator whose int() and random() return scripted values. */
class Scripted extends Generator {
  constructor(
    private readonly ints: number[],
    private readonly floats: number[],
  ) {
    super(0);
  }
  override int(n: number): number {
    const v = this.ints.shift()!;
    assert.ok(v < n, `scripted int ${v} ≥ ${n}`);
    return v;
  }
  override random(): number {
    return this.floats.shift()!;
  }
}

function ramp(width: number, height: number): DecodedImage {
  const data = Uint8Array.from({ length: width * height }, (_, i) => (i * 7) % 256);
  return { data, width, height, channels: 1 };
}

test('cifar train on [1, 12, 12] (pad 2): centred crop = eval, shifted crop pads, flip mirrors', () => {
  const img = ramp(12, 12);
  const p = makePreprocess({ augment: 'cifar', imgSize: 12, inChannels: 1 });
  const plain = evalTransform(img, p);
  assert.deepEqual(trainTransform(img, p, new Scripted([2, 2], [0.9])), plain);
  const flipped = trainTransform(img, p, new Scripted([2, 2], [0.1]));
  for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) assert.equal(flipped[y * 12 + x], plain[y * 12 + 11 - x]);
  const shifted = trainTransform(img, p, new Scripted([0, 4], [0.9])); // top 0, left 4: 2 rows of padding above
  const padValue = (0 - 0.5) / 0.5;
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 12; x++) {
      const want = y < 2 || x >= 10 ? padValue : plain[(y - 2) * 12 + x + 2];
      assert.equal(shifted[y * 12 + x], want, `(${y}, ${x})`);
    }
  }
});

test('imagenet train on [3, 23, 37] → [3, 16, 16]: the box and flip drawn in order from the sample generator', async () => {
  const img = await decodeImage(join(images, 'rgb_37x23.png'), { channels: 3 });
  const p = makePreprocess({ augment: 'imagenet', imgSize: 16, inChannels: 3 });
  for (const seed of [1, 2, 3, 4]) {
    const rng = new Generator(seed);
    const box = randomResizedCropBox(img.width, img.height, rng);
    const flip = rng.random() < 0.5;
    const cropped = evalTransform(
      resizedCrop(img, box, 16),
      makePreprocess({ augment: 'none', imgSize: 16, inChannels: 3 }),
    );
    const actual = trainTransform(img, p, new Generator(seed));
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const want = cropped[c * 256 + y * 16 + (flip ? 15 - x : x)];
          assert.equal(actual[c * 256 + y * 16 + x], want, `seed ${seed} (${c}, ${y}, ${x})`);
        }
      }
    }
  }
  assert.notDeepEqual(trainTransform(img, p, new Generator(1)), trainTransform(img, p, new Generator(2)));
});

test('none train = eval; channel mismatch and wrong output length are errors', () => {
  const img = ramp(9, 7);
  const p = makePreprocess({ augment: 'none', imgSize: 5, inChannels: 1 });
  assert.deepEqual(trainTransform(img, p, new Generator(0)), evalTransform(img, p));
  const rgb = makePreprocess({ augment: 'none', imgSize: 5, inChannels: 3 });
  assert.throws(() => evalTransform(img, rgb), /1 channels, the preprocessing expects 3/);
  assert.throws(() => evalTransform(img, p, new Float32Array(24)), /24 elements, expected 25/);
});
