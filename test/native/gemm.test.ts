// The native gemm against a naive triple loop (in float64) for all four transpose combinations on odd shapes,
// padded leading dimensions, offset views and every alpha/beta case, plus the argument checks at the boundary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon } from '../../src/backend/native/addon.ts';

const native = loadNativeAddon();
const skip = native.binding ? false : native.reason;

// The error bound scales with the dot-product length and operand magnitudes: float32 accumulation over K terms.
const TOLERANCE = 1e-5;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function filled(length: number, rand: () => number): Float32Array {
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = rand();
  return x;
}

function maxAbs(x: Float32Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

interface Case {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  pad: number; // extra elements on every leading dimension
}

function naiveGemm(
  c: Case,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  out: Float32Array,
  ldc: number,
) {
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let sum = 0;
      for (let p = 0; p < c.k; p++) {
        const av = c.transA ? a[p * lda + i] : a[i * lda + p];
        const bv = c.transB ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
      }
      const prev = out[i * ldc + j];
      out[i * ldc + j] = c.alpha * sum + (c.beta === 0 ? 0 : c.beta * prev);
    }
  }
}

function caseName(c: Case): string {
  const op = `${c.transA ? 'Aᵀ' : 'A'}·${c.transB ? 'Bᵀ' : 'B'}`;
  return `${op} M=${c.m} N=${c.n} K=${c.k} alpha=${c.alpha} beta=${c.beta} pad=${c.pad}`;
}

function runCase(c: Case, seed: number): { got: Float32Array; want: Float32Array } {
  const rand = random(seed);
  const [aRows, aCols] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [bRows, bCols] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = aCols + c.pad;
  const ldb = bCols + c.pad;
  const ldc = c.n + c.pad;
  const a = filled(aRows * lda, rand);
  const b = filled(bRows * ldb, rand);
  const want = filled(c.m * ldc, rand);
  // beta = 0 must overwrite C without reading it: NaN in C may not leak into the result.
  if (c.beta === 0) want.fill(Number.NaN);
  const got = want.slice();
  native.binding!.gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, ldc);
  naiveGemm(c, a, lda, b, ldb, want, ldc);
  // K·max|a|·max|b| bounds the dot product; |beta| + 1 covers the beta·C term and the final rounding (|C| <= 1).
  const tol = TOLERANCE * (Math.max(1, c.k) * maxAbs(a) * maxAbs(b) * Math.abs(c.alpha) + Math.abs(c.beta) + 1);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < ldc; j++) {
      const at = i * ldc + j;
      const inside = j < c.n;
      const diff = Math.abs(got[at] - want[at]);
      if (inside ? !(diff <= tol) : !Object.is(got[at], want[at])) {
        assert.fail(`${caseName(c)}: C[${i}, ${j}] = ${got[at]}, want ${want[at]} (tolerance ${tol})`);
      }
    }
  }
  return { got, want };
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 3],
  [7, 1, 5],
  [7, 13, 5],
  [6, 16, 8],
  [97, 61, 37],
  [13, 35, 600], // K spans several kc blocks: beta must apply once
  [150, 20, 10], // M spans several mc blocks
  [64, 300, 200], // big enough to run on every thread
  [3, 4100, 2], // N spans two nc blocks
  [300, 70, 300], // threads split M, each part has several mc blocks and K spans two kc blocks
];
const SCALARS: [number, number][] = [
  [1, 0],
  [1, 1],
  [-2, 0.5],
  [0.75, 0],
];

