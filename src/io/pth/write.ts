// Writing state dicts as torch.save does (zip format, pickle protocol 2), using only the opcodes and globals that
// torch.load(weights_only=True) accepts, so PyTorch loads the files without running any code.
import type { AnyTensor } from '../../tensor/tensor.ts';
import { writeFileAtomic } from '../atomic.ts';
import type { TensorMap } from '../safetensors.ts';
import { hostIsLittleEndian } from './endian.ts';
import { PthError } from './error.ts';
import { writeZip } from './zipWrite.ts';

const ARCHIVE = 'archive';
// torch's current serialization format version (caffe2/serialize/inline_container.h: kProducedFileFormatVersion).
const FORMAT_VERSION = '3\n';

/** Emits the pickle opcodes we need; each method appends one value to the stack of the future unpickler. */
class Pickler {
  readonly #chunks: number[] = [];
  readonly #encoder = new TextEncoder();

  op(code: number): this {
    this.#chunks.push(code);
    return this;
  }

  uint32(v: number): this {
    this.#chunks.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }

  global(module: string, name: string): this {
    this.op(0x63); // GLOBAL
    for (const b of this.#encoder.encode(`${module}\n${name}\n`)) this.#chunks.push(b);
    return this;
  }

  string(s: string): this {
    const bytes = this.#encoder.encode(s);
    this.op(0x58).uint32(bytes.length); // BINUNICODE
    for (const b of bytes) this.#chunks.push(b);
    return this;
  }

  int(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`Pickler: ${v} is not a non-negative integer`);
    if (v < 0x100) return this.op(0x4b).op(v); // BININT1
    if (v < 0x10000)
      return this.op(0x4d)
        .op(v & 0xff)
        .op(v >> 8); // BININT2
    if (v < 0x80000000) return this.op(0x4a).uint32(v); // BININT
    // LONG1 with 8 bytes: two's complement, and v < 2^53 keeps the sign bit clear.
    this.op(0x8a).op(8);
    for (let i = 0; i < 8; i++) this.op(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
    return this;
  }

  tuple(values: readonly number[]): this {
    this.op(0x28); // MARK
    for (const v of values) this.int(v);
    return this.op(0x74); // TUPLE
  }

  emptyOrderedDict(): this {
    return this.global('collections', 'OrderedDict').op(0x29).op(0x52); // EMPTY_TUPLE, REDUCE
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}

function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

function storageBytes(t: AnyTensor): Uint8Array {
  if (hostIsLittleEndian) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(t.data.length * (t.dtype === 'int64' ? 8 : 4));
  const view = new DataView(out.buffer);
  if (t.dtype === 'int64') for (let i = 0; i < t.data.length; i++) view.setBigInt64(8 * i, t.data[i], true);
  else for (let i = 0; i < t.data.length; i++) view.setFloat32(4 * i, t.data[i], true);
  return out;
}

/**
 * The bytes of a .pth file holding `tensors` as an OrderedDict: float32 tensors as FloatStorage, int64 as
 * LongStorage, one storage per tensor. Tensors that are the same object share one storage, as in torch.
 */
export function serializePth(tensors: TensorMap | Record<string, AnyTensor>): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const p = new Pickler().op(0x80).op(2); // PROTO 2
  p.emptyOrderedDict().op(0x28); // MARK for SETITEMS
  const files: [string, Uint8Array][] = [];
  const keys = new Map<AnyTensor, string>();
  for (const [name, t] of list) {
    let key = keys.get(t);
    if (key === undefined) {
      key = String(keys.size);
      keys.set(t, key);
      files.push([`${ARCHIVE}/data/${key}`, storageBytes(t)]);
    }
    p.string(name).global('torch._utils', '_rebuild_tensor_v2').op(0x28); // MARK for the arguments
    p.op(0x28)
      .string('storage')
      .global('torch', t.dtype === 'int64' ? 'LongStorage' : 'FloatStorage');
    p.string(key).string('cpu').int(t.data.length).op(0x74).op(0x51); // TUPLE, BINPERSID
    p.int(0).tuple(t.shape).tuple(rowMajorStrides(t.shape));
    p.op(0x89).emptyOrderedDict().op(0x74).op(0x52); // NEWFALSE (requires_grad), hooks, TUPLE, REDUCE
  }
  p.op(0x75).op(0x2e); // SETITEMS, STOP
  files.unshift([`${ARCHIVE}/data.pkl`, p.bytes()]);
  files.push([`${ARCHIVE}/version`, new TextEncoder().encode(FORMAT_VERSION)]);
  return writeZip(files, 'serializePth');
}

/** Writes atomically: a crash never leaves a partial file under its name. */
export function writePth(file: string, tensors: TensorMap | Record<string, AnyTensor>): void {
  const bytes = serializePth(tensors);
  try {
    writeFileAtomic(file, bytes);
  } catch (error) {
    throw new PthError(`${file}: cannot write (${(error as Error).message})`, { cause: error });
  }
}
