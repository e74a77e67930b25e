// A small synthetic image-folder dataset for `resnet demo`: coloured shapes (circle, cross, square, stripes,
// triangle) at random position, size, rotation and colour on noisy backgrounds, written as PNG and JPEG files.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Generator } from '../tensor/random.ts';

export const shapeClasses = ['circle', 'cross', 'square', 'stripes', 'triangle'] as const;
export type ShapeClass = (typeof shapeClasses)[number];

export interface ShapesOptions {
  classes?: readonly ShapeClass[];
  perClass: number;
  valPerClass: number;
  /** Side of the square images in pixels. */
  size: number;
  seed?: number;
}

/** Whether (u, v), in the shape's own frame scaled so that the shape spans about [-1, 1], is inside it. */
function inside(shape: ShapeClass, u: number, v: number): boolean {
  switch (shape) {
    case 'circle':
      return u * u + v * v <= 1;
    case 'square':
      return Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8;
    case 'cross':
      return (Math.abs(u) <= 0.28 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.28 && Math.abs(u) <= 1);
    case 'stripes':
      return Math.abs(u) <= 0.9 && Math.abs(v) <= 0.9 && Math.floor((u + 0.9) / 0.36) % 2 === 0;
    case 'triangle':
      // Vertices at (0, -1), (±0.87, 0.5): below the two slanted edges and above the base.
      return v <= 0.5 && v >= -1 + 1.73 * Math.abs(u);
  }
}

/** An HSV colour with the given value, as RGB 0..255. */
function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return 255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [f(5), f(3), f(1)];
}

/** One size×size RGB image of `shape`, 2×2 supersampled at the edges. */
export function renderShape(shape: ShapeClass, size: number, rng: Generator): Uint8Array {
  const radius = size * rng.uniform(0.22, 0.4);
  const cx = rng.uniform(radius, size - radius);
  const cy = rng.uniform(radius, size - radius);
  const angle = rng.uniform(-Math.PI, Math.PI);
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  const hue = rng.random();
  const fg = hsv(hue, rng.uniform(0.5, 1), rng.uniform(0.75, 1));
  const bg = hsv((hue + rng.uniform(0.25, 0.75)) % 1, rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.45));
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let cover = 0;
      for (const [dx, dy] of [
        [0.25, 0.25],
        [0.75, 0.25],
        [0.25, 0.75],
        [0.75, 0.75],
      ]) {
        const px = (x + dx - cx) / radius;
        const py = (y + dy - cy) / radius;
        if (inside(shape, cos * px + sin * py, -sin * px + cos * py)) cover += 0.25;
      }
      for (let c = 0; c < 3; c++) {
        const v = cover * fg[c] + (1 - cover) * bg[c] + 14 * rng.normal();
        out[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return out;
}

/**
 * Writes dir/train/<shape>/<i>.png|jpg and dir/val/<shape>/<i>.png|jpg (every third file a JPEG), the same files
 * for the same options. Returns the class names (sorted, so they are the class indices).
 */
export async function writeShapesDataset(dir: string, opts: ShapesOptions): Promise<string[]> {
  const { perClass, valPerClass, size, seed = 0 } = opts;
  const classes = [...(opts.classes ?? shapeClasses)].sort();
  if (classes.length < 2) throw new Error(`writeShapesDataset: need at least 2 classes, got [${classes}]`);
  for (const c of classes) {
    if (!shapeClasses.includes(c)) throw new Error(`writeShapesDataset: unknown shape '${c}' (${shapeClasses})`);
  }
  if (!(Number.isInteger(size) && size >= 8)) throw new Error(`writeShapesDataset: size must be ≥ 8, got ${size}`);
  const jobs: { file: string; pixels: Uint8Array; jpeg: boolean }[] = [];
  const rng = new Generator(seed);
  for (const [split, count] of [
    ['train', perClass],
    ['val', valPerClass],
  ] as const) {
    for (const shape of classes) {
      const folder = join(dir, split, shape);
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < count; i++) {
        const jpeg = i % 3 === 2;
        const file = join(folder, `${String(i).padStart(4, '0')}.${jpeg ? 'jpg' : 'png'}`);
        jobs.push({ file, pixels: renderShape(shape, size, rng), jpeg });
      }
    }
  }
  let next = 0;
  const writer = async () => {
    while (next < jobs.length) {
      const { file, pixels, jpeg } = jobs[next++];
      const img = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
      await (jpeg ? img.jpeg({ quality: 90 }) : img.png({ compressionLevel: 1 })).toFile(file);
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
  return classes;
}
