// Turns Debian's dataset-fashion-mnist (idx .gz files) into an image folder: OUT/train/<digit_name>/<index>.png
// from the training set and OUT/val/<digit_name>/<index>.png from the official test set.
// Usage: npx tsx scripts/fashion-mnist-to-folder.ts OUT [--classes 0-4|5,7,9] [--per-class N] [--val-per-class N]
//        [--src /usr/share/datasets/fashion-mnist]
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { optionalInt, parse, UsageError } from '../src/cli/args.ts';

const usage =
  'npx tsx scripts/fashion-mnist-to-folder.ts OUT [--classes 0-4|5,7,9] [--per-class N] [--val-per-class N] [--src DIR]';
const classNames = [
  'T-shirt_top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle_boot',
];

/** Reads an idx file (gzipped): magic 0x000008xx with xx the number of dimensions, then big-endian u32 sizes. */
function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const buf = gunzipSync(readFileSync(file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic >>> 8 !== 0x08) throw new Error(`${file}: not an unsigned-byte idx file (magic 0x${magic.toString(16)})`);
  const dims = Array.from({ length: magic & 0xff }, (_, i) => view.getUint32(4 + 4 * i));
  const offset = 4 + 4 * dims.length;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== offset + size) throw new Error(`${file}: ${buf.length} bytes, expected ${offset + size}`);
  return { dims, data: buf.subarray(offset) };
}

/** "0-4" or "5,7,9" (or a mix) → sorted class digits. */
function parseClasses(spec: string): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^(\d)(?:-(\d))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--classes: expected digits like 0-4 or 5,7,9, got "${spec}"`);
    const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

async function writeSplit(
  src: string,
  prefix: 'train' | 't10k',
  outDir: string,
  classes: number[],
  perClass: number | undefined,
): Promise<number> {
  const images = readIdx(join(src, `${prefix}-images-idx3-ubyte.gz`));
  const labels = readIdx(join(src, `${prefix}-labels-idx1-ubyte.gz`));
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${src}: ${n} ${prefix} images but ${labels.dims[0]} labels`);
  for (const c of classes) mkdirSync(join(outDir, `${c}_${classNames[c]}`), { recursive: true });
  // The first perClass images of each class, in the file's order.
  const taken = new Map<number, number>();
  const jobs: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = labels.data[i];
    const count = taken.get(c) ?? 0;
    if (classes.includes(c) && (perClass === undefined || count < perClass)) {
      taken.set(c, count + 1);
      jobs.push(i);
    }
  }
  let next = 0;
  const writer = async () => {
    while (next < jobs.length) {
      const i = jobs[next++];
      const file = join(outDir, `${labels.data[i]}_${classNames[labels.data[i]]}`, `${String(i).padStart(5, '0')}.png`);
      const pixels = images.data.subarray(i * h * w, (i + 1) * h * w);
      await sharp(pixels, { raw: { width: w, height: h, channels: 1 } })
        .png({ compressionLevel: 1 })
        .toFile(file);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  return jobs.length;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      classes: { type: 'string' },
      'per-class': { type: 'string' },
      'val-per-class': { type: 'string' },
      src: { type: 'string' },
    },
    usage,
  );
  if (positionals.length !== 1) throw new UsageError(`expected one output folder\n\nusage: ${usage}`);
  const out = positionals[0];
  const src = (values.src as string | undefined) ?? '/usr/share/datasets/fashion-mnist';
  const classes = parseClasses((values.classes as string | undefined) ?? '0-9');
  const start = performance.now();
  const train = await writeSplit(src, 'train', join(out, 'train'), classes, optionalInt(values, 'per-class'));
  const val = await writeSplit(src, 't10k', join(out, 'val'), classes, optionalInt(values, 'val-per-class'));
  const sec = (performance.now() - start) / 1000;
  console.log(`wrote ${train} train and ${val} val images of classes ${classes} to ${out} in ${sec.toFixed(1)} s`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(err instanceof UsageError ? err.message : (err.stack ?? err.message));
  process.exit(err instanceof UsageError ? 2 : 1);
});
