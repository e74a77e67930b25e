// Reading PyTorch .pth/.pt files (torch.save's zip format, 1.6 and later) into a state dict: finds the state dict
// in common checkpoint layouts and rebuilds each tensor from its storage, offset and strides, checked first.
import * as fs from 'node:fs';
import { IntTensor, shapeString, Tensor } from '../../tensor/tensor.ts';
import type { TensorMap } from '../safetensors.ts';
import { halfToFloat } from '../safetensors.ts';
import { hostIsLittleEndian } from './endian.ts';
import { type Fail, failer, PthError } from './error.ts';
import {
  describe,
  type PyDict,
  PyTuple,
  type StorageDtype,
  type StorageRef,
  type TensorRef,
  unpickle,
} from './unpickle.ts';
import { readZip, type ZipArchive } from './zip.ts';

export interface PthContents {
  tensors: TensorMap;
  /** Things the reader changed or chose, for the user (e.g. a stripped "module." prefix). */
  notes: string[];
}

const BYTES: Record<StorageDtype, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4 };
const CHECKPOINT_KEYS = ['state_dict', 'model'];
const DATA_PARALLEL_PREFIX = 'module.';
// Stride-0 (expanded) tensors can legitimately hold more elements than their storage, but never many more in a state
// dict; this bound keeps a hostile file from making us allocate far beyond its own size.
const MAX_EXPANSION = 8;
const MIN_BUDGET = 1 << 20;

