// Decodes an image file (JPEG, PNG, WebP, GIF, TIFF) into 8-bit HWC pixels with sharp (plain PNGs with png.ts, which
// gives the same bytes faster), the way torchvision's PIL loader would see it: alpha dropped, CMYK and 16-bit
// converted, plus EXIF orientation applied.
import { readFileSync } from 'node:fs';
import type { OutputInfo } from 'sharp';
import { decodePlainPng, isPng, PngError } from './png.ts';

let sharpModule: Promise<typeof import('sharp')> | null = null;

/**
 * sharp, loaded on first use: a folder of plain PNGs never needs it, and loading its libvips took about 50 ms of
 * each loader worker's start, before the first batch. Its operation cache is off: each file is decoded once per
 * epoch at most, and the cache would only hold memory.
 */
function loadSharp(): Promise<typeof import('sharp')> {
  sharpModule ??= import('sharp').then((m) => {
    m.default.cache(false);
    return m;
  });
  return sharpModule;
}

export interface DecodedImage {
  /** HWC, row-major, 8 bits per sample. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface DecodeOptions {
  channels: 1 | 3;
  /** What to call the image in errors when `input` is bytes. */
  name?: string;
  /** Refuse images with more pixels than this, read from the header before decoding (decompression bombs). */
  maxPixels?: number;
}

/** PIL's own refusal threshold (2 × Image.MAX_IMAGE_PIXELS). */
export const defaultMaxPixels = 178_956_970;

export class ImageDecodeError extends Error {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string) {
    super(`cannot decode image ${file}: ${reason}`);
    this.name = 'ImageDecodeError';
    this.file = file;
    this.reason = reason;
  }
}

/**
 * Decodes the first frame (GIF, multi-page TIFF) into RGB, or into one channel with PIL's convert('L') weights.
 * Differences from torchvision's loader, on purpose: EXIF orientation is applied (PIL ignores it), and 16-bit
 * samples keep their top 8 bits (PIL clips them to 255). CMYK goes through libvips' ICC transform, not PIL's
 * naive formula. Alpha is dropped without compositing, as PIL's convert('RGB') does.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions): Promise<DecodedImage> {
  const file = typeof input === 'string' ? input : (opts.name ?? '<bytes>');
  const maxPixels = opts.maxPixels ?? defaultMaxPixels;
  if (!(Number.isInteger(maxPixels) && maxPixels > 0)) {
    throw new Error(`decodeImage: maxPixels must be a positive integer, got ${maxPixels}`);
  }
  // PNG files are read here, synchronously: a small file takes some 10 µs so, against 230 for fs.promises.readFile's
  // four thread-pool round trips, and the callers that decode many (the loader's workers) have nothing else to do.
  const bytes = typeof input !== 'string' ? input : /\.png$/i.test(input) ? readPngFile(input) : null;
  if (bytes && isPng(bytes)) {
    let png: ReturnType<typeof decodePlainPng>;
    try {
      png = decodePlainPng(bytes, maxPixels);
    } catch (err) {
      if (err instanceof PngError) throw new ImageDecodeError(file, err.message);
      throw err;
    }
    if (png) {
      const data = convertChannels(png.data, png.width * png.height, png.channels, opts.channels);
      return { data, width: png.width, height: png.height, channels: opts.channels };
    }
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    // failOn 'truncated' rejects cut-off files like PIL does, yet accepts JPEGs with harmless warnings.
    const sharp = (await loadSharp()).default;
    raw = await sharp(bytes ?? input, { failOn: 'truncated', limitInputPixels: maxPixels })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const reason = /pixel limit/i.test(message)
      ? `more pixels than the maxPixels limit of ${maxPixels} (a decompression-bomb guard)`
      : message;
    throw new ImageDecodeError(file, reason);
  }
  const { width, height, channels } = raw.info;
  const src = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.length);
  if (channels !== 3 && channels !== 1)
    throw new ImageDecodeError(file, `unexpected ${channels} channels after decoding`);
  const data = convertChannels(src, width * height, channels, opts.channels);
  return { data, width, height, channels: opts.channels };
}

/** The file's bytes, or null when it cannot be read: sharp then reports why, as for every other format. */
function readPngFile(file: string): Uint8Array | null {
  try {
    return readFileSync(file);
  } catch {
    return null;
  }
}

/** Gray → RGB replicates; RGB → gray uses PIL's fixed-point ITU-R 601 luma (convert('L')). */
function convertChannels(src: Uint8Array, pixels: number, from: 1 | 3, to: 1 | 3): Uint8Array {
  if (from === to) return src.length === src.buffer.byteLength ? src : src.slice();
  const out = new Uint8Array(pixels * to);
  if (to === 3) {
    for (let i = 0; i < pixels; i++) {
      const v = src[i];
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else {
    for (let i = 0; i < pixels; i++) {
      out[i] = (src[3 * i] * 19595 + src[3 * i + 1] * 38470 + src[3 * i + 2] * 7471 + 0x8000) >>> 16;
    }
  }
  return out;
}