describe('native gemm vs naive triple loop', { skip }, () => {
  let seed = 1;
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const [m, n, k] of SHAPES) {
        for (const [alpha, beta] of SCALARS) {
          for (const pad of [0, 3]) {
            const c: Case = { transA, transB, m, n, k, alpha, beta, pad };
            const s = seed++;
            test(caseName(c), () => {
              runCase(c, s);
            });
          }
        }
      }
    }
  }

  test('K=0 and alpha=0 scale C by beta; M=0 or N=0 leave it alone', () => {
    const g = native.binding!;
    const c = new Float32Array([1, 2, 3, 4]);
    g.gemm(false, false, 2, 2, 0, 1, new Float32Array(0), 1, new Float32Array(0), 2, 0.5, c, 2);
    assert.deepEqual([...c], [0.5, 1, 1.5, 2]);
    c.fill(Number.NaN);
    g.gemm(false, false, 2, 2, 1, 0, new Float32Array(2), 1, new Float32Array(2), 2, 0, c, 2);
    assert.deepEqual([...c], [0, 0, 0, 0]);
    g.gemm(false, false, 0, 2, 1, 1, new Float32Array(0), 1, new Float32Array(2), 2, 0, c, 2);
    g.gemm(false, false, 2, 0, 1, 1, new Float32Array(2), 1, new Float32Array(0), 1, 0, c, 1);
    assert.deepEqual([...c], [0, 0, 0, 0]);
  });

  test('M=5 N=4 K=3 on subarray views respects byteOffset and leaves the rest of the buffer alone', () => {
    const rand = random(99);
    const aAll = filled(40, rand);
    const bAll = filled(40, rand);
    const cAll = filled(40, rand);
    const before = cAll.slice();
    const a = aAll.subarray(7, 7 + 15);
    const b = bAll.subarray(3, 3 + 12);
    const c = cAll.subarray(11, 11 + 20);
    const want = c.slice();
    naiveGemm({ transA: false, transB: false, m: 5, n: 4, k: 3, alpha: 1, beta: 1, pad: 0 }, a, 3, b, 4, want, 4);
    native.binding!.gemm(false, false, 5, 4, 3, 1, a, 3, b, 4, 1, c, 4);
    for (let i = 0; i < 20; i++) assert.ok(Math.abs(c[i] - want[i]) < 1e-5, `C[${i}]`);
    for (let i = 0; i < 40; i++) if (i < 11 || i >= 31) assert.equal(cAll[i], before[i], `outside C at ${i}`);
  });

  for (const [m, n, k] of [
    [64, 300, 200],
    [300, 70, 300],
  ]) {
    test(`M=${m} N=${n} K=${k}: 1 thread and all threads give bitwise equal results`, () => {
      const g = native.binding!;
      const threads = g.getNumThreads();
      const c: Case = { transA: false, transB: true, m, n, k, alpha: 1, beta: 0, pad: 1 };
      try {
        g.setNumThreads(1);
        const one = runCase(c, 7).got;
        g.setNumThreads(Math.max(2, threads));
        const all = runCase(c, 7).got;
        assert.deepEqual(one, all);
      } finally {
        g.setNumThreads(threads);
      }
    });
  }
});

// The epilogue (bias, residual, ReLU) runs inside each microkernel on its finished tile. A pointwise convolution is
// one GEMM per image, W[OC, C]·x[C, H·W], so it reaches the epilogue through the public binding; the shapes leave
// partial tiles in both directions for every kernel (MR 4, 6, 8; NR 8, 16, 32).
describe('native gemm epilogue through pointwise conv2d, vs a float64 loop', { skip }, () => {
  const cases = [
    { n: 2, c: 5, oc: 13, h: 3, w: 37 },
    { n: 1, c: 300, oc: 9, h: 1, w: 70 },
    { n: 3, c: 1, oc: 1, h: 1, w: 1 },
  ];
  for (const { n, c, oc, h, w } of cases) {
    for (const [bias, residual, relu] of [
      [true, true, true],
      [true, false, true],
      [false, true, false],
      [false, false, true],
    ] as const) {
      test(`x [${n}, ${c}, ${h}, ${w}], w [${oc}, ${c}, 1, 1], bias=${bias} residual=${residual} relu=${relu}; abs err ≤ 1e-5·scale`, () => {
        const rand = random(n * 1000 + c * 10 + oc);
        const p = h * w;
        const x = filled(n * c * p, rand);
        const wt = filled(oc * c, rand);
        const b = bias ? filled(oc, rand) : null;
        const r = residual ? filled(n * oc * p, rand) : null;
        // A NaN in the residual must come through ReLU as NaN.
        if (r) r[r.length - 1] = Number.NaN;
        const g = {
          n,
          c,
          h,
          w,
          oc,
          kh: 1,
          kw: 1,
          oh: h,
          ow: w,
          strideH: 1,
          strideW: 1,
          padH: 0,
          padW: 0,
          dilationH: 1,
          dilationW: 1,
          groups: 1,
        };
        const y = new Float32Array(n * oc * p);
        native.binding!.conv2d(g, x, wt, b, r, relu, y);
        const scale = Math.max(1, maxAbs(wt) * maxAbs(x) * c);
        for (let img = 0; img < n; img++) {
          for (let o = 0; o < oc; o++) {
            for (let j = 0; j < p; j++) {
              let sum = 0;
              for (let q = 0; q < c; q++) sum += wt[o * c + q] * x[(img * c + q) * p + j];
              const at = (img * oc + o) * p + j;
              let want = sum + ((b ? b[o] : 0) + (r ? r[at] : 0));
              if (relu) want = Math.max(0, want);
              if (Number.isNaN(want)) {
                assert.ok(Number.isNaN(y[at]), `y[${at}] should be NaN`);
              } else {
                assert.ok(Math.abs(y[at] - want) <= TOLERANCE * scale, `y[${at}] = ${y[at]}, want ${want}`);
              }
            }
          }
        }
      });
    }
  }
});

