// scripts/fashion-mnist-to-folder.ts on tiny idx files made here: class folders, --classes, --per-class, pixels.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { decodeImage } from '../../src/data/image.ts';
import { scanImageFolder } from '../../src/data/imageFolder.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'resnet-fmnist-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(0x800 + dims.length, 0);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return gzipSync(Buffer.concat([head, data]));
}

test('12 train + 6 test idx images [3, 4] → OUT/{train,val}/<digit>_<name>/<index>.png', async () => {
  const src = join(tmp, 'src');
  mkdirSync(src);
  const trainLabels = Uint8Array.from([0, 1, 2, 1, 2, 1, 0, 2, 1, 2, 9, 1]);
  const testLabels = Uint8Array.from([1, 2, 2, 0, 9, 1]);
  const pixels = (n: number, base: number) => Uint8Array.from({ length: n * 12 }, (_, i) => (base + i * 5) % 256);
  writeFileSync(join(src, 'train-images-idx3-ubyte.gz'), idx([12, 3, 4], pixels(12, 0)));
  writeFileSync(join(src, 'train-labels-idx1-ubyte.gz'), idx([12], trainLabels));
  writeFileSync(join(src, 't10k-images-idx3-ubyte.gz'), idx([6, 3, 4], pixels(6, 100)));
  writeFileSync(join(src, 't10k-labels-idx1-ubyte.gz'), idx([6], testLabels));
  const out = join(tmp, 'out');
  const script = join(repo, 'scripts', 'fashion-mnist-to-folder.ts');
  const args = ['--import', 'tsx', script, out, '--classes', '1-2', '--per-class', '2', '--src', src];
  const log = execFileSync(process.execPath, args, { cwd: repo, encoding: 'utf8' });
  assert.match(log, /wrote 4 train and 4 val images of classes 1,2/);
  assert.deepEqual(readdirSync(join(out, 'train')), ['1_Trouser', '2_Pullover']);
  assert.deepEqual(readdirSync(join(out, 'train', '1_Trouser')), ['00001.png', '00003.png']);
  assert.deepEqual(readdirSync(join(out, 'val', '2_Pullover')), ['00001.png', '00002.png']);
  const ds = scanImageFolder(out);
  assert.deepEqual([ds.classes, ds.train.length, ds.val.length], [['1_Trouser', '2_Pullover'], 4, 4]);
  const img = await decodeImage(join(out, 'train', '2_Pullover', '00004.png'), { channels: 1 });
  assert.deepEqual([img.width, img.height, [...img.data]], [4, 3, [...pixels(12, 0).subarray(48, 60)]]);
  assert.throws(
    () => execFileSync(process.execPath, ['--import', 'tsx', script, out, '--classes', 'x'], { stdio: 'pipe' }),
    /--classes: expected digits/,
  );
});