function archivePrefix(zip: ZipArchive, fail: Fail): string {
  const pickles = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    fail(
      pickles.length === 0
        ? 'no <archive>/data.pkl entry: not a torch.save file (legacy pre-1.6 files are not read)'
        : `${pickles.length} data.pkl entries; expected one`,
    );
  }
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const stray = [...zip.entries.keys()].find((n) => !n.startsWith(prefix));
  if (stray !== undefined) fail(`zip entry ${JSON.stringify(stray)} lies outside the archive folder ${prefix}`);
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`));
    if (order !== 'little') fail(`byte order "${order}" is not supported; only little-endian files are read`);
  }
  return prefix;
}

function dims(value: unknown, what: string, fail: Fail): number[] {
  const items = value instanceof PyTuple ? value.items : null;
  if (!items || items.length > 64 || !items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail(
      `${what} ${describe(value)} ${items ? `(${items.map(String).join(', ')}) ` : ''}is not a tuple of non-negative integers`,
    );
  }
  return items as number[];
}

/** Loads storages lazily, once each, checking that every record holds exactly its declared elements. */
class Storages {
  readonly #views = new Map<string, DataView>();
  total = 0;

  constructor(
    private readonly zip: ZipArchive,
    private readonly prefix: string,
    private readonly fail: Fail,
  ) {
    for (const [name, e] of zip.entries) if (name.startsWith(`${prefix}data/`)) this.total += e.size;
  }

  /** The record's bytes, checked against this reference: two references to one record may disagree. */
  view(ref: StorageRef): DataView {
    let view = this.#views.get(ref.key);
    if (!view) {
      const name = `${this.prefix}data/${ref.key}`;
      if (!this.zip.entries.has(name)) this.fail(`storage ${ref.key} (zip entry ${name}) is missing`);
      const bytes = this.zip.read(name);
      view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.#views.set(ref.key, view);
    }
    const expected = ref.numel * BYTES[ref.dtype];
    if (view.byteLength !== expected) {
      this.fail(
        `storage ${ref.key} holds ${view.byteLength} bytes, but the pickle declares ${ref.numel} ${ref.dtype} (${expected} bytes)`,
      );
    }
    return view;
  }
}

const floatReaders: Record<Exclude<StorageDtype, 'int64' | 'int32'>, (v: DataView, i: number) => number> = {
  float32: (v, i) => v.getFloat32(4 * i, true),
  float64: (v, i) => v.getFloat64(8 * i, true),
  float16: (v, i) => halfToFloat(v.getUint16(2 * i, true)),
  // bf16 is the upper half of a float32.
  bfloat16: (v, i) => {
    scratch.setUint32(0, v.getUint16(2 * i, true) << 16, true);
    return scratch.getFloat32(0, true);
  },
};
const scratch = new DataView(new ArrayBuffer(4));

/** Storage element indices of a (size, stride, offset) view, in row-major order of the view. */
function forEachIndex(size: number[], stride: number[], offset: number, fn: (k: number, index: number) => void): void {
  const n = size.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const counter = new Array<number>(size.length).fill(0);
  let index = offset;
  for (let k = 0; k < n; k++) {
    fn(k, index);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++counter[d] < size[d]) {
        index += stride[d];
        break;
      }
      index -= stride[d] * (size[d] - 1);
      counter[d] = 0;
    }
  }
}

function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

class TensorBuilder {
  budget: number;
  readonly #built = new Map<TensorRef, Tensor | IntTensor>();

  constructor(
    private readonly storages: Storages,
    private readonly fail: Fail,
  ) {
    this.budget = Math.max(MIN_BUDGET, MAX_EXPANSION * storages.total);
  }

  build(ref: TensorRef, name: string): Tensor | IntTensor {
    const cached = this.#built.get(ref);
    if (cached) return cached;
    const where = `tensor ${JSON.stringify(name)}`;
    const fail: Fail = this.fail;
    const size = dims(ref.size, `${where}: size`, fail);
    const stride = dims(ref.stride, `${where}: stride`, fail);
    const offset = ref.offset;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      fail(`${where}: storage offset ${String(offset)} is not a non-negative integer`);
    }
    if (stride.length !== size.length) fail(`${where}: ${size.length} sizes but ${stride.length} strides`);
    // Checked step by step so that nothing overflows before it is compared.
    let numel = 1;
    let last = offset;
    for (let d = 0; d < size.length; d++) {
      numel *= size[d];
      if (size[d] > 0) last += stride[d] * (size[d] - 1);
      if (numel > Number.MAX_SAFE_INTEGER || last > Number.MAX_SAFE_INTEGER) {
        fail(`${where}: size ${shapeString(size)} with stride ${shapeString(stride)} overflows`);
      }
    }
    const storage = ref.storage;
    if (numel > 0 && last >= storage.numel) {
      fail(
        `${where}: size ${shapeString(size)}, stride ${shapeString(stride)} at offset ${offset} reaches element ${last}, but storage ${storage.key} holds ${storage.numel}`,
      );
    }
    if (numel > this.budget) fail(`${where}: ${numel} elements exceed what a file of this size can hold`);
    this.budget -= numel;
    const view = this.storages.view(storage);
    let tensor: Tensor | IntTensor;
    if (
      isContiguous(size, stride) &&
      hostIsLittleEndian &&
      (storage.dtype === 'float32' || storage.dtype === 'int64')
    ) {
      // slice() copies into a fresh, aligned buffer, which the typed array then owns.
      const bytes = new Uint8Array(
        view.buffer,
        view.byteOffset + offset * BYTES[storage.dtype],
        numel * BYTES[storage.dtype],
      );
      const buffer = bytes.slice().buffer;
      tensor =
        storage.dtype === 'int64'
          ? new IntTensor(new BigInt64Array(buffer), size)
          : new Tensor(new Float32Array(buffer), size);
    } else if (storage.dtype === 'int64' || storage.dtype === 'int32') {
      const out = new BigInt64Array(numel);
      const wide = storage.dtype === 'int64';
      forEachIndex(size, stride, offset, (k, i) => {
        out[k] = wide ? view.getBigInt64(8 * i, true) : BigInt(view.getInt32(4 * i, true));
      });
      tensor = new IntTensor(out, size);
    } else {
      const out = new Float32Array(numel);
      const read = floatReaders[storage.dtype];
      forEachIndex(size, stride, offset, (k, i) => {
        out[k] = read(view, i);
      });
      tensor = new Tensor(out, size);
    }
    this.#built.set(ref, tensor);
    return tensor;
  }
}

function isTensorRef(value: unknown): value is TensorRef {
  return typeof value === 'object' && value !== null && (value as TensorRef).kind === 'tensor';
}

/** The dict of tensors inside the pickled object: itself, or under "state_dict" or "model". */
function findStateDict(root: unknown, notes: string[], fail: Fail): PyDict {
  if (!(root instanceof Map)) return fail(`holds a ${describe(root)}, not a state dict`);
  const values = [...root.values()];
  if (root.size > 0 && values.every(isTensorRef)) return root;
  for (const key of CHECKPOINT_KEYS) {
    const inner = root.get(key);
    if (inner instanceof Map && inner.size > 0 && [...inner.values()].every(isTensorRef)) {
      notes.push(`read the state dict stored under "${key}" of the checkpoint`);
      return inner;
    }
  }
  const bad = [...root.entries()].find(([, v]) => !isTensorRef(v));
  return fail(
    bad && root.size > 0
      ? `holds no state dict: entry ${JSON.stringify(String(bad[0]))} is a ${describe(bad[1])}, not a tensor, and no "state_dict" or "model" entry holds only tensors`
      : 'holds an empty dict, not a state dict',
  );
}

/** Parses the bytes of a .pth file. `label` names it in errors. */
export function parsePth(bytes: Uint8Array, label: string): PthContents {
  const fail: Fail = failer(label);
  const zip = readZip(bytes, label);
  const prefix = archivePrefix(zip, fail);
  const root = unpickle(zip.read(`${prefix}data.pkl`), label);
  const notes: string[] = [];
  const dict = findStateDict(root, notes, fail);
  const keys = [...dict.keys()].map(String);
  const strip = keys.every((k) => k.startsWith(DATA_PARALLEL_PREFIX));
  if (strip) notes.push(`stripped the "${DATA_PARALLEL_PREFIX}" prefix (DataParallel) from all ${keys.length} keys`);
  const builder = new TensorBuilder(new Storages(zip, prefix, fail), fail);
  const tensors: TensorMap = new Map();
  for (const [key, ref] of dict) {
    if (typeof key !== 'string') fail(`state dict key ${String(key)} is not a string`);
    const name = strip ? key.slice(DATA_PARALLEL_PREFIX.length) : key;
    if (tensors.has(name)) fail(`key ${JSON.stringify(name)} appears twice after stripping the prefix`);
    tensors.set(name, builder.build(ref as TensorRef, key));
  }
  return { tensors, notes: notes.map((n) => `${label}: ${n}`) };
}

export function readPthWithNotes(file: string): PthContents {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new PthError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  return parsePth(bytes, file);
}

export function readPth(file: string): TensorMap {
  return readPthWithNotes(file).tensors;
}
