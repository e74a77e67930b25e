// Safetensors read/write: round trips, the byte layout, dtype decoding, and rejection of malformed files.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsWithMetadata,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
} from '../../src/io/safetensors.ts';
import { type AnyTensor, IntTensor, Tensor } from '../../src/tensor/tensor.ts';

const LABEL = 'bad.safetensors';

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A file from a header (raw bytes, JSON text or a value to stringify; unpadded) and data; headerLength overrides N. */
function fileBytes(header: Uint8Array | string | object, data: Uint8Array = new Uint8Array(), headerLength?: bigint) {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = header instanceof Uint8Array ? header : new TextEncoder().encode(text);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  return concat(length, json, data);
}

/** Little-endian bytes of `values` written with one DataView setter. */
function le(kind: 'Uint16' | 'Float32' | 'Float64' | 'Int32', values: number[]): Uint8Array {
  const size = { Uint16: 2, Float32: 4, Float64: 8, Int32: 4 }[kind];
  const view = new DataView(new ArrayBuffer(size * values.length));
  for (const [i, v] of values.entries()) view[`set${kind}`](i * size, v, true);
  return new Uint8Array(view.buffer);
}

function assertSame(actual: AnyTensor | undefined, expected: AnyTensor): void {
  assert.ok(actual instanceof expected.constructor, `expected ${expected.constructor.name}`);
  assert.deepEqual(actual.shape, expected.shape);
  assert.deepEqual(actual.data, expected.data);
}

test('round trip F32 [2,3] + I64 [] + F32 [0] keeps order, classes and metadata', () => {
  const tensors = new Map<string, AnyTensor>([
    ['conv.weight', Tensor.from([1, -2.5, 3e-8, 4, 5, 6], [2, 3])],
    ['bn.num_batches_tracked', IntTensor.from([42], [])],
    ['empty', Tensor.zeros([0])],
  ]);
  const { tensors: back, metadata } = parseSafetensors(serializeSafetensors(tensors, { epoch: '3' }), 'memory');
  assert.deepEqual([...back.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) assertSame(back.get(name), t);
  assert.deepEqual(metadata, { epoch: '3' });
});

test('round trip F32 [6] keeps -0, NaN, ±Inf and a subnormal bit-exactly; I64 [3] keeps the extremes', () => {
  const floats = new Float32Array([-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45, 1 / 3]);
  const ints = new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n]);
  const back = parseSafetensors(serializeSafetensors({ f: new Tensor(floats, [6]), i: new IntTensor(ints, [3]) }), 'm');
  assert.deepEqual(new Uint32Array((back.tensors.get('f') as Tensor).data.buffer), new Uint32Array(floats.buffer));
  assert.deepEqual(back.tensors.get('i')?.data, ints);
});

