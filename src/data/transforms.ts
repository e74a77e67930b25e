// The train and eval pipelines (torchvision's RandomResizedCrop/Resize/CenterCrop/RandomCrop/flip, ToTensor,
// Normalize) from decoded 8-bit pixels to a normalised CHW Float32Array, as one Preprocess record a run saves.
import type { Generator } from '../tensor/random.ts';
import type { DecodedImage } from './image.ts';
import { type Box, resizeBilinear } from './resize.ts';

export type Augment = 'imagenet' | 'cifar' | 'none';
export const augments: readonly Augment[] = ['imagenet', 'cifar', 'none'];

export interface Preprocess {
  augment: Augment;
  /** Side of the square network input. */
  imgSize: number;
  /** Shorter side before the eval center crop (imagenet); imgSize otherwise. */
  resizeSize: number;
  inChannels: 1 | 3;
  mean: number[];
  std: number[];
}

export const imagenetMean = [0.485, 0.456, 0.406];
export const imagenetStd = [0.229, 0.224, 0.225];

export interface PreprocessOptions {
  augment: Augment;
  imgSize: number;
  inChannels: 1 | 3;
  /** Per-channel mean and std; default ImageNet's for 3 channels, 0.5/0.5 for 1 (pass the dataset's own). */
  mean?: number[];
  std?: number[];
}

export function makePreprocess(opts: PreprocessOptions): Preprocess {
  const { augment, imgSize, inChannels } = opts;
  if (!augments.includes(augment)) throw new Error(`augment must be one of ${augments.join(', ')}, got '${augment}'`);
  if (!(Number.isInteger(imgSize) && imgSize > 0))
    throw new Error(`imgSize must be a positive integer, got ${imgSize}`);
  if (inChannels !== 1 && inChannels !== 3) throw new Error(`inChannels must be 1 or 3, got ${inChannels}`);
  const mean = opts.mean ?? (inChannels === 3 ? imagenetMean : [0.5]);
  const std = opts.std ?? (inChannels === 3 ? imagenetStd : [0.5]);
  if (mean.length !== inChannels || std.length !== inChannels) {
    throw new Error(`mean and std need ${inChannels} values each, got [${mean}] and [${std}]`);
  }
  if (std.some((s) => !(s > 0))) throw new Error(`std must be positive, got [${std}]`);
  const resizeSize = augment === 'imagenet' ? Math.round((imgSize * 256) / 224) : imgSize;
  return { augment, imgSize, resizeSize, inChannels, mean: [...mean], std: [...std] };
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's RandomResizedCrop.get_params: ten tries at a random area fraction in `scale` and log-uniform
 * aspect ratio in `ratio`, then the central crop clamped to `ratio` as the fallback.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Generator,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): Box {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(height - h + 1);
      const x = rng.int(width - w + 1);
      return { x, y, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/** The shorter side scaled to `size`, the longer by int(size·long/short), as torchvision's Resize(int). */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc((size * height) / width)];
  return [Math.trunc((size * width) / height), size];
}

/** torchvision's center_crop offset: round-half-even when cropping, zero padding split floor-first when growing. */
function centerOffset(size: number, crop: number): number {
  return crop > size ? -Math.floor((crop - size) / 2) : roundHalfEven((size - crop) / 2);
}

/** ToTensor then Normalize in float32 as torch computes it, for each channel and 8-bit value. */
const normalizeTables = new WeakMap<Preprocess, Float32Array>();
function normalizeTable(p: Preprocess): Float32Array {
  let table = normalizeTables.get(p);
  if (!table) {
    table = new Float32Array(p.inChannels * 256);
    for (let c = 0; c < p.inChannels; c++) {
      const mean = Math.fround(p.mean[c]);
      const std = Math.fround(p.std[c]);
      for (let v = 0; v < 256; v++) table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    }
    normalizeTables.set(p, table);
  }
  return table;
}

/**
 * Writes the S×S window of `img` whose top-left is at (offX, offY), zero-padded outside the image and optionally
 * mirrored left-right, normalised, as CHW into `out`.
 */
