// Finds the images of an ImageFolder dataset (DIR/train/<class>/…, DIR/val/<class>/…) the way torchvision's
// ImageFolder does: classes are the sorted sub-folder names, files are walked recursively in sorted order.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Generator } from '../tensor/random.ts';

export interface Sample {
  path: string;
  label: number;
}

export interface ImageFolder {
  classes: string[];
  train: Sample[];
  val: Sample[];
  /** Where val came from: a val/ folder, or a stratified split of train. */
  valSource: 'folder' | 'split';
  /** Files torchvision would read but sharp cannot (.bmp, .ppm, .pgm): left out, for the caller to mention. */
  unsupported: string[];
}

export interface ScanOptions {
  /** Fraction of each class held out for validation when there is no val/ folder (default 0.1). */
  valSplit?: number;
  seed?: number;
}

/** Extensions sharp decodes: torchvision's IMG_EXTENSIONS less .bmp/.ppm/.pgm, plus .gif. Matched case-insensitively. */
export const imageExtensions: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff'];
const unsupportedExtensions = ['.bmp', '.ppm', '.pgm'];

export function isImageFile(path: string): boolean {
  return imageExtensions.includes(extname(path).toLowerCase());
}

/** Python's str ordering (by code point), which differs from JS's UTF-16 order above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return (ca.done ? 0 : 1) - (cb.done ? 0 : 1);
    const d = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory(); // follows symlinks, like os.walk(followlinks=True)
  } catch {
    return false;
  }
}

/** Sub-folder names, sorted; hidden ones (.git, .ipynb_checkpoints) are skipped, unlike torchvision. */
function subfolders(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && isDirectory(join(dir, name)))
    .sort(compareCodePoints);
}

/** Files under dir, recursively, in torchvision's order (sorted folders, then sorted names in each). */
function walkFiles(dir: string, out: string[]): void {
  const names = readdirSync(dir).sort(compareCodePoints);
  const dirs: string[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (isDirectory(path)) dirs.push(path);
    else out.push(path);
  }
  for (const d of dirs) walkFiles(d, out);
}

function layoutHint(root: string): string {
  return `expected ${join(root, 'train', '<class>', '*.jpg')} (and optionally ${join(root, 'val', '<class>', '*.jpg')}), or ${join(root, '<class>', '*.jpg')}`;
}

function scanSplit(
  dir: string,
  classes: string[],
  unsupported: string[],
  root: string,
): { samples: Sample[]; empty: string[] } {
  const samples: Sample[] = [];
  const empty: string[] = [];
  for (const name of subfolders(dir)) {
    const label = classes.indexOf(name);
    if (label < 0) {
      throw new Error(
        `${join(dir, name)} is a class that ${join(root, 'train')} does not have: classes are [${classes}]`,
      );
    }
    const files: string[] = [];
    walkFiles(join(dir, name), files);
    let count = 0;
    for (const path of files) {
      if (isImageFile(path)) {
        samples.push({ path, label });
        count++;
      } else if (unsupportedExtensions.includes(extname(path).toLowerCase())) unsupported.push(path);
    }
    if (count === 0) empty.push(join(dir, name));
  }
  return { samples, empty };
}

/**
 * Scans DIR/train/<class>/… and DIR/val/<class>/…. Without val/, holds out a seeded, stratified `valSplit` of
 * each class. A DIR whose sub-folders are the classes themselves (no train/) is read as train. Class indices
 * follow the sorted train class names; a val/ class folder that train lacks is an error.
 */
export function scanImageFolder(root: string, opts: ScanOptions = {}): ImageFolder {
  const { valSplit = 0.1, seed = 0 } = opts;
  if (!(valSplit >= 0 && valSplit < 1)) throw new Error(`valSplit must be in [0, 1), got ${valSplit}`);
  if (!existsSync(root)) throw new Error(`data folder ${root} does not exist: ${layoutHint(root)}`);
  if (!isDirectory(root)) throw new Error(`data folder ${root} is not a folder: ${layoutHint(root)}`);
  const hasTrain = isDirectory(join(root, 'train'));
  if (!hasTrain && isDirectory(join(root, 'val'))) {
    throw new Error(`${root} has a val/ folder but no train/ folder: ${layoutHint(root)}`);
  }
  const trainDir = hasTrain ? join(root, 'train') : root;
  const valDir = trainDir !== root && isDirectory(join(root, 'val')) ? join(root, 'val') : null;
  const classes = subfolders(trainDir);
  if (classes.length === 0) throw new Error(`no class folders in ${trainDir}: ${layoutHint(root)}`);
  const unsupported: string[] = [];
  const train = scanSplit(trainDir, classes, unsupported, root);
  if (train.empty.length > 0) {
    const accepted = imageExtensions.join(', ');
    const unsupportedNote =
      unsupported.length > 0 ? ` (${unsupported.length} .bmp/.ppm/.pgm files are unsupported)` : '';
    throw new Error(
      `no images in class folder${train.empty.length > 1 ? 's' : ''} ${train.empty.join(', ')}${unsupportedNote}: ` +
        `${layoutHint(root)}, with extensions ${accepted}`,
    );
  }
  if (valDir) {
    const val = scanSplit(valDir, classes, unsupported, root);
    return { classes, train: train.samples, val: val.samples, valSource: 'folder', unsupported };
  }
  const split = stratifiedSplit(train.samples, classes.length, valSplit, seed);
  return { classes, ...split, valSource: 'split', unsupported };
}

/**
 * Holds out round(n·fraction) of each class's n samples, at least one when fraction > 0 and n ≥ 2, never all.
 * Which ones depends only on the seed and the scan; both lists keep the scan order.
 */
export function stratifiedSplit(
  samples: Sample[],
  numClasses: number,
  fraction: number,
  seed: number,
): { train: Sample[]; val: Sample[] } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  samples.forEach((s, i) => {
    byClass[s.label].push(i);
  });
  const rng = new Generator(seed);
  const isVal = new Uint8Array(samples.length);
  for (const indices of byClass) {
    const n = indices.length;
    let k = Math.round(n * fraction);
    if (fraction > 0 && n >= 2) k = Math.max(k, 1);
    k = Math.min(k, n - 1);
    for (const i of rng.shuffle([...indices]).slice(0, Math.max(k, 0))) isVal[i] = 1;
  }
  return { train: samples.filter((_, i) => !isVal[i]), val: samples.filter((_, i) => isVal[i]) };
}

/** Image files among `paths` (files as given, folders walked recursively in sorted order), for predict. */
export function findImages(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`${p} does not exist`);
    if (!isDirectory(p)) {
      out.push(p);
      continue;
    }
    const files: string[] = [];
    walkFiles(p, files);
    const images = files.filter(isImageFile);
    if (images.length === 0) throw new Error(`no images in ${p} (extensions ${imageExtensions.join(', ')})`);
    out.push(...images);
  }
  return out;
}
