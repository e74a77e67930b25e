// computeMeanStd: exact statistics of known pixels, unreadable images left out, the capped subset seeded.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { Sample } from '../../src/data/imageFolder.ts';
import { computeMeanStd } from '../../src/data/stats.ts';
import { assertClose } from '../helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'resnet-stats-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const samples: Sample[] = [];

before(async () => {
  // [2, 2] images of one colour each: black, white, and (51, 102, 204) = (0.2, 0.4, 0.8).
  for (const [name, rgb] of [
    ['black', [0, 0, 0]],
    ['white', [255, 255, 255]],
    ['blue', [51, 102, 204]],
  ] as const) {
    const path = join(tmp, `${name}.png`);
    const pixels = Uint8Array.from({ length: 12 }, (_, i) => rgb[i % 3]);
    await sharp(pixels, { raw: { width: 2, height: 2, channels: 3 } }).toFile(path);
    samples.push({ path, label: 0 });
  }
  writeFileSync(join(tmp, 'bad.png'), 'broken');
  samples.push({ path: join(tmp, 'bad.png'), label: 0 });
});

test('mean/std over 3 readable [2, 2] RGB images, the broken one left out (tolerance 1e-12)', async () => {
  const { mean, std, images } = await computeMeanStd(samples, 3);
  assert.equal(images, 3);
  const channel = (v: number) => {
    const m = (0 + 1 + v) / 3;
    return [m, Math.sqrt((m ** 2 + (1 - m) ** 2 + (v - m) ** 2) / 3)];
  };
  const expected = [0.2, 0.4, 0.8].map(channel);
  assertClose(
    mean,
    expected.map((e) => e[0]),
    { rtol: 0, atol: 1e-12, what: 'mean' },
  );
  assertClose(
    std,
    expected.map((e) => e[1]),
    { rtol: 0, atol: 1e-12, what: 'std' },
  );
});

test('one channel uses the gray conversion; maxSamples picks a seeded subset', async () => {
  const gray = await computeMeanStd(samples.slice(0, 2), 1);
  assertClose(gray.mean, [0.5], { rtol: 0, atol: 1e-12 });
  assertClose(gray.std, [0.5], { rtol: 0, atol: 1e-12 });
  const a = await computeMeanStd(samples.slice(0, 3), 3, { maxSamples: 1, seed: 4 });
  assert.equal(a.images, 1);
  assert.deepEqual(await computeMeanStd(samples.slice(0, 3), 3, { maxSamples: 1, seed: 4 }), a);
  await assert.rejects(computeMeanStd(samples.slice(3), 3), /none of the 1 images could be decoded/);
});