function toNormalizedCHW(
  img: DecodedImage,
  p: Preprocess,
  offX: number,
  offY: number,
  flip: boolean,
  out: Float32Array,
): Float32Array {
  const S = p.imgSize;
  const C = img.channels;
  const table = normalizeTable(p);
  const { data, width, height } = img;
  for (let c = 0; c < C; c++) {
    const lut = table.subarray(c * 256, c * 256 + 256);
    const plane = c * S * S;
    for (let y = 0; y < S; y++) {
      const sy = y + offY;
      const row = plane + y * S;
      if (sy < 0 || sy >= height) {
        out.fill(lut[0], row, row + S);
        continue;
      }
      const srcRow = sy * width;
      for (let x = 0; x < S; x++) {
        const sx = (flip ? S - 1 - x : x) + offX;
        out[row + x] = sx < 0 || sx >= width ? lut[0] : lut[data[(srcRow + sx) * C + c]];
      }
    }
  }
  return out;
}

function checkInput(img: DecodedImage, p: Preprocess, out: Float32Array | undefined): Float32Array {
  if (img.channels !== p.inChannels) {
    throw new Error(`transform: image has ${img.channels} channels, the preprocessing expects ${p.inChannels}`);
  }
  const n = p.inChannels * p.imgSize * p.imgSize;
  if (out && out.length !== n) throw new Error(`transform: output has ${out.length} elements, expected ${n}`);
  return out ?? new Float32Array(n);
}

function resizeToSquare(img: DecodedImage, S: number): DecodedImage {
  return img.width === S && img.height === S ? img : resizeBilinear(img, S, S);
}

/** torchvision's F.resized_crop(img, box, (size, size), BILINEAR): crop then resize. */
export function resizedCrop(img: DecodedImage, box: Box, size: number): DecodedImage {
  return resizeBilinear(img, size, size, box);
}

/**
 * Training augmentation, drawing from `rng` in a fixed order:
 * imagenet = RandomResizedCrop(imgSize, (0.08, 1), (3/4, 4/3)) + RandomHorizontalFlip;
 * cifar = Resize((imgSize, imgSize)) when needed + RandomCrop(imgSize, padding=round(4·imgSize/32)) + flip;
 * none = Resize((imgSize, imgSize)). Then ToTensor and Normalize, into `out` when given.
 */
export function trainTransform(img: DecodedImage, p: Preprocess, rng: Generator, out?: Float32Array): Float32Array {
  const target = checkInput(img, p, out);
  const S = p.imgSize;
  switch (p.augment) {
    case 'imagenet': {
      const cropped = resizedCrop(img, randomResizedCropBox(img.width, img.height, rng), S);
      return toNormalizedCHW(cropped, p, 0, 0, rng.random() < 0.5, target);
    }
    case 'cifar': {
      const pad = Math.round((4 * S) / 32);
      const top = rng.int(2 * pad + 1);
      const left = rng.int(2 * pad + 1);
      const flip = rng.random() < 0.5;
      return toNormalizedCHW(resizeToSquare(img, S), p, left - pad, top - pad, flip, target);
    }
    case 'none':
      return toNormalizedCHW(resizeToSquare(img, S), p, 0, 0, false, target);
  }
}

/**
 * Evaluation: imagenet = Resize(resizeSize) of the shorter side + CenterCrop(imgSize); cifar and none =
 * Resize((imgSize, imgSize)). Then ToTensor and Normalize, into `out` when given.
 */
export function evalTransform(img: DecodedImage, p: Preprocess, out?: Float32Array): Float32Array {
  const target = checkInput(img, p, out);
  const S = p.imgSize;
  if (p.augment !== 'imagenet') return toNormalizedCHW(resizeToSquare(img, S), p, 0, 0, false, target);
  const [w, h] = shorterSideSize(img.width, img.height, p.resizeSize);
  const left = centerOffset(w, S);
  const top = centerOffset(h, S);
  // Resize only the pixels the crop keeps.
  const x0 = Math.max(left, 0);
  const y0 = Math.max(top, 0);
  const window = { x: x0, y: y0, width: Math.min(left + S, w) - x0, height: Math.min(top + S, h) - y0 };
  const resized = resizeBilinear(img, w, h, undefined, window);
  return toNormalizedCHW(resized, p, left - x0, top - y0, false, target);
}
