// The dataset's own per-channel mean and std (of pixel values / 255), for Normalize with --in-channels 1.
import { Generator } from '../tensor/random.ts';
import { decodeImage, ImageDecodeError } from './image.ts';
import type { Sample } from './imageFolder.ts';

export interface MeanStd {
  mean: number[];
  std: number[];
  /** Images the statistics came from (unreadable ones are left out). */
  images: number;
}

export interface MeanStdOptions {
  /** At most this many images, a seeded random subset (default 2000). */
  maxSamples?: number;
  seed?: number;
  maxPixels?: number;
}

/** Mean and population std over every pixel of a capped, seeded subset of the samples, at their decoded size. */
export async function computeMeanStd(
  samples: readonly Sample[],
  inChannels: 1 | 3,
  opts: MeanStdOptions = {},
): Promise<MeanStd> {
  const { maxSamples = 2000, seed = 0, maxPixels } = opts;
  let picked = Array.from(samples, (_, i) => i);
  if (picked.length > maxSamples)
    picked = new Generator(seed)
      .shuffle(picked)
      .slice(0, maxSamples)
      .sort((a, b) => a - b);
  const sum = new Float64Array(inChannels);
  const sumSq = new Float64Array(inChannels);
  let pixels = 0;
  let images = 0;
  const group = 32; // decodes in flight at once
  for (let g = 0; g < picked.length; g += group) {
    const decoded = await Promise.all(
      picked.slice(g, g + group).map((i) =>
        decodeImage(samples[i].path, { channels: inChannels, maxPixels }).catch((err: unknown) => {
          if (err instanceof ImageDecodeError) return null;
          throw err;
        }),
      ),
    );
    for (const img of decoded) {
      if (!img) continue;
      const { data } = img;
      for (let k = 0; k < data.length; k += inChannels) {
        for (let c = 0; c < inChannels; c++) {
          const v = data[k + c] / 255;
          sum[c] += v;
          sumSq[c] += v * v;
        }
      }
      pixels += data.length / inChannels;
      images++;
    }
  }
  if (images === 0) throw new Error(`computeMeanStd: none of the ${picked.length} images could be decoded`);
  const mean = Array.from(sum, (s) => s / pixels);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / pixels - mean[c] ** 2, 0)));
  return { mean, std, images };
}
