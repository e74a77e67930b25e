// DataLoader: the same batches with 0 or 2 worker threads and with or without the cache, skip-and-count of bad
// images (or a throw with strictImages), and the mixed last batch.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeImage, ImageDecodeError } from '../../src/data/image.ts';
import { type Sample, scanImageFolder } from '../../src/data/imageFolder.ts';
import { type Batch, DataLoader, describeSkipped, type LoaderOptions } from '../../src/data/loader.ts';
import { writeShapesDataset } from '../../src/data/shapes.ts';
import { evalTransform, makePreprocess } from '../../src/data/transforms.ts';

const tmp = mkdtempSync(join(tmpdir(), 'resnet-loader-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let samples: Sample[] = [];
let corrupt = '';
const preprocess = makePreprocess({ augment: 'imagenet', imgSize: 12, inChannels: 3 });

before(async () => {
  await writeShapesDataset(tmp, {
    classes: ['circle', 'cross', 'square'],
    perClass: 7,
    valPerClass: 0,
    size: 20,
    seed: 1,
  });
  corrupt = join(tmp, 'train', 'cross', '0003.png');
  writeFileSync(corrupt, 'not a png');
  samples = scanImageFolder(tmp, { valSplit: 0 }).train; // 21 images, one of them corrupt
});

async function collect(
  opts: Partial<LoaderOptions>,
  epochs: number[],
): Promise<{ batches: Batch[][]; loader: DataLoader }> {
  const loader = new DataLoader(samples, { batchSize: 4, preprocess, shuffle: true, train: true, seed: 7, ...opts });
  const batches: Batch[][] = [];
  try {
    for (const e of epochs) {
      const epoch: Batch[] = [];
      for await (const b of loader.epoch(e)) epoch.push(b);
      batches.push(epoch);
    }
  } finally {
    await loader.close();
  }
  return { batches, loader };
}

function summary(epochs: Batch[][]) {
  return epochs.map((bs) => bs.map((b) => ({ shape: b.x.shape, x: b.x.data, labels: b.labels, paths: b.paths })));
}

test('21 images, batch 4, one corrupt: 0 and 2 workers, cached or not, give identical [B, 3, 12, 12] batches', async () => {
  const inThread = await collect({ workers: 0 }, [0, 1, 2]);
  const threads = await collect({ workers: 2 }, [0, 1, 2]);
  const uncached = await collect({ workers: 1, cacheDecoded: false }, [0, 1, 2]);
  assert.deepEqual(summary(threads.batches), summary(inThread.batches));
  assert.deepEqual(summary(uncached.batches), summary(inThread.batches));
  assert.equal(inThread.loader.cached.images, 20);
  assert.equal(threads.loader.cached.images, 20);
  assert.equal(uncached.loader.cached.images, 0);
  // Epochs differ in order and augmentation.
  assert.notDeepEqual(inThread.batches[1][0].paths, inThread.batches[0][0].paths);
  const first = (e: number) => inThread.batches[e].flatMap((b) => b.paths);
  assert.deepEqual([...first(0)].sort(), [...first(1)].sort());
});

test('a corrupt image is skipped and counted in every epoch; the other batches stay full, the last is mixed', async () => {
  const { batches, loader } = await collect({ workers: 1 }, [0, 1]);
  assert.deepEqual([...loader.skipped.keys()], [corrupt]);
  assert.match(loader.skipped.get(corrupt)!, /unsupported image format/);
  assert.equal(
    describeSkipped(loader.skipped),
    `skipped 1 unreadable image: ${corrupt} (${loader.skipped.get(corrupt)})`,
  );
  const many = new Map(Array.from({ length: 7 }, (_, i) => [`f${i}.png`, 'bad'] as [string, string]));
  assert.match(describeSkipped(many, 2), /^skipped 7 unreadable images: f0.png \(bad\), f1.png \(bad\), and 5 more$/);
  assert.equal(describeSkipped(new Map()), '');
  batches.forEach((epoch, e) => {
    // The epoch's order cut into fours, less the corrupt image wherever it fell: 21 = 5·4 + 1.
    const order = loader.order(e);
    const expected = [];
    for (let i = 0; i < 21; i += 4)
      expected.push(order.slice(i, i + 4).filter((k) => samples[k].path !== corrupt).length);
    assert.deepEqual(
      epoch.map((b) => b.labels.length),
      expected,
    );
    assert.equal(expected.at(-1), 1);
    for (const b of epoch) assert.deepEqual(b.x.shape, [b.labels.length, 3, 12, 12]);
  });
  assert.equal(loader.length, 6);
});

test('strictImages: the corrupt image throws an ImageDecodeError naming it', async () => {
  await assert.rejects(collect({ workers: 1, strictImages: true }, [0]), (err: unknown) => {
    assert.ok(err instanceof ImageDecodeError);
    assert.equal(err.file, corrupt);
    return true;
  });
});

test('eval without shuffle: dataset order, evalTransform of each image, labels from the folders', async () => {
  const loader = new DataLoader(samples, { batchSize: 8, preprocess, workers: 0 });
  const batches: Batch[] = [];
  for await (const b of loader.epoch(0)) batches.push(b);
  const paths = batches.flatMap((b) => b.paths);
  assert.deepEqual(
    paths,
    samples.map((s) => s.path).filter((p) => p !== corrupt),
  );
  assert.deepEqual(
    batches.map((b) => b.labels.length),
    [8, 7, 5],
  );
  const b = batches[1];
  const k = 3;
  const img = await decodeImage(b.paths[k], { channels: 3 });
  assert.deepEqual(b.x.data.subarray(k * 432, (k + 1) * 432), evalTransform(img, preprocess));
  assert.equal(b.labels[k], samples.find((s) => s.path === b.paths[k])!.label);
});

test('cacheBytes caps the cache: 20×20×3 = 1200-byte images, a 5000-byte budget holds 4', async () => {
  const { batches, loader } = await collect({ workers: 0, cacheBytes: 5000 }, [0, 1]);
  assert.equal(loader.cached.images, 4);
  assert.ok(loader.cached.bytes <= 5000);
  const full = await collect({ workers: 0 }, [0, 1]);
  assert.deepEqual(summary(batches), summary(full.batches));
});

test('epoch(e, startBatch = 3) yields the same batches as a full pass from the fourth on', async () => {
  const full = await collect({ workers: 0 }, [4]);
  const loader = new DataLoader(samples, { batchSize: 4, preprocess, shuffle: true, train: true, seed: 7, workers: 0 });
  const rest: Batch[] = [];
  for await (const b of loader.epoch(4, 3)) rest.push(b);
  assert.equal(rest.length, full.batches[0].length - 3);
  assert.deepEqual(summary([rest]), summary([full.batches[0].slice(3)]));
});

// Linux only: each thread's nice value is field 19 of /proc/self/task/TID/stat (after the parenthesised name).
const niceOfThreads = () =>
  readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });

test('loader workers run at nice 19, yielding the cores to the step; this thread keeps its priority', {
  skip: existsSync('/proc/self/task') ? false : 'no /proc',
}, async () => {
  const loader = new DataLoader(samples, { batchSize: 4, preprocess, workers: 2 });
  try {
    for await (const _ of loader.epoch(0)) {
      // every batch comes from a worker
    }
    const nices = niceOfThreads();
    assert.equal(nices.filter((n) => n === 19).length, 2, `thread nice values ${nices}`);
    const self = readFileSync('/proc/thread-self/stat', 'utf8');
    assert.equal(Number(self.slice(self.lastIndexOf(')') + 2).split(' ')[16]), 0);
  } finally {
    await loader.close();
  }
});
