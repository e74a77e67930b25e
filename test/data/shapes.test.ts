// The demo's synthetic dataset: the layout scanImageFolder reads, real PNG and JPEG files, the same bytes per seed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeImage } from '../../src/data/image.ts';
import { scanImageFolder } from '../../src/data/imageFolder.ts';
import { renderShape, shapeClasses, writeShapesDataset } from '../../src/data/shapes.ts';
import { Generator } from '../../src/tensor/random.ts';

const tmp = mkdtempSync(join(tmpdir(), 'resnet-shapes-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('writeShapesDataset: 5 classes × (6 train + 3 val) of [24, 24, 3], PNG and JPEG, deterministic', async () => {
  const classes = await writeShapesDataset(join(tmp, 'a'), { perClass: 6, valPerClass: 3, size: 24, seed: 2 });
  assert.deepEqual(classes, [...shapeClasses]);
  const ds = scanImageFolder(join(tmp, 'a'));
  assert.deepEqual(ds.classes, classes);
  assert.equal(ds.valSource, 'folder');
  assert.deepEqual([ds.train.length, ds.val.length], [30, 15]);
  assert.ok(ds.train.some((s) => s.path.endsWith('.jpg')) && ds.train.some((s) => s.path.endsWith('.png')));
  const img = await decodeImage(ds.val[0].path, { channels: 3 });
  assert.deepEqual([img.width, img.height], [24, 24]);
  await writeShapesDataset(join(tmp, 'b'), { perClass: 6, valPerClass: 3, size: 24, seed: 2 });
  for (const s of ds.train) assert.deepEqual(readFileSync(s.path), readFileSync(s.path.replace('/a/', '/b/')));
  await assert.rejects(
    writeShapesDataset(join(tmp, 'c'), { classes: ['circle'], perClass: 1, valPerClass: 1, size: 24 }),
    /at least 2/,
  );
});

test('renderShape [32, 32]: the shape (HSV value ≥ 0.75) stands out from the background (≤ 0.45)', () => {
  for (const shape of shapeClasses) {
    const px = renderShape(shape, 32, new Generator(1));
    const value = (i: number) => Math.max(px[3 * i], px[3 * i + 1], px[3 * i + 2]); // HSV value
    const values = Array.from({ length: 32 * 32 }, (_, i) => value(i)).sort((a, b) => a - b);
    // With noise σ = 14, the brightest 5% (shape) and the 30th percentile (background) stay > 60 apart.
    assert.ok(values[Math.floor(values.length * 0.95)] - values[Math.floor(values.length * 0.3)] > 60, shape);
  }
});
