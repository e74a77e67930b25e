// scanImageFolder: layouts, torchvision's class order, the stratified split, and the errors for bad folders.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compareCodePoints, findImages, scanImageFolder, stratifiedSplit } from '../../src/data/imageFolder.ts';

const tmp = mkdtempSync(join(tmpdir(), 'resnet-folder-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Creates empty files (scanning never opens them). */
function touch(root: string, files: string[]): string {
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

test("class order is Python's sorted(): by code point, upper case first, astral above U+FFFF last", () => {
  const names = ['b', 'a', 'B', '_x', '10', '9', 'é', '\u{1F600}', '\uFF5E'];
  // JS's default sort puts U+FF5E after U+1F600 (UTF-16 surrogates are < 0xFF5E); Python does not.
  assert.deepEqual(names.sort(compareCodePoints), ['10', '9', 'B', '_x', 'a', 'b', 'é', '\uFF5E', '\u{1F600}']);
});

test('train/ + val/: sorted classes, recursive sorted walk, image extensions only, hidden skipped', () => {
  const root = touch(join(tmp, 'tv'), [
    'train/dog/b.JPG',
    'train/dog/a.png',
    'train/dog/sub/c.webp',
    'train/dog/notes.txt',
    'train/dog/.hidden.jpg',
    'train/Cat/x.jpeg',
    'train/Cat/y.bmp',
    'train/cat/z.tif',
    'train/cat/w.gif',
    'train/.ipynb_checkpoints/q.jpg',
    'val/dog/v.tiff',
    'val/Cat/u.png',
  ]);
  const ds = scanImageFolder(root);
  assert.deepEqual(ds.classes, ['Cat', 'cat', 'dog']);
  assert.equal(ds.valSource, 'folder');
  const rel = (s: { path: string; label: number }) => [s.path.slice(root.length + 1), s.label];
  assert.deepEqual(ds.train.map(rel), [
    ['train/Cat/x.jpeg', 0],
    ['train/cat/w.gif', 1],
    ['train/cat/z.tif', 1],
    ['train/dog/a.png', 2],
    ['train/dog/b.JPG', 2],
    ['train/dog/sub/c.webp', 2],
  ]);
  assert.deepEqual(ds.val.map(rel), [
    ['val/Cat/u.png', 0],
    ['val/dog/v.tiff', 2],
  ]);
  assert.deepEqual(ds.unsupported, [join(root, 'train/Cat/y.bmp')]);
});

test('no val/: a stratified split, the same for the same seed, and one per class at least', () => {
  const files = [];
  for (const [cls, n] of [
    ['a', 20],
    ['b', 7],
    ['c', 2],
    ['d', 1],
  ] as const) {
    for (let i = 0; i < n; i++) files.push(`train/${cls}/${String(i).padStart(2, '0')}.png`);
  }
  const root = touch(join(tmp, 'split'), files);
  const ds = scanImageFolder(root, { valSplit: 0.2, seed: 5 });
  assert.equal(ds.valSource, 'split');
  const perClass = (s: { label: number }[]) => [0, 1, 2, 3].map((c) => s.filter((x) => x.label === c).length);
  // round(20·0.2) = 4, round(7·0.2) = 1, round(2·0.2) = 0 → 1, a single image stays in train.
  assert.deepEqual(perClass(ds.val), [4, 1, 1, 0]);
  assert.deepEqual(perClass(ds.train), [16, 6, 1, 1]);
  assert.deepEqual(scanImageFolder(root, { valSplit: 0.2, seed: 5 }), ds);
  assert.notDeepEqual(scanImageFolder(root, { valSplit: 0.2, seed: 6 }).val, ds.val);
  assert.equal(scanImageFolder(root, { valSplit: 0 }).val.length, 0);
  // Train and val partition the scan, each in scan order.
  const all = scanImageFolder(root, { valSplit: 0 }).train.map((s) => s.path);
  assert.deepEqual([...ds.train, ...ds.val].map((s) => s.path).sort(), [...all].sort());
  assert.deepEqual(
    ds.val.map((s) => s.path),
    all.filter((p) => ds.val.some((s) => s.path === p)),
  );
});

test('class folders directly under DIR are read as train, with a split', () => {
  const root = touch(join(tmp, 'flat'), ['x/1.png', 'x/2.png', 'y/1.jpg', 'y/2.jpg', 'y/3.jpg']);
  const ds = scanImageFolder(root, { valSplit: 0.5 });
  assert.deepEqual(ds.classes, ['x', 'y']);
  assert.equal(ds.train.length + ds.val.length, 5);
});

test('errors say what was expected: missing folder, no classes, empty class, stray val class, bad valSplit', () => {
  assert.throws(() => scanImageFolder(join(tmp, 'nope')), /does not exist: expected .*train\/<class>\/\*\.jpg/);
  mkdirSync(join(tmp, 'empty'));
  assert.throws(() => scanImageFolder(join(tmp, 'empty')), /no class folders in .*empty: expected/);
  const noImages = touch(join(tmp, 'noimg'), ['train/a/1.png', 'train/b/readme.txt', 'train/b/old.bmp']);
  assert.throws(() => scanImageFolder(noImages), /no images in class folder .*train\/b \(1 .bmp\/.ppm\/.pgm/);
  const stray = touch(join(tmp, 'stray'), ['train/a/1.png', 'val/a/1.png', 'val/z/1.png']);
  assert.throws(() => scanImageFolder(stray), /val\/z is a class that .*train does not have/);
  const valOnly = touch(join(tmp, 'valonly'), ['val/a/1.png']);
  assert.throws(() => scanImageFolder(valOnly), /val\/ folder but no train\/ folder/);
  assert.throws(() => scanImageFolder(stray, { valSplit: 1 }), /valSplit must be in \[0, 1\)/);
});

test('stratifiedSplit of 1000 samples in 3 classes holds out 10% of each', () => {
  const samples = Array.from({ length: 1000 }, (_, i) => ({ path: `${i}`, label: i % 3 }));
  const { train, val } = stratifiedSplit(samples, 3, 0.1, 0);
  assert.deepEqual(
    [0, 1, 2].map((c) => val.filter((s) => s.label === c).length),
    [33, 33, 33],
  );
  assert.equal(train.length, 1000 - 99);
});

test('findImages: files as given, folders walked in sorted order', () => {
  const root = touch(join(tmp, 'predict'), ['d/b.png', 'd/a.jpg', 'd/n.txt', 'one.webp']);
  const found = findImages([join(root, 'one.webp'), join(root, 'd')]);
  assert.deepEqual(found, [join(root, 'one.webp'), join(root, 'd/a.jpg'), join(root, 'd/b.png')]);
  assert.throws(() => findImages([join(root, 'missing.png')]), /missing.png does not exist/);
});
