// `npm run bench`: resnet-ts side by side with onnxruntime-node and PyTorch on the same CPU in one run, each engine
// in its own process (so peak RSS is its own), plus the FMA peak and the GEMM kernel alone; writes bench/RESULTS.md.
// Run: npx tsx bench/run.ts [--quick] [--threads T] [--rounds R] [--out FILE]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadNativeAddon } from '../src/backend/native/addon.ts';
import type { BenchOptions } from '../src/cli/bench.ts';
import { exportOnnx } from '../src/io/onnx/export.ts';
import { buildModel } from '../src/models/registry.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    out: { type: 'string', default: join(root, 'bench', 'RESULTS.md') },
  },
});
const quick = values.quick === true;
// Engines take turns, round after round, and each keeps its fastest round: a neighbour's burst of load then
// has to hit every round of one engine to bias the ratio.
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench: --rounds must be ≥ 1, got "${values.rounds}"`);
const threads = values.threads ? Number(values.threads) : availableParallelism();
if (!Number.isInteger(threads) || threads < 1) throw new Error(`bench: --threads must be ≥ 1, got "${values.threads}"`);

/** One row group of the table: a bench CLI configuration plus which peers run it. */
interface Workload extends Omit<BenchOptions, 'threads' | 'pool' | 'fuse' | 'profile'> {
  /** How the targets find it, whatever --quick does to its size. */
  id: 'r50-infer-b8' | 'r50-infer-b1' | 'r18-train-b32' | 'r20-train-b128';
  peers: ('onnxruntime' | 'torch')[];
  /** Also run resnet-ts with buffer reuse off, to show what the pool saves. */
  compareNoPool?: boolean;
}

/** Every field the engines' JSON lines share; `engine` is added here for ours. */
interface Measurement {
  engine: string;
  img_per_s: number;
  ms_per_iter: number;
  peak_rss_mb: number;
  alloc_mb_per_iter?: number;
  threads: number;
}

// --quick shrinks every workload to a CI-size smoke: tiny images, one timed iteration, no warm-up.
const scaled = (w: Workload): Workload =>
  quick ? { ...w, size: Math.min(w.size, 64), batch: Math.min(w.batch, 4), iters: 1, warmup: 0 } : w;
const WORKLOADS: Workload[] = [
  {
    id: 'r50-infer-b8',
    arch: 'resnet50',
    batch: 8,
    size: 224,
    mode: 'infer',
    inChannels: 3,
    numClasses: 1000,
    iters: 5,
    warmup: 1,
    peers: ['onnxruntime', 'torch'],
  },
  {
    id: 'r50-infer-b1',
    arch: 'resnet50',
    batch: 1,
    size: 224,
    mode: 'infer',
    inChannels: 3,
    numClasses: 1000,
    iters: 10,
    warmup: 2,
    peers: ['onnxruntime', 'torch'],
  },
  {
    id: 'r18-train-b32',
    arch: 'resnet18',
    batch: 32,
    size: 224,
    mode: 'train',
    inChannels: 3,
    numClasses: 1000,
    iters: 3,
    warmup: 1,
    peers: ['torch'],
    compareNoPool: true,
  },
  {
    id: 'r20-train-b128',
    arch: 'resnet20',
    batch: 128,
    size: 28,
    mode: 'train',
    inChannels: 1,
    numClasses: 10,
    iters: 5,
    warmup: 1,
    peers: ['torch'],
  },
].map((w) => scaled(w as Workload));

function title(w: Workload): string {
  const what = w.mode === 'train' ? 'training step' : 'inference';
  const recipe = w.id === 'r20-train-b128' ? ' (Fashion-MNIST recipe)' : '';
  return `${w.arch} ${what}${recipe}, ${w.inChannels}×${w.size}×${w.size}, batch ${w.batch}`;
}

function run(command: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ended = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ?? ''}\n(${ended})` };
}

const build = run('npm', ['run', '--silent', 'build']);
if (!build.ok) throw new Error(`bench: npm run build failed: ${build.stderr.trim().split('\n').slice(-5).join(' | ')}`);

