// One batch's decode + transform, the same code in loader workers and in the main thread. Each sample's
// augmentation draws from its own generator seeded by (seed, epoch, sample index), so no result depends on which
// thread did the work or in what order.
import { Generator } from '../tensor/random.ts';
import { type DecodedImage, decodeImage, ImageDecodeError } from './image.ts';
import { evalTransform, type Preprocess, trainTransform } from './transforms.ts';

export interface BatchSpec {
  train: boolean;
  preprocess: Preprocess;
  seed: number;
  epoch: number;
  maxPixels: number;
  /** Return the pixels decoded here, for the main thread's cache. */
  keepDecoded: boolean;
}

export interface BatchItem {
  /** Index of the sample in the dataset. */
  index: number;
  path: string;
  /** Already-decoded pixels, when cached. */
  image?: DecodedImage;
}

export interface BatchOutput {
  /** The transformed samples that decoded, in item order: [ok.length, C, S, S]. */
  x: Float32Array;
  /** Positions (in items) of the samples in x. */
  ok: number[];
  failed: { position: number; reason: string }[];
  decoded: { position: number; image: DecodedImage }[];
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The shuffle seed of an epoch (distinct from every sample seed but by chance). */
export function epochSeed(seed: number, epoch: number): number {
  return (mix32(mix32(seed >>> 0) ^ (epoch >>> 0)) ^ 0x5bd1e995) >>> 0;
}

/** The augmentation seed of one sample in one epoch. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return mix32(mix32(mix32(seed >>> 0) ^ (epoch >>> 0)) ^ (index >>> 0));
}

export async function runBatch(items: BatchItem[], spec: BatchSpec): Promise<BatchOutput> {
  const p = spec.preprocess;
  const images = await Promise.all(
    items.map((it) =>
      it.image
        ? it.image
        : decodeImage(it.path, { channels: p.inChannels, maxPixels: spec.maxPixels }).catch((err: unknown) => {
            if (err instanceof ImageDecodeError) return err;
            throw err;
          }),
    ),
  );
  const sampleSize = p.inChannels * p.imgSize * p.imgSize;
  const ok: number[] = [];
  const failed: BatchOutput['failed'] = [];
  const decoded: BatchOutput['decoded'] = [];
  images.forEach((img, position) => {
    if (img instanceof ImageDecodeError) failed.push({ position, reason: img.reason });
    else ok.push(position);
  });
  const x = new Float32Array(ok.length * sampleSize);
  ok.forEach((position, k) => {
    const img = images[position] as DecodedImage;
    const out = x.subarray(k * sampleSize, (k + 1) * sampleSize);
    if (spec.train)
      trainTransform(img, p, new Generator(sampleSeed(spec.seed, spec.epoch, items[position].index)), out);
    else evalTransform(img, p, out);
    if (spec.keepDecoded && !items[position].image) decoded.push({ position, image: img });
  });
  return { x, ok, failed, decoded };
}
