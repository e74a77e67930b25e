// .pth reading and writing: torch.save fixtures (layouts, dtypes, checkpoints, a resnet20 against torch's logits),
// the writer's layout and determinism, every builder's round trip, and typed refusals of hostile or broken files.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { PthError } from '../../src/io/pth/error.ts';
import { parsePth, readPthWithNotes } from '../../src/io/pth/read.ts';
import { serializePth } from '../../src/io/pth/write.ts';
import { readZip } from '../../src/io/pth/zip.ts';
import { writeZip } from '../../src/io/pth/zipWrite.ts';
import { readSafetensors, type TensorMap } from '../../src/io/safetensors.ts';
import { architectures, buildModel } from '../../src/models/registry.ts';
import { type AnyTensor, IntTensor, Tensor } from '../../src/tensor/tensor.ts';
import { assertClose, fixturesDir } from '../helpers.ts';

const dir = join(fixturesDir, 'pth');
const MARKER = 'pwned-by-pth-fixture';

/** Same names (in the same order unless `anyOrder`), dtypes, shapes and bytes. */
function assertSameTensors(actual: TensorMap, expected: TensorMap, { anyOrder = false } = {}): void {
  const names = (m: TensorMap) => (anyOrder ? [...m.keys()].sort() : [...m.keys()]);
  assert.deepEqual(names(actual), names(expected));
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.equal(a.dtype, e.dtype, name);
    assert.deepEqual(a.shape, e.shape, name);
    const bytes = (t: AnyTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    assert.ok(bytes(a).equals(bytes(e)), `${name}: values differ`);
  }
}

describe('reading torch.save files', () => {
  const expected = readSafetensors(join(dir, 'tensors_expected.safetensors'));

  for (const file of ['tensors.pth', 'tensors_deflated.pth']) {
    test(`${file}: transposed/sliced/expanded views, [] and [0,3], f16/bf16/f64/i64 equal torch's values exactly`, () => {
      const { tensors, notes } = readPthWithNotes(join(dir, file));
      // The expected file is ordered by element size, as scripts/safetensors_io.py writes it.
      assertSameTensors(tensors, expected, { anyOrder: true });
      assert.match(notes.join('\n'), /under "state_dict"/);
    });
  }

  test('resnet20.pth (state_dict) in eval mode on [2,3,32,32] gives torch float64 logits within 1e-4 relative', () => {
    const io = readSafetensors(join(dir, 'resnet20_io.safetensors'));
    const model = buildModel('resnet20', { numClasses: 10 });
    const { tensors, notes } = readPthWithNotes(join(dir, 'resnet20.pth'));
    assert.deepEqual(notes, []);
    assert.equal((tensors.get('bn1.num_batches_tracked') as IntTensor).data[0], 7n);
    model.loadStateDict(tensors);
    model.eval();
    const y = noGrad(() => model.forward(io.get('input') as Tensor));
    assertClose(y.data, io.get('output')!.data as Float32Array, { rtol: 1e-4, what: 'resnet20 logits' });
  });

  test('resnet20_checkpoint.pth: {"model": float16, "module."-prefixed} loads with two notes', () => {
    const { tensors, notes } = readPthWithNotes(join(dir, 'resnet20_checkpoint.pth'));
    assert.equal(notes.length, 2);
    assert.match(notes[0], /resnet20_checkpoint\.pth: read the state dict stored under "model"/);
    assert.match(notes[1], /stripped the "module\." prefix \(DataParallel\) from all 116 keys/);
    assert.ok(tensors.has('conv1.weight') && !tensors.has('module.conv1.weight'));
    assert.ok(tensors.get('layer1.0.bn1.num_batches_tracked') instanceof IntTensor);
  });

  for (const [file, name] of [
    ['hostile_os_system.pth', 'posix.system'],
    ['hostile_eval.pth', '__builtin__.eval'],
  ]) {
    test(`${file}: refused by the global's name (${name}), and the marker file was not created`, () => {
      assert.throws(
        () => readPthWithNotes(join(dir, file)),
        (e: Error) =>
          e instanceof PthError && e.message.includes(`refuses global "${name}"`) && e.message.includes(file),
      );
      assert.ok(!existsSync(MARKER) && !existsSync(join(dir, MARKER)), 'the hostile command ran');
    });
  }
});