test('header is space-padded to a multiple of 8 and data starts at 8+N, for names of length 1..8', () => {
  for (let length = 1; length <= 8; length++) {
    const bytes = serializeSafetensors({ ['w'.repeat(length)]: Tensor.from([1.5], [1]) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.equal(text, `${text.trimEnd()}${' '.repeat(n - text.trimEnd().length)}`);
    assert.ok(n - text.trimEnd().length < 8);
    assert.ok(!text.includes('__metadata__'));
    assert.equal(bytes.length, 8 + n + 4);
    assert.deepEqual(bytes.subarray(8 + n), le('Float32', [1.5]));
  }
});

// The exact bytes of safetensors.torch.save_file({'fc.bias': torch.tensor([0.5, -2.]), 'bn1.num_batches_tracked':
// torch.tensor(7)}, f, metadata={'format': 'pt'}). The reference writes __metadata__ first, then tensors by descending
// dtype alignment (I64 before F32) and name, as compact JSON padded to 168 bytes; the data bytes were checked with
// torch (`.numpy().tobytes().hex()`). The Python package is not installed here, so it is written out by hand.
const TORCH_HEADER =
  '{"__metadata__":{"format":"pt"},' +
  '"bn1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
  '"fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}  ';
const TORCH_FILE = concat(
  hex('a800000000000000'),
  new TextEncoder().encode(TORCH_HEADER),
  hex('0700000000000000' + '0000003f' + '000000c0'),
);

test('interop: reads what safetensors.torch.save_file writes for I64 [] + F32 [2]', () => {
  const { tensors, metadata } = parseSafetensors(TORCH_FILE, 'torch.safetensors');
  assertSame(tensors.get('bn1.num_batches_tracked'), IntTensor.from([7], []));
  assertSame(tensors.get('fc.bias'), Tensor.from([0.5, -2], [2]));
  assert.deepEqual(metadata, { format: 'pt' });
});

test('interop: writes the same bytes as safetensors.torch.save_file for I64 [] + F32 [2] in its order', () => {
  const tensors = { 'bn1.num_batches_tracked': IntTensor.from([7], []), 'fc.bias': Tensor.from([0.5, -2], [2]) };
  assert.deepEqual(serializeSafetensors(tensors, { format: 'pt' }), TORCH_FILE);
});

function readOne(dtype: string, shape: number[], data: Uint8Array): AnyTensor {
  const header = { x: { dtype, shape, data_offsets: [0, data.length] } };
  const tensor = parseSafetensors(fileBytes(header, data), 'hand.safetensors').tensors.get('x');
  assert.ok(tensor);
  return tensor;
}

test('F16 [2,5] decodes normals, subnormal, smallest normal, -0, ±Inf and NaN', () => {
  const bits = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00];
  const expected = [1, -2, 0.333251953125, 65504, 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, Number.NaN];
  assertSame(readOne('F16', [2, 5], le('Uint16', bits)), new Tensor(new Float32Array(expected), [2, 5]));
});

test('BF16 [8] decodes normals, the largest finite, a subnormal, Inf, NaN and -0', () => {
  const bits = [0x3f80, 0xc040, 0x3eab, 0x7f7f, 0x0001, 0x7f80, 0x7fc0, 0x8000];
  const expected = [1, -3, 0.333984375, 3.3895313892515355e38, 9.183549615799121e-41, Infinity, Number.NaN, -0];
  assertSame(readOne('BF16', [8], le('Uint16', bits)), new Tensor(new Float32Array(expected), [8]));
});

test('F64 [3] rounds to float32, overflowing to Inf', () => {
  const expected = new Float32Array([0.10000000149011612, Infinity, -2.5]);
  assertSame(readOne('F64', [3], le('Float64', [0.1, 1e300, -2.5])), new Tensor(expected, [3]));
});

test('I32 [1,2] reads as IntTensor', () => {
  assertSame(readOne('I32', [1, 2], le('Int32', [-1, 2147483647])), IntTensor.from([-1, 2147483647], [1, 2]));
});

test('F16 [1] + F32 [2] reads the F32 from an unaligned offset', () => {
  const header = {
    h: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
    f: { dtype: 'F32', shape: [2], data_offsets: [2, 10] },
  };
  const data = concat(le('Uint16', [0x3c00]), le('Float32', [0.25, -7]));
  for (const pad of ['', ' ', '   ']) {
    const tensors = parseSafetensors(fileBytes(JSON.stringify(header) + pad, data), 'hand').tensors;
    assertSame(tensors.get('f'), Tensor.from([0.25, -7], [2]));
  }
});

/** Asserts that `fn` throws a SafetensorsError whose message starts with `label` and matches `pattern`. */
function throwsNaming(fn: () => unknown, label: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SafetensorsError);
    assert.ok(error.message.startsWith(`${label}: `), error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

const f32 = (shape: unknown, offsets: unknown) => ({ dtype: 'F32', shape, data_offsets: offsets });
const bytes4 = new Uint8Array(4);
const malformed: [string, Uint8Array, RegExp][] = [
  ['a 7-byte file', new Uint8Array(7), /7 bytes, too short/],
  ['header length 100_000_001', fileBytes('{}', bytes4, 100_000_001n), /header length 100000001 exceeds 100000000/],
  ['header length 2^64-1', fileBytes('{}', bytes4, 2n ** 64n - 1n), /exceeds 100000000/],
  ['header length past the end of the file', fileBytes('{}', bytes4, 64n), /header length 64 exceeds the 6 bytes/],
  ['a header that is not JSON', fileBytes('{"x":', bytes4), /not valid UTF-8 JSON/],
  ['a header that is not UTF-8', fileBytes(hex('7b22ff223a317d'), bytes4), /not valid UTF-8 JSON \(.*encoded data/],
  ['a header that is a JSON array', fileBytes('[]'), /not a JSON object/],
  ['an entry that is not an object', fileBytes({ x: 3 }), /tensor "x": entry is not an object/],
  ['dtype U8 [4]', fileBytes({ x: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, bytes4), /"x".*dtype "U8"/],
  ['shape [-1]', fileBytes({ x: f32([-1], [0, 4]) }, bytes4), /tensor "x": shape \[-1\]/],
  ['shape [1.5]', fileBytes({ x: f32([1.5], [0, 4]) }, bytes4), /tensor "x": shape \[1.5\]/],
  ['data_offsets [-4, 0]', fileBytes({ x: f32([0], [-4, 0]) }, bytes4), /tensor "x": data_offsets \[-4,0\]/],
  ['data_offsets [4, 0]', fileBytes({ x: f32([1], [4, 0]) }, bytes4), /tensor "x": data_offsets \[4,0\]/],
  ['F32 [1] at [4, 8] in 4 bytes', fileBytes({ x: f32([1], [4, 8]) }, bytes4), /"x".*\[4, 8\] lie outside/],
  ['F32 [1e6, 1e6] in 4 bytes', fileBytes({ x: f32([1e6, 1e6], [0, 4]) }, bytes4), /"x".*needs 4000000000000 bytes/],
  ['F32 [2^26, 2^26, 2^26]', fileBytes({ x: f32([2 ** 26, 2 ** 26, 2 ** 26], [0, 4]) }, bytes4), /"x".*too large/],
  ['F32 [1] overlapping F32 [1]', fileBytes({ a: f32([1], [0, 4]), b: f32([1], [0, 4]) }, bytes4), /"b".*overlap.*"a"/],
  ['a 4-byte gap before F32 [1]', fileBytes({ x: f32([1], [4, 8]) }, new Uint8Array(8)), /"x": 4 unused bytes/],
  ['2 trailing bytes after F32 [1]', fileBytes({ x: f32([1], [0, 4]) }, new Uint8Array(6)), /2 trailing bytes/],
  ['a non-string metadata value', fileBytes({ __metadata__: { epoch: 3 } }), /__metadata__ value of "epoch"/],
];
for (const [name, bytes, pattern] of malformed) {
  test(`rejects ${name}`, () => throwsNaming(() => parseSafetensors(bytes, LABEL), LABEL, pattern));
}

test('rejects F32 [2,3] in data_offsets [0, 12] with a message naming file, tensor, offsets and shape', () => {
  const bytes = fileBytes({ 'fc.weight': f32([2, 3], [0, 12]), pad: f32([3], [12, 24]) }, new Uint8Array(24));
  const message = 'bad.safetensors: tensor "fc.weight": data_offsets [0, 12] hold 12 bytes but F32 [2, 3] needs 24';
  assert.throws(() => parseSafetensors(bytes, LABEL), new SafetensorsError(message));
});

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
}

test('writeSafetensors/readSafetensors round trip F32 [1,2,2,1] + I64 [3], replacing the file, no temp files left', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { old: Tensor.zeros([5]) });
    const tensors = new Map<string, AnyTensor>([
      ['w', Tensor.from([1, 2, 3, 4], [1, 2, 2, 1])],
      ['labels', IntTensor.from([0, 999, -5], [3])],
    ]);
    writeSafetensors(file, tensors);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
    const back = readSafetensors(file);
    assert.deepEqual([...back.keys()], ['w', 'labels']);
    for (const [name, t] of tensors) assertSame(back.get(name), t);
    assert.deepEqual(readSafetensorsWithMetadata(file).metadata, {});
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('writeSafetensors leaves the existing file untouched when the tensors cannot be written', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { w: Tensor.from([1], [1]) });
    const before = fs.readFileSync(file);
    const badMetadata = { epoch: 3 } as unknown as Record<string, string>;
    throwsNaming(() => writeSafetensors(file, { w: Tensor.from([2], [1]) }, badMetadata), file, /"epoch"/);
    throwsNaming(() => writeSafetensors(file, { __metadata__: Tensor.from([2], [1]) }), file, /is reserved/);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readSafetensors of a missing file names the path', () => {
  const file = path.join(os.tmpdir(), 'safetensors-test-missing', 'none.safetensors');
  throwsNaming(() => readSafetensors(file), file, /cannot read .*ENOENT/);
});
