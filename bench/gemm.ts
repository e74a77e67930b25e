// GEMM throughput of the native addon against the machine's measured FMA peak, on 1 thread and on all threads:
// square problems, then the ResNet conv shapes (forward W·col, backward-weight dY·colᵀ, backward-input Wᵀ·dY).
// Run: npx tsx bench/gemm.ts [--seconds=0.5]
import { loadNativeAddon } from '../src/backend/native/addon.ts';

interface Problem {
  name: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
}

const square = (s: number): Problem => ({ name: `square ${s}`, transA: false, transB: false, m: s, n: s, k: s });

// conv as W[OC, C·kh·kw] × col[C·kh·kw, OH·OW]: layer1 3×3 64→64 at 56×56, layer3 3×3 256→256 at 14×14 (batch 1).
const PROBLEMS: Problem[] = [
  square(256),
  square(512),
  square(1024),
  square(2048),
  { name: 'conv 64·576 × 576·3136', transA: false, transB: false, m: 64, n: 3136, k: 576 },
  { name: 'conv 256·1152 × 1152·784', transA: false, transB: false, m: 256, n: 784, k: 1152 },
  { name: 'dW 64·3136 × (576·3136)ᵀ', transA: false, transB: true, m: 64, n: 576, k: 3136 },
  { name: 'dW 256·784 × (1152·784)ᵀ', transA: false, transB: true, m: 256, n: 1152, k: 784 },
  { name: 'dX (64·576)ᵀ × 64·3136', transA: true, transB: false, m: 576, n: 3136, k: 64 },
  { name: 'dX (256·1152)ᵀ × 256·784', transA: true, transB: false, m: 1152, n: 784, k: 256 },
];

const secondsArg = process.argv.find((a) => a.startsWith('--seconds='));
const SECONDS = secondsArg ? Number(secondsArg.slice('--seconds='.length)) : 0.5;

function randomArray(length: number): Float32Array {
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

const load = loadNativeAddon();
if (!load.binding) {
  console.error(load.reason);
  process.exit(1);
}
const native = load.binding;

// Median and best of repeated runs over about SECONDS, as GFLOP/s: on a shared machine the best run shows what
// the code can do, the median what a neighbour's load left of it.
function gflops(p: Problem): { median: number; best: number } {
  const a = randomArray(p.m * p.k);
  const b = randomArray(p.k * p.n);
  const c = new Float32Array(p.m * p.n);
  const lda = p.transA ? p.m : p.k;
  const ldb = p.transB ? p.k : p.n;
  const run = () => native.gemm(p.transA, p.transB, p.m, p.n, p.k, 1, a, lda, b, ldb, 0, c, p.n);
  run();
  const times: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  while (times.length < 5 || performance.now() < end) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const rate = (ms: number) => (2 * p.m * p.n * p.k) / (ms * 1e6);
  return { median: rate(times[times.length >> 1]), best: rate(times[0]) };
}

const info = native.cpuInfo();
const allThreads = native.getNumThreads();
console.log(`addon: ${load.path}`);
console.log(`cpu: isa=${info.isa} avx2=${info.avx2} fma=${info.fma} avx512f=${info.avx512f} threads=${allThreads}`);
console.log(`gemm microkernel: ${info.gemmKernel}`);
// Two measurements, the higher kept: a neighbour's burst during one second should not set the yardstick.
const peaks = [native.peakGflops(1), native.peakGflops(1)];
const peak = {
  singleThread: Math.max(...peaks.map((p) => p.singleThread)),
  allThreads: Math.max(...peaks.map((p) => p.allThreads)),
};
console.log(
  `FMA peak: ${peak.singleThread.toFixed(1)} GFLOP/s on 1 thread, ` +
    `${peak.allThreads.toFixed(1)} GFLOP/s on ${allThreads} threads`,
);

const counts = allThreads > 1 ? [1, allThreads] : [1];
const columns = counts.map((t) => `${t} thr: median (best) GFLOP/s, % peak`.padStart(38));
console.log(`\n${['problem'.padEnd(28), 'op'.padEnd(4), ...columns].join(' ')}`);
const rows = PROBLEMS.map((p) => [p.name.padEnd(28), `${p.transA ? 'T' : 'N'}${p.transB ? 'T' : 'N'}`.padEnd(4)]);
for (const threads of counts) {
  native.setNumThreads(threads);
  const reference = threads === 1 ? peak.singleThread : peak.allThreads;
  PROBLEMS.forEach((p, i) => {
    const g = gflops(p);
    const cell = `${g.median.toFixed(1)} (${g.best.toFixed(1)}) ${((100 * g.median) / reference).toFixed(0)}%`;
    rows[i].push(cell.padStart(38));
  });
}
native.setNumThreads(allThreads);
for (const row of rows) console.log(row.join(' '));
