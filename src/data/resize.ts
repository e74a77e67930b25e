// Pillow's BILINEAR resize (ImagingResample in libImaging/Resample.c), bit for bit: a triangle filter widened by
// the scale when shrinking (antialiasing), 22-bit fixed-point weights, horizontal pass first, rounding to 8 bits
// between the passes. torchvision's Resize on PIL images calls exactly this.
import type { DecodedImage } from './image.ts';

/** A pixel rectangle: left, top, width, height. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const precisionBits = 32 - 8 - 2;
const one = 1 << precisionBits;

interface Coefficients {
  /** Per output position: first input index (relative to the region) and tap count. */
  bounds: Int32Array;
  /** Per output position, `ksize` fixed-point weights. */
  weights: Int32Array;
  ksize: number;
}

/** precompute_coeffs + normalize_coeffs_8bpc for output positions [start, start + count) of outSize. */
function coefficients(inSize: number, outSize: number, start: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the bilinear filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const weights = new Int32Array(count * ksize);
  const taps = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let o = 0; o < count; o++) {
    const center = (start + o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * invScale);
      taps[x] = t < 1 ? 1 - t : 0;
      sum += taps[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? taps[x] / sum : taps[x];
      weights[o * ksize + x] = Math.trunc(w < 0 ? w * one - 0.5 : w * one + 0.5);
    }
    bounds[2 * o] = xmin;
    bounds[2 * o + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(v: number): number {
  if (v >= one * 256) return 255;
  if (v <= 0) return 0;
  return v >> precisionBits;
}

/**
 * Resizes the `region` of `img` (default: all of it) to outWidth×outHeight as Pillow's
 * `img.crop(region).resize((outWidth, outHeight), BILINEAR)`, computing only the `window` of the output (default:
 * all of it), which is what a following crop keeps. Every output pixel is the same as in the full resize.
 */
export function resizeBilinear(
  img: DecodedImage,
  outWidth: number,
  outHeight: number,
  region: Box = { x: 0, y: 0, width: img.width, height: img.height },
  window: Box = { x: 0, y: 0, width: outWidth, height: outHeight },
): DecodedImage {
  const C = img.channels;
  const src = img.data;
  const rowStride = img.width * C;
  const needH = outWidth !== region.width;
  const needV = outHeight !== region.height;
  const vert = needV ? coefficients(region.height, outHeight, window.y, window.height) : null;
  // The region rows the vertical pass reads, relative to the region.
  const rowFirst = vert ? vert.bounds[0] : window.y;
  const rowEnd = vert
    ? vert.bounds[2 * window.height - 2] + vert.bounds[2 * window.height - 1]
    : window.y + window.height;
  const rows = rowEnd - rowFirst;

  // Horizontal pass into tmp: rows × window.width × C.
  const tmpStride = window.width * C;
  const tmp = new Uint8Array(rows * tmpStride);
  if (needH) {
    const { bounds, weights, ksize } = coefficients(region.width, outWidth, window.x, window.width);
    for (let r = 0; r < rows; r++) {
      const srcRow = (region.y + rowFirst + r) * rowStride + region.x * C;
      const tmpRow = r * tmpStride;
      for (let o = 0; o < window.width; o++) {
        const xmin = bounds[2 * o];
        const taps = bounds[2 * o + 1];
        const k = o * ksize;
        for (let c = 0; c < C; c++) {
          let s = one >> 1;
          let p = srcRow + xmin * C + c;
          for (let t = 0; t < taps; t++, p += C) s += src[p] * weights[k + t];
          tmp[tmpRow + o * C + c] = clip8(s);
        }
      }
    }
  } else {
    for (let r = 0; r < rows; r++) {
      const from = (region.y + rowFirst + r) * rowStride + (region.x + window.x) * C;
      tmp.set(src.subarray(from, from + tmpStride), r * tmpStride);
    }
  }
  if (!vert) return { data: tmp, width: window.width, height: window.height, channels: C };

  // Vertical pass.
  const out = new Uint8Array(window.height * tmpStride);
  const { bounds, weights, ksize } = vert;
  for (let o = 0; o < window.height; o++) {
    const ymin = bounds[2 * o] - rowFirst;
    const taps = bounds[2 * o + 1];
    const k = o * ksize;
    const outRow = o * tmpStride;
    for (let i = 0; i < tmpStride; i++) {
      let s = one >> 1;
      let p = ymin * tmpStride + i;
      for (let t = 0; t < taps; t++, p += tmpStride) s += tmp[p] * weights[k + t];
      out[outRow + i] = clip8(s);
    }
  }
  return { data: out, width: window.width, height: window.height, channels: C };
}