/** The last stdout line as JSON, or an Error naming the command and its stderr. */
function lastJson(what: string, r: { ok: boolean; stdout: string; stderr: string }): Record<string, unknown> | Error {
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    if (r.ok) return JSON.parse(last);
  } catch {}
  return new Error(`${what} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ') || last}`);
}

const common = (w: Workload) => [
  ['--batch', w.batch],
  ['--size', w.size],
  ['--in-channels', w.inChannels],
  ['--iters', w.iters],
  ['--warmup', w.warmup],
];
const flags = (pairs: (string | number)[][]) => pairs.flat().map(String);
/** What the resnet-ts and PyTorch benches both take: the model and mode besides the common sizes. */
const modelFlags = (w: Workload) =>
  flags([
    ['--arch', w.arch],
    ['--mode', w.mode],
    ['--num-classes', w.numClasses],
    ['--threads', threads],
    ...common(w),
  ]);

// resnet-ts runs as users run it: the `resnet` command, compiled into dist/ (built once above so that it matches
// src/). Through tsx's loader instead, its peak RSS carried the loader's 20–40 MB.
function resnetTs(w: Workload, pool: boolean): Measurement | Error {
  const args = ['bin/resnet.js', 'bench', ...modelFlags(w), ...(pool ? [] : ['--no-pool']), '--json'];
  const r = lastJson('resnet bench', run(process.execPath, args));
  if (r instanceof Error) return r;
  return { ...(r as unknown as Measurement), engine: `resnet-ts (${r.backend}${pool ? '' : ', no buffer reuse'})` };
}

function torch(w: Workload): Measurement | Error | string {
  const args = ['bench/torch_bench.py', ...modelFlags(w)];
  const r = lastJson('torch_bench.py', run('/usr/bin/python3', args));
  if (r instanceof Error) return r;
  if (typeof r.skipped === 'string') return r.skipped;
  return r as unknown as Measurement;
}

/** The workload's model, exported by our own exporter, as a file for onnxruntime to load. */
function exportModel(w: Workload, dir: string): string {
  const file = join(dir, `${w.arch}-${w.inChannels}x${w.size}.onnx`);
  const model = buildModel(w.arch, { numClasses: w.numClasses, inChannels: w.inChannels }).eval();
  writeFileSync(file, exportOnnx(model, { inChannels: w.inChannels, imgSize: w.size }));
  return file;
}

function onnxruntime(w: Workload, file: string): Measurement | Error {
  const args = ['--import', 'tsx', 'bench/ort_bench.ts', '--model', file, '--threads', String(threads)];
  const r = lastJson('ort_bench.ts', run(process.execPath, [...args, ...flags(common(w))]));
  return r instanceof Error ? r : (r as unknown as Measurement);
}

// The machine, the FMA peak and the GEMM kernel alone (bench/gemm.ts, its table kept as printed).
const native = loadNativeAddon().binding;
const info = native?.cpuInfo();
const machine = [
  `CPU: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} logical cores; ` +
    (info
      ? `avx2=${info.avx2} fma=${info.fma} avx512f=${info.avx512f}; kernels dispatch to ${info.isa} ` +
        `(GEMM microkernel ${info.gemmKernel})`
      : 'native addon not loaded'),
  `Node ${process.version}; ${threads} thread(s) for every engine`,
];
console.log(machine.join('\n'));
const gemm = native
  ? run(process.execPath, ['--import', 'tsx', 'bench/gemm.ts', `--seconds=${quick ? 0.05 : 0.4}`])
  : { ok: false, stdout: '', stderr: 'native addon not loaded' };
const gemmText = gemm.ok ? gemm.stdout.trim() : `bench/gemm.ts failed: ${gemm.stderr.trim()}`;
console.log(`\n${gemmText}\n`);

type Result = Measurement | Error | string;
const better = <T extends Result | undefined>(a: T, b: T): T =>
  typeof a === 'object' &&
  !(a instanceof Error) &&
  (typeof b !== 'object' || b instanceof Error || a.img_per_s >= b.img_per_s)
    ? a
    : b;
