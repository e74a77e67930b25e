// Fuzzing the weight readers: valid .pth and .safetensors files mutated thousands of times (seeded, time-bounded)
// must each give a valid load or a typed error (PthError, SafetensorsError): never another exception, a hang, or
// tensors far larger than the file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PthError } from '../../src/io/pth/error.ts';
import { parsePth } from '../../src/io/pth/read.ts';
import { serializePth } from '../../src/io/pth/write.ts';
import { readZip } from '../../src/io/pth/zip.ts';
import { writeZip } from '../../src/io/pth/zipWrite.ts';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type TensorMap } from '../../src/io/safetensors.ts';
import { Generator } from '../../src/tensor/random.ts';
import { type AnyTensor, IntTensor, Tensor } from '../../src/tensor/tensor.ts';
import { fixturesDir } from '../helpers.ts';

// RESNET_FUZZ_MS and RESNET_FUZZ_SEED allow longer local runs on other sequences.
const BUDGET_MS = Number(process.env.RESNET_FUZZ_MS ?? 6000);
const SEED = Number(process.env.RESNET_FUZZ_SEED ?? 1234);
const MIN_RUNS = 2000;
// No single parse of a file of a few KB may take this long (generous, for loaded CI machines): that would be a hang.
const SLOW_MS = 2000;

const small = new Map<string, AnyTensor>([
  ['conv.weight', Tensor.from([0.5, -1, 2, 3, 4, 5, 6, 7], [2, 1, 2, 2])],
  ['bn.num_batches_tracked', IntTensor.from([3], [])],
  ['fc.bias', Tensor.from([1, 2, 3])],
]);

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_WORDS = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 64, 0x10000];

/** One random edit: bit flips, interesting bytes or 32-bit words, truncation, insertion, deletion, duplication. */
function mutate(bytes: Uint8Array, rng: Generator): Uint8Array {
  const out = bytes.slice();
  const at = () => rng.int(Math.max(1, out.length));
  switch (rng.int(7)) {
    case 0:
      for (let k = 1 + rng.int(4); k > 0; k--) out[at()] ^= 1 << rng.int(8);
      return out;
    case 1:
      out[at()] = INTERESTING[rng.int(INTERESTING.length)];
      return out;
    case 2: {
      if (out.length < 4) return out.subarray(0, at());
      const i = Math.min(at(), out.length - 4);
      new DataView(out.buffer).setUint32(i, INTERESTING_WORDS[rng.int(INTERESTING_WORDS.length)], true);
      return out;
    }
    case 3:
      return out.subarray(0, at());
    case 4: {
      const i = at();
      const extra = Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256));
      return Uint8Array.from([...out.subarray(0, i), ...extra, ...out.subarray(i)]);
    }
    case 5: {
      const i = at();
      return Uint8Array.from([...out.subarray(0, i), ...out.subarray(i + 1 + rng.int(8))]);
    }
    default: {
      const i = at();
      const chunk = out.subarray(i, i + 1 + rng.int(16));
      const j = at();
      return Uint8Array.from([...out.subarray(0, j), ...chunk, ...out.subarray(j)]);
    }
  }
}

/**
 * Mutates one entry of a .pth archive and zips it again with a correct CRC, so that the mutation reaches the
 * unpickler and the tensor rebuild instead of stopping at the zip's checksum.
 */
function mutateEntry(bytes: Uint8Array, rng: Generator): Uint8Array {
  const zip = readZip(bytes, 'seed');
  const files: [string, Uint8Array][] = [...zip.entries.keys()].map((name) => [name, zip.read(name)]);
  // The pickle is where the structure lives, so it gets most of the mutations.
  const index = rng.random() < 0.75 ? files.findIndex(([name]) => name.endsWith('data.pkl')) : rng.int(files.length);
  files[index] = [files[index][0], mutate(files[index][1], rng)];
  return writeZip(files, 'fuzz');
}

