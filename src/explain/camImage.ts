// Grad-CAM maps as pictures: bilinear upsampling to the image size, a jet colormap, blending over the image,
// and PNG encoding with sharp.
import sharp from 'sharp';
import type { DecodedImage } from '../data/image.ts';

/** A class-activation map: h×w values in [0, 1], row-major (what gradCam returns). */
export interface CamMap {
  cam: Float32Array;
  h: number;
  w: number;
}

/**
 * Resizes the map to width×height with bilinear interpolation on pixel centres (align_corners=False, as
 * torch.nn.functional.interpolate and cv2.resize do), so each cell of the map covers its share of the image.
 */
export function upsampleCam({ cam, h, w }: CamMap, width: number, height: number): Float32Array {
  if (cam.length !== h * w) throw new Error(`upsampleCam: map has ${cam.length} values, expected ${h}×${w}`);
  const out = new Float32Array(width * height);
  const sy = h / height;
  const sx = w / width;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      const top = cam[y0 * w + x0] * (1 - dx) + cam[y0 * w + x1] * dx;
      const bottom = cam[y1 * w + x0] * (1 - dx) + cam[y1 * w + x1] * dx;
      out[y * width + x] = top * (1 - dy) + bottom * dy;
    }
  }
  return out;
}

/** The jet colormap (dark blue → cyan → yellow → dark red) at t in [0, 1], as 8-bit RGB. */
export function jet(t: number): [number, number, number] {
  const v = Math.min(Math.max(t, 0), 1) * 4;
  const channel = (centre: number) => Math.round(255 * Math.min(Math.max(1.5 - Math.abs(v - centre), 0), 1));
  return [channel(3), channel(2), channel(1)];
}

/** The map upsampled to width×height and coloured with jet: HWC RGB. */
export function heatmapRgb(map: CamMap, width: number, height: number): Uint8Array {
  const values = upsampleCam(map, width, height);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < values.length; i++) out.set(jet(values[i]), 3 * i);
  return out;
}

/** The heat map blended over the image: (1 − opacity)·image + opacity·heat, HWC RGB at the image's size. */
export function overlayRgb(map: CamMap, image: DecodedImage, opacity: number): Uint8Array {
  if (!(opacity >= 0 && opacity <= 1)) throw new Error(`overlay: opacity must be in [0, 1], got ${opacity}`);
  const { width, height, channels, data } = image;
  const heat = heatmapRgb(map, width, height);
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const base = data[p * channels + (channels === 3 ? c : 0)];
      out[3 * p + c] = Math.round((1 - opacity) * base + opacity * heat[3 * p + c]);
    }
  }
  return out;
}

/** Encodes HWC pixels as PNG. */
export function rgbToPng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 3): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
}

/** The Grad-CAM overlay on the image as a PNG at the image's size. */
export function camToPng(map: CamMap, image: DecodedImage, opacity = 0.5): Promise<Buffer> {
  return rgbToPng(overlayRgb(map, image, opacity), image.width, image.height);
}

/** The coloured heat map alone as a PNG of width×height (for clients that blend it themselves). */
export function heatmapToPng(map: CamMap, width: number, height: number): Promise<Buffer> {
  return rgbToPng(heatmapRgb(map, width, height), width, height);
}
