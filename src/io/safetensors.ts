// Safetensors read/write (https://github.com/huggingface/safetensors): the weight format shared with PyTorch.
// Reading validates the whole header before allocating any tensor, since files come from untrusted sources.
import * as fs from 'node:fs';
import { type AnyTensor, IntTensor, numel, shapeString, Tensor } from '../tensor/tensor.ts';
import { writeFileAtomic } from './atomic.ts';

export type TensorMap = Map<string, AnyTensor>;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// The reference implementation's limit; anything larger is a corrupt or hostile file, not a real header.
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const DTYPE_BYTES = { F16: 2, BF16: 2, F32: 4, F64: 8, I32: 4, I64: 8 } as const;
type Dtype = keyof typeof DTYPE_BYTES;

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseEntry(name: string, value: unknown, dataBytes: number, fail: (msg: string) => never): Entry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isRecord(value)) fail(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    fail(`${where}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  const known = dtype as Dtype;
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize) || offsets[0] > offsets[1]) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of integers, 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  // Checked step by step so that a huge shape is rejected before any product loses precision.
  let bytes = DTYPE_BYTES[known];
  for (const d of shape) {
    if (d !== 0 && bytes > Number.MAX_SAFE_INTEGER / d) fail(`${where}: ${known} ${shapeString(shape)} is too large`);
    bytes *= d;
  }
  const needs = `${known} ${shapeString(shape)} needs ${bytes}`;
  if (bytes > dataBytes) fail(`${where}: ${needs} bytes but the data buffer holds ${dataBytes}`);
  if (end > dataBytes) fail(`${where}: data_offsets [${begin}, ${end}] lie outside the ${dataBytes}-byte data buffer`);
  if (end - begin !== bytes) fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${needs}`);
  return { name, dtype: known, shape, begin, end };
}

function parseMetadata(value: unknown, fail: (msg: string) => never): Record<string, string> {
  if (!isRecord(value)) fail(`${METADATA_KEY} is not an object`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') fail(`${METADATA_KEY} value of ${JSON.stringify(key)} is not a string`);
  }
  return { ...(value as Record<string, string>) };
}

// The reference reader rejects overlaps, gaps and trailing bytes too: a file must be exactly its tensors.
function checkCoverage(entries: Entry[], dataBytes: number, fail: (msg: string) => never): void {
  let cursor = 0;
  let previous = '';
  for (const e of entries) {
    const name = JSON.stringify(e.name);
    if (e.begin < cursor) fail(`tensor ${name}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${previous}`);
    if (e.begin > cursor) fail(`tensor ${name}: ${e.begin - cursor} unused bytes before its data at ${e.begin}`);
    cursor = e.end;
    previous = name;
  }
  if (cursor !== dataBytes) fail(`${dataBytes - cursor} trailing bytes after the last tensor`);
}

// DataView reads are little-endian on any host and accept unaligned offsets.
function decode(view: DataView, e: Entry): AnyTensor {
  const n = numel(e.shape);
  const size = DTYPE_BYTES[e.dtype];
  if (e.dtype === 'I64' || e.dtype === 'I32') {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const at = e.begin + i * size;
      out[i] = e.dtype === 'I64' ? view.getBigInt64(at, true) : BigInt(view.getInt32(at, true));
    }
    return new IntTensor(out, e.shape);
  }
  const out = new Float32Array(n);
  if (e.dtype === 'BF16') {
    // bf16 is the upper half of a float32, so its bits shift straight into place.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(e.begin + 2 * i, true) << 16;
  } else if (e.dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(e.begin + 2 * i, true));
  } else if (e.dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(e.begin + 8 * i, true);
  } else {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(e.begin + 4 * i, true);
  }
  return new Tensor(out, e.shape);
}

/** IEEE 754 binary16 bits → number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Parses a whole safetensors file; tensors come back in the order of their data. `label` names it in errors. */
export function parseSafetensors(
  bytes: Uint8Array,
  label: string,
): { tensors: TensorMap; metadata: Record<string, string> } {
  // Annotated so that TypeScript narrows after each call.
  const fail: (msg: string) => never = (msg) => {
    throw new SafetensorsError(`${label}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the length field`);
  }
  const dataStart = 8 + Number(headerLength);
  const dataBytes = bytes.length - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    fail(`header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isRecord(header)) fail('header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, fail);
    else entries.push(parseEntry(name, value, dataBytes, fail));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(entries, dataBytes, fail);

  const dataView = new DataView(bytes.buffer, bytes.byteOffset + dataStart, dataBytes);
  const tensors: TensorMap = new Map();
  for (const e of entries) tensors.set(e.name, decode(dataView, e));
  return { tensors, metadata };
}

export function readSafetensorsWithMetadata(file: string): { tensors: TensorMap; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new SafetensorsError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  return parseSafetensors(bytes, file);
}

export function readSafetensors(file: string): TensorMap {
  return readSafetensorsWithMetadata(file).tensors;
}

function serialize(
  tensors: TensorMap | Record<string, AnyTensor>,
  metadata: Record<string, string> | undefined,
  label: string,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // Built by hand rather than from an object, which would move integer-like names ahead of the rest.
  const fields: string[] = [];
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new SafetensorsError(`${label}: ${METADATA_KEY} value of ${JSON.stringify(key)} is not a string`);
      }
    }
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === METADATA_KEY) throw new SafetensorsError(`${label}: ${METADATA_KEY} is reserved, not a tensor name`);
    const dtype: Dtype = t.dtype === 'int64' ? 'I64' : 'F32';
    const bytes = t.data.length * DTYPE_BYTES[dtype];
    const info = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Padding keeps the data buffer 8-byte aligned in the file, as the reference writer does.
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of list) {
    if (t.dtype === 'int64') {
      for (let i = 0; i < t.data.length; i++, at += 8) view.setBigInt64(at, t.data[i], true);
    } else {
      for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i], true);
    }
  }
  return out;
}

/** Tensors are stored in the given order, Tensor as F32 and IntTensor as I64. */
export function serializeSafetensors(
  tensors: TensorMap | Record<string, AnyTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  return serialize(tensors, metadata, 'serializeSafetensors');
}

/** Writes to a temporary file beside `file` and renames it, so a crash never leaves a partial file under its name. */
export function writeSafetensors(
  file: string,
  tensors: TensorMap | Record<string, AnyTensor>,
  metadata?: Record<string, string>,
): void {
  const bytes = serialize(tensors, metadata, file);
  try {
    writeFileAtomic(file, bytes);
  } catch (error) {
    throw new SafetensorsError(`${file}: cannot write (${(error as Error).message})`, { cause: error });
  }
}