/** A plain Uint8Array copy: a Buffer's slice() is a view, and mutations must never reach the seeds. */
function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixturesDir, 'pth', name)));
}

function totalBytes(tensors: TensorMap): number {
  let n = 0;
  for (const t of tensors.values()) n += t.data.byteLength;
  return n;
}

function fuzz(
  seeds: Uint8Array[],
  variants: ((bytes: Uint8Array, rng: Generator) => Uint8Array)[],
  parse: (bytes: Uint8Array) => TensorMap,
  typed: new (...args: never[]) => Error,
): { runs: number; loaded: number; errors: Set<string>; slowest: number } {
  const rng = new Generator(SEED);
  const errors = new Set<string>();
  let runs = 0;
  let loaded = 0;
  let slowest = 0;
  const end = performance.now() + BUDGET_MS;
  while (performance.now() < end || runs < MIN_RUNS) {
    const seed = seeds[rng.int(seeds.length)];
    let bytes = variants[rng.int(variants.length)](seed, rng);
    if (rng.random() < 0.3) bytes = mutate(bytes, rng);
    const started = performance.now();
    const hex = () => `input (${bytes.length} bytes): ${Buffer.from(bytes).toString('hex')}`;
    try {
      const tensors = parse(bytes);
      // Stride-0 tensors may expand a little beyond the file, never to megabytes from a few KB.
      assert.ok(totalBytes(tensors) <= 64 * bytes.length + (4 << 20), `run ${runs}: ${totalBytes(tensors)} bytes`);
      loaded++;
    } catch (error) {
      if (!(error instanceof typed)) assert.fail(`run ${runs}: ${(error as Error)?.stack ?? String(error)}\n${hex()}`);
      // Messages start with the label; the rest names what was wrong. Digits are dropped to group them.
      errors.add((error as Error).message.replace(/\d+/g, 'N').slice(0, 60));
    }
    const took = performance.now() - started;
    slowest = Math.max(slowest, took);
    assert.ok(took < SLOW_MS, `run ${runs} took ${took.toFixed(0)} ms\n${hex()}`);
    runs++;
  }
  return { runs, loaded, errors, slowest };
}

test(`.pth: ≥${MIN_RUNS} mutations of torch- and resnet-ts-written files give only PthError or valid loads`, (t) => {
  const seeds = [fixture('tensors.pth'), fixture('tensors_deflated.pth'), serializePth(small)];
  const result = fuzz(seeds, [mutate, mutateEntry], (b) => parsePth(b, 'fuzz.pth').tensors, PthError);
  t.diagnostic(
    `${result.runs} runs, ${result.loaded} loaded, ${result.errors.size} kinds of error, slowest ${result.slowest.toFixed(1)} ms`,
  );
  assert.ok(result.runs >= MIN_RUNS);
  // A fuzzer that never gets past the first check tests nothing: expect both outcomes and many distinct errors.
  assert.ok(result.loaded > 0, 'no mutated file loaded');
  assert.ok(result.errors.size > 20, `only ${result.errors.size} kinds of error:\n${[...result.errors].join('\n')}`);
});

test(`.safetensors: ≥${MIN_RUNS} mutations give only SafetensorsError or valid loads`, (t) => {
  const seeds = [fixture('tensors_expected.safetensors'), serializeSafetensors(small, { format: 'pt' })];
  const result = fuzz(seeds, [mutate], (b) => parseSafetensors(b, 'fuzz.safetensors').tensors, SafetensorsError);
  t.diagnostic(
    `${result.runs} runs, ${result.loaded} loaded, ${result.errors.size} kinds of error, slowest ${result.slowest.toFixed(1)} ms`,
  );
  assert.ok(result.runs >= MIN_RUNS);
  assert.ok(result.loaded > 0, 'no mutated file loaded');
  assert.ok(result.errors.size > 10, `only ${result.errors.size} kinds of error:\n${[...result.errors].join('\n')}`);
});