describe('writing .pth', () => {
  test('written_by_resnet_ts.pth (checked with torch.load(weights_only=True)) is what serializePth writes today', () => {
    const bytes = serializePth(readSafetensors(join(dir, 'tensors_expected.safetensors')));
    assert.ok(Buffer.from(bytes).equals(readFileSync(join(dir, 'written_by_resnet_ts.pth'))));
  });

  test("layout is torch's: archive/data.pkl, archive/data/N 64-byte aligned, archive/version; tied tensors share", () => {
    const w = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const bytes = serializePth(
      new Map<string, AnyTensor>([
        ['a.weight', w],
        ['b.weight', w],
        ['n', IntTensor.from([5], [])],
      ]),
    );
    const zip = readZip(bytes, 'written');
    assert.deepEqual(
      [...zip.entries.keys()],
      ['archive/data.pkl', 'archive/data/0', 'archive/data/1', 'archive/version'],
    );
    for (const e of zip.entries.values()) {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      const start =
        e.headerOffset + 30 + view.getUint16(e.headerOffset + 26, true) + view.getUint16(e.headerOffset + 28, true);
      assert.equal(start % 64, 0, `${e.name} starts at ${start}`);
    }
    assert.equal(new TextDecoder().decode(zip.read('archive/version')), '3\n');
    const back = parsePth(bytes, 'written').tensors;
    assert.deepEqual([...back.get('a.weight')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...back.get('b.weight')!.data], [1, 2, 3, 4, 5, 6]);
  });

  test('every builder: resnet-ts state dict → .pth → reader is bit-exact (ImageNet shapes from architectures.json)', () => {
    const shapes = JSON.parse(readFileSync(join(fixturesDir, 'architectures.json'), 'utf8')) as Record<
      string,
      { state_dict: [string, number[], string][] }
    >;
    for (const arch of Object.keys(architectures)) {
      const sd: TensorMap = new Map();
      if (shapes[arch]) {
        // A cheap per-key pattern: building the big models would spend the time on their random init.
        for (const [name, shape, dtype] of shapes[arch].state_dict) {
          const n = shape.reduce((a, b) => a * b, 1);
          if (dtype === 'int64') {
            sd.set(name, IntTensor.from([sd.size], shape));
            continue;
          }
          const data = new Float32Array(n);
          for (let i = 0; i < n; i++) data[i] = Math.imul(i + sd.size, 0x9e3779b1) / 2 ** 32;
          sd.set(name, new Tensor(data, shape));
        }
      } else {
        assert.match(arch, /^resnet(20|32|44|56|110)$/, `${arch} has no entry in architectures.json`);
        for (const [name, t] of buildModel(arch).stateDict()) sd.set(name, t);
      }
      assertSameTensors(parsePth(serializePth(sd), arch).tensors, sd);
    }
  });
});

/** Pickle opcodes, for hand-made data.pkl files that torch.save would never write. */
const op = {
  proto: [0x80, 2],
  mark: [0x28],
  tuple: [0x74],
  reduce: [0x52],
  persid: [0x51],
  false: [0x89],
  dict: [0x7d],
  setitems: [0x75],
  stop: [0x2e],
  str: (s: string) => {
    const b = new TextEncoder().encode(s);
    return [0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b];
  },
  int: (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return [0x4a, ...b];
  },
  long: (v: bigint) => {
    const b: number[] = [];
    for (let i = 0; i < 9; i++) b.push(Number((v >> BigInt(8 * i)) & 0xffn));
    return [0x8a, 9, ...b];
  },
  global: (m: string, n: string) => [0x63, ...new TextEncoder().encode(`${m}\n${n}\n`)],
  ints: (vs: (number | bigint)[]) => [
    0x28,
    ...vs.flatMap((v) => (typeof v === 'bigint' ? op.long(v) : op.int(v))),
    0x74,
  ],
};

interface Crafted {
  size?: (number | bigint)[];
  stride?: (number | bigint)[];
  offset?: number;
  numel?: number;
  key?: string;
  storageBytes?: number;
  storageType?: string;
}

/** A .pth with one float tensor "w" described by `c` (defaults: [2, 2] contiguous over 4 elements). */
function craft(c: Crafted = {}, extra: [string, Uint8Array][] = []): Uint8Array {
  const { size = [2, 2], stride = [2, 1], offset = 0, numel = 4, key = '0', storageBytes = 16 } = c;
  const pkl = [
    ...op.proto,
    ...op.dict,
    ...op.mark,
    ...op.str('w'),
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.mark,
    ...[...op.mark, ...op.str('storage'), ...op.global('torch', c.storageType ?? 'FloatStorage')],
    ...[...op.str(key), ...op.str('cpu'), ...op.int(numel), ...op.tuple, ...op.persid],
    ...[...op.int(offset), ...op.ints(size), ...op.ints(stride), ...op.false],
    ...[...op.global('collections', 'OrderedDict'), 0x29, ...op.reduce, ...op.tuple, ...op.reduce],
    ...op.setitems,
    ...op.stop,
  ];
  const data = new Uint8Array(storageBytes);
  new Float32Array(data.buffer).set([1, 2, 3, 4].slice(0, storageBytes / 4));
  return writeZip([['archive/data.pkl', Uint8Array.from(pkl)], ['archive/data/0', data], ...extra], 'craft');
}