/** Each engine's faster measurement of two rounds. */
function faster(a: Row, b: Row): Row {
  return {
    workload: a.workload,
    ours: better(a.ours, b.ours),
    noPool: better(a.noPool, b.noPool),
    peers: a.peers.map((p, i) => ({ name: p.name, result: better(p.result, b.peers[i].result) })),
  };
}

const work = mkdtempSync(join(tmpdir(), 'resnet-bench-'));
interface Row {
  workload: Workload;
  ours: Measurement | Error;
  noPool?: Measurement | Error;
  peers: { name: string; result: Measurement | Error | string }[];
}
const rows: Row[] = [];
try {
  for (const w of WORKLOADS) {
    console.log(`${title(w)} …`);
    const onnx = w.peers.includes('onnxruntime') ? exportModel(w, work) : null;
    let row: Row | null = null;
    for (let round = 0; round < rounds; round++) {
      const next: Row = { workload: w, ours: resnetTs(w, true), peers: [] };
      if (w.compareNoPool) next.noPool = resnetTs(w, false);
      for (const peer of w.peers) {
        const result = peer === 'torch' ? torch(w) : onnxruntime(w, onnx ?? '');
        next.peers.push({ name: peer, result });
      }
      row = row ? faster(row, next) : next;
    }
    if (!row) throw new Error('bench: no rounds ran');
    rows.push(row);
    for (const line of tableLines([row])) console.log(line);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function fmt(v: number | undefined, digits = 1): string {
  return v === undefined ? '–' : v.toFixed(digits);
}

/** Markdown rows: one per engine, with our img/s as a multiple of each peer's. */
function tableLines(list: Row[]): string[] {
  const lines = [
    '| workload | engine | img/s | ms/iter | peak RSS MB | resnet-ts ÷ engine |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const r of list) {
    const ours = r.ours instanceof Error ? null : r.ours;
    const entries: [string, Measurement | Error | string][] = [
      ['resnet-ts', r.ours],
      ...(r.noPool ? [['resnet-ts, no buffer reuse', r.noPool] as [string, Measurement | Error]] : []),
      ...r.peers.map((p): [string, Measurement | Error | string] => [p.name, p.result]),
    ];
    for (const [name, m] of entries) {
      if (typeof m === 'string' || m instanceof Error) {
        lines.push(`| ${title(r.workload)} | ${name} | skipped: ${typeof m === 'string' ? m : m.message} | | | |`);
        continue;
      }
      const ratio = ours && m !== ours ? `${(ours.img_per_s / m.img_per_s).toFixed(2)}×` : '';
      lines.push(
        `| ${title(r.workload)} | ${m.engine} | ${fmt(m.img_per_s, 2)} | ${fmt(m.ms_per_iter)} | ${fmt(m.peak_rss_mb, 0)} | ${ratio} |`,
      );
    }
  }
  return lines;
}

/** The issue's targets, each checked against this run's figures. */
function targetLines(): string[] {
  const find = (id: Workload['id']) => rows.find((r) => r.workload.id === id);
  const measured = (m: Measurement | Error | string | undefined) =>
    m && typeof m !== 'string' && !(m instanceof Error) ? m : null;
  const peer = (r: Row | undefined, name: string) => measured(r?.peers.find((p) => p.name === name)?.result);
  const check = (what: string, value: number | null, goal: number, unit: string, higherIsBetter = true) => {
    if (value === null) return `| ${what} | – | ${goal}${unit} | not measured |`;
    const met = higherIsBetter ? value >= goal : value <= goal;
    // A --quick run shrinks the workloads, so its figures cannot meet or miss the issue's targets.
    const verdict = quick ? 'n/a (--quick)' : met ? 'met' : 'not met';
    return `| ${what} | ${value.toFixed(2)}${unit} | ${higherIsBetter ? '≥' : '≤'} ${goal}${unit} | ${verdict} |`;
  };
  const ratio = (r: Row | undefined, name: string) => {
    const ours = measured(r?.ours);
    const other = peer(r, name);
    return ours && other ? ours.img_per_s / other.img_per_s : null;
  };
  const r50b8 = find('r50-infer-b8');
  const r50b1 = find('r50-infer-b1');
  const r18 = find('r18-train-b32');
  const ours18 = measured(r18?.ours);
  const torch18 = peer(r18, 'torch');
  return [
    '| target (issue 3) | this run | goal | |',
    '|---|---:|---:|---|',
    check('resnet50 infer b8, ÷ onnxruntime', ratio(r50b8, 'onnxruntime'), 1.25, '×'),
    check('resnet50 infer b1, ÷ onnxruntime', ratio(r50b1, 'onnxruntime'), 1.0, '×'),
    check('resnet18 train b32, ÷ PyTorch', ratio(r18, 'torch'), 1.5, '×'),
    check(
      'resnet18 train b32, peak RSS ÷ PyTorch',
      ours18 && torch18 ? ours18.peak_rss_mb / torch18.peak_rss_mb : null,
      1.0,
      '×',
      false,
    ),
  ];
}

function memoryLines(): string[] {
  const lines = ['| workload | buffer reuse | MB newly allocated per step | peak RSS MB |', '|---|---|---:|---:|'];
  for (const r of rows.filter((row) => row.noPool)) {
    for (const [label, m] of [
      ['off (RESNET_POOL=0 / --no-pool)', r.noPool],
      ['on (default)', r.ours],
    ] as const) {
      if (!m || m instanceof Error) continue;
      lines.push(`| ${title(r.workload)} | ${label} | ${fmt(m.alloc_mb_per_iter)} | ${fmt(m.peak_rss_mb, 0)} |`);
    }
    const t = r.peers.find((p) => p.name === 'torch')?.result;
    if (t && typeof t !== 'string' && !(t instanceof Error)) {
      lines.push(`| ${title(r.workload)} | ${t.engine} | – | ${fmt(t.peak_rss_mb, 0)} |`);
    }
  }
  return lines;
}

const command =
  `npx tsx bench/run.ts${quick ? ' --quick' : ''}${values.threads ? ` --threads ${threads}` : ''}` +
  `${rounds > 1 ? ` --rounds ${rounds}` : ''}`;
const report = [
  '# Benchmark results',
  '',
  `Written by \`${command}\` (\`npm run bench\`) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  '',
  ...(quick ? ['**--quick run: tiny images and one iteration; the figures say nothing about speed.**', ''] : []),
  ...machine.map((m) => `- ${m}`),
  `- ORT: onnxruntime-node on the model exported by \`exportOnnx\` (src/io/onnx/export.ts), graph optimisation "all".`,
  '- PyTorch: bench/torch_bench.py under /usr/bin/python3, `torch.set_num_threads`, `inference_mode` for inference.',
  '- resnet-ts: the `resnet bench` command as installed (bin/resnet.js, dist/ built at the start of the run).',
  "- Every engine runs in its own process. img/s uses the median iteration; peak RSS is the process's resident",
  '  high-water mark, VmHWM in /proc/self/status, model construction included. Training steps are SGD with',
  '  momentum 0.9 and weight decay 1e-4.',
  `- The machine is shared with other jobs: compare ratios within this run, not with other runs. ${rounds} round(s):`,
  '  the engines take turns and each keeps its fastest round.',
  '',
  '## Throughput',
  '',
  ...tableLines(rows),
  '',
  '## Targets',
  '',
  ...targetLines(),
  '',
  '## Memory',
  '',
  'Op outputs and gradients come from a buffer pool (src/tensor/pool.ts); each step runs in a `stepScope` that',
  'hands them back, and intermediate gradients go back as soon as backward has used them.',
  '',
  ...memoryLines(),
  '',
  '## FMA peak and GEMM (bench/gemm.ts)',
  '',
  '```',
  gemmText,
  '```',
  '',
].join('\n');
writeFileSync(values.out ?? '', report);
// The lint step formats markdown under bench/: pad the tables its way now, so a fresh RESULTS.md passes it.
const formatted = run('npx', ['biome', 'format', '--write', values.out ?? '']);
if (!formatted.ok) console.error(`biome format ${values.out}: ${formatted.stderr.trim()}`);
console.log(`\n${targetLines().join('\n')}\n\n${memoryLines().join('\n')}\n\nwrote ${values.out}`);