describe('native gemm argument checks', { skip }, () => {
  const a = new Float32Array(6); // [2, 3]
  const b = new Float32Array(12); // [3, 4]
  const c = new Float32Array(8); // [2, 4]
  const call = (...args: unknown[]) => (native.binding!.gemm as (...x: unknown[]) => void)(...args);

  test('lda smaller than K throws', () => {
    assert.throws(() => call(false, false, 2, 4, 3, 1, a, 2, b, 4, 0, c, 4), /gemm: lda \(2\) must be >= max\(1, 3\)/);
  });
  test('ldb smaller than N (transB=false) and than K (transB=true) throws', () => {
    assert.throws(() => call(false, false, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4), /ldb/);
    assert.throws(() => call(false, true, 2, 4, 3, 1, a, 3, b, 2, 0, c, 4), /ldb/);
  });
  test('A [2, 3] too short for M=3 throws instead of reading past the end', () => {
    assert.throws(
      () => call(false, false, 3, 4, 3, 1, a, 3, b, 4, 0, new Float32Array(12), 4),
      /A has 6 elements, needs 9/,
    );
  });
  test('C too short for ldc throws', () => {
    assert.throws(() => call(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 5), /C has 8 elements, needs 9/);
  });
  test('transA reads A as [K, M]: K=3 rows of lda=3 need 8 elements', () => {
    assert.throws(() => call(true, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 4), /A has 6 elements, needs 8/);
    assert.doesNotThrow(() => call(true, false, 2, 4, 3, 1, a, 2, b, 4, 0, c, 4));
  });
  test('wrong types and non-integer dims throw TypeError/RangeError', () => {
    assert.throws(() => call(false, false, 2, 4, 3, 1, new Float64Array(6), 3, b, 4, 0, c, 4), TypeError);
    assert.throws(() => call(false, false, 2, 4, 3, 1, Array.from(a), 3, b, 4, 0, c, 4), TypeError);
    assert.throws(() => call(0, false, 2, 4, 3, 1, a, 3, b, 4, 0, c, 4), TypeError);
    assert.throws(() => call(false, false, 2.5, 4, 3, 1, a, 3, b, 4, 0, c, 4), RangeError);
    assert.throws(() => call(false, false, -1, 4, 3, 1, a, 3, b, 4, 0, c, 4), RangeError);
    assert.throws(() => call(false, false, 2, 4, 3, 1, a, 3, b, 4, 0, c), TypeError);
  });
  test('C overlapping A throws', () => {
    const buf = new Float32Array(32);
    assert.throws(
      () => call(false, false, 2, 4, 3, 1, buf.subarray(0, 6), 3, b, 4, 0, buf.subarray(4, 12), 4),
      /must not share memory/,
    );
  });
});

// Every narrower path must pass the same suite: RESNET_ISA=avx2_fma or scalar caps the ISA at load, so each needs
// its own process (on an AVX-512 machine this runs the AVX2 kernel too).
for (const isa of ['avx2_fma', 'scalar']) {
  const isaSkip = skip || (process.env.RESNET_ISA ? 'already running with RESNET_ISA set' : false);
  test(`native gemm with RESNET_ISA=${isa} passes this file`, { skip: isaSkip }, () => {
    // Without NODE_TEST_CONTEXT the child runs its tests itself instead of deferring to this runner.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--test-reporter=tap', fileURLToPath(import.meta.url)],
      {
        env: { ...env, RESNET_ISA: isa },
        encoding: 'utf8',
      },
    );
    assert.equal(child.status, 0, `${isa} run failed:\n${child.stdout}\n${child.stderr}`);
    assert.match(child.stdout, /# fail 0/);
    assert.doesNotMatch(child.stdout, /# pass 0\b/);
  });
}

test('setNumThreads rejects 0 and non-integers; peakGflops measures something', { skip }, () => {
  const g = native.binding!;
  assert.throws(() => g.setNumThreads(0), RangeError);
  assert.throws(() => g.setNumThreads(1.5), RangeError);
  const peak = g.peakGflops(0.05);
  assert.ok(peak.singleThread > 0 && peak.allThreads > 0 && peak.threads === g.getNumThreads());
});

test('cpuInfo reports the dispatched ISA', { skip }, () => {
  const info = native.binding!.cpuInfo();
  const best = info.avx512f && info.fma ? 'avx512' : info.avx2 && info.fma ? 'avx2_fma' : 'scalar';
  const cap = process.env.RESNET_ISA;
  if (cap === 'scalar') assert.equal(info.isa, 'scalar');
  else if (cap === 'avx2_fma') assert.equal(info.isa, best === 'scalar' ? 'scalar' : 'avx2_fma');
  else assert.equal(info.isa, best);
  assert.match(info.gemmKernel, new RegExp(`^sgemm_ukernel_\\d+x\\d+_${info.isa}$`));
  assert.ok(info.threads >= 1);
});