function withPickle(pkl: number[]): Uint8Array {
  return writeZip([['archive/data.pkl', Uint8Array.from(pkl)]], 'craft');
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parsePth(bytes, 'bad.pth'),
    (e: Error) => {
      assert.ok(e instanceof PthError, `${e.name}: ${e.message}`);
      assert.match(e.message, /^bad\.pth: /);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('refusing bad .pth files with PthError naming the file', () => {
  test('the crafting helper itself makes a valid [2,2] file', () => {
    assert.deepEqual([...parsePth(craft(), 'ok').tensors.get('w')!.data], [1, 2, 3, 4]);
  });
  test('globals os.system (GLOBAL) and builtins.eval (STACK_GLOBAL) are refused by name', () => {
    rejects(
      withPickle([...op.proto, ...op.global('os', 'system'), ...op.str('touch x'), 0x85, ...op.reduce, ...op.stop]),
      /refuses global "os\.system".*nothing was executed/,
    );
    const stackGlobal = [
      0x80,
      4,
      0x8c,
      8,
      ...new TextEncoder().encode('builtins'),
      0x8c,
      4,
      ...new TextEncoder().encode('eval'),
      0x93,
    ];
    rejects(
      withPickle([...stackGlobal, ...op.str('1'), 0x85, ...op.reduce, ...op.stop]),
      /refuses global "builtins\.eval"/,
    );
  });
  test('an unknown opcode (0xff) and a truncated pickle', () => {
    rejects(withPickle([...op.proto, 0xff, ...op.stop]), /unsupported opcode 0xff at byte 2/);
    rejects(withPickle([...op.proto, ...op.str('abc')].slice(0, -1)), /truncated/);
  });
  test('shape [-1, 2], shape [2^40, 2^40], stride 2^70, a negative offset', () => {
    rejects(craft({ size: [-1, 2] }), /tensor "w": size .*not a tuple of non-negative integers/);
    rejects(craft({ size: [1n << 40n, 1n << 40n], stride: [1, 1] }), /overflows/);
    rejects(craft({ stride: [1n << 70n, 1] }), /stride .*not a tuple of non-negative integers/);
    rejects(craft({ offset: -1 }), /storage offset -1/);
  });
  test('a tensor past its storage, a record shorter than its storage, a huge expanded tensor', () => {
    rejects(craft({ size: [5], stride: [1] }), /reaches element 4, but storage 0 holds 4/);
    rejects(craft({ offset: 1 }), /reaches element 4, but storage 0 holds 4/);
    rejects(
      craft({ numel: 5, size: [5], stride: [1] }),
      /storage 0 holds 16 bytes, but the pickle declares 5 float32 \(20 bytes\)/,
    );
    rejects(craft({ size: [2 ** 30], stride: [0] }), /1073741824 elements exceed what a file of this size can hold/);
  });
  test('a missing storage record, a storage key with "..", an unsupported storage type', () => {
    rejects(craft({ key: '7' }), /storage 7 \(zip entry archive\/data\/7\) is missing/);
    rejects(craft({ key: '../0' }), /storage key "\.\.\/0" is not a plain record name/);
    rejects(craft({ storageType: 'ComplexFloatStorage' }), /refuses global "torch\.ComplexFloatStorage"/);
  });
  test('zip entry names with "..", an absolute path, and entries outside the archive folder', () => {
    rejects(craft({}, [['archive/../../etc/passwd', new Uint8Array(1)]]), /contains a "\." or "\.\." path segment/);
    rejects(craft({}, [['/etc/passwd', new Uint8Array(1)]]), /is an absolute path/);
    rejects(craft({}, [['other/x', new Uint8Array(1)]]), /lies outside the archive folder archive\//);
  });
  test('garbage, a truncated file, a bad central directory, a corrupt storage byte (CRC)', () => {
    const good = craft();
    rejects(new TextEncoder().encode('this is not a zip archive at all'), /not a zip archive/);
    rejects(good.subarray(0, good.length - 30), /not a zip archive|central directory/);
    const view = new DataView(good.buffer.slice(0));
    const eocd = good.length - 22;
    const directory = view.getUint32(eocd + 16, true);
    view.setUint32(directory, 0x12345678, true);
    rejects(new Uint8Array(view.buffer), /bad central directory header/);
    const corrupt = good.slice();
    const entry = readZip(good, 'x').entries.get('archive/data/0')!;
    corrupt[entry.headerOffset + 30 + 14 + new DataView(good.buffer).getUint16(entry.headerOffset + 28, true)] ^= 1;
    rejects(corrupt, /CRC-32 mismatch/);
  });
  test('a pickle that is not a state dict, and a big-endian byteorder record', () => {
    rejects(withPickle([...op.proto, ...op.int(3), ...op.stop]), /holds a number, not a state dict/);
    rejects(
      withPickle([...op.proto, ...op.dict, ...op.str('epoch'), ...op.int(3), 0x73, ...op.stop]),
      /entry "epoch" is a number, not a tensor/,
    );
    rejects(craft({}, [['archive/byteorder', new TextEncoder().encode('big')]]), /byte order "big" is not supported/);
  });
});
