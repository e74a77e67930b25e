// resnet bench: images per second of an eval-mode forward (infer) or of one SGD-with-momentum step (train) on
// synthetic data, with peak memory and, on request, a per-module profile.
import { readFileSync } from 'node:fs';
import { noGrad } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { loadNativeAddon } from '../backend/native/addon.ts';
import { compileForInference } from '../infer/compile.ts';
import { buildModel } from '../models/registry.ts';
import { formatProfile, type ProfileRow, Profiler } from '../nn/profile.ts';
import { crossEntropy } from '../ops/crossEntropy.ts';
import { SGD } from '../optim/sgd.ts';
import { poolStats, releaseGrads, setPoolEnabled, stepScope } from '../tensor/pool.ts';
import { Generator } from '../tensor/random.ts';
import { Tensor } from '../tensor/tensor.ts';
import { optionalInt, parse, requireString, UsageError } from './args.ts';

const usage =
  'resnet bench --arch NAME --batch B --size S --mode infer|train [--threads T] [--iters N] [--warmup W] ' +
  '[--in-channels C] [--num-classes K] [--no-fuse] [--no-pool] [--profile] [--json]';

export interface BenchOptions {
  arch: string;
  batch: number;
  size: number;
  mode: 'infer' | 'train';
  inChannels: number;
  numClasses: number;
  iters: number;
  warmup: number;
  /** Native pool size; undefined leaves RESNET_NUM_THREADS or the core count. */
  threads?: number;
  /** Reuse op buffers across iterations (src/tensor/pool.ts). */
  pool: boolean;
  /** infer through compileForInference (BN folded, fused conv kernels) rather than module by module. */
  fuse: boolean;
  profile: boolean;
}

export interface BenchResult {
  arch: string;
  batch: number;
  size: number;
  in_channels: number;
  mode: 'infer' | 'train';
  backend: string;
  threads: number;
  iters: number;
  img_per_s: number;
  /** Median over the timed iterations; min and mean beside it, since a shared machine is noisy. */
  ms_per_iter: number;
  ms_min: number;
  ms_mean: number;
  /** The process's high-water mark of resident memory (see peakRssMb). */
  peak_rss_mb: number;
  /** Resident memory once the model and inputs were built, before the first iteration. */
  rss_model_mb: number;
  /** Bytes newly allocated for op outputs and gradients per timed iteration (pool misses), and reused from it. */
  alloc_mb_per_iter: number;
  reused_mb_per_iter: number;
  pool: boolean;
  /** Whether infer ran the compiled, fused forward. */
  fused: boolean;
}

const MB = 1024 * 1024;

/**
 * This process's peak resident memory in MB: VmHWM from /proc/self/status, the high-water mark of the process's
 * own address space. getrusage's ru_maxrss is the fallback off Linux only: a spawned process inherits its parent's
 * mark there, so a benchmark driver's memory would show up in every child's figure.
 */
export function peakRssMb(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // Not Linux: fall through to getrusage.
  }
  return (process.resourceUsage().maxRSS * 1024) / MB;
}

/** Runs the benchmark; `profile` receives the per-module table when opts.profile is set. */
export function runBench(opts: BenchOptions, profile: (text: string) => void = console.log): BenchResult {
  setPoolEnabled(opts.pool);
  const native = loadNativeAddon().binding;
  const k = kernels();
  if (opts.threads !== undefined) {
    if (k.name !== 'native' || !native) throw new UsageError(`--threads needs the native backend (active: ${k.name})`);
    native.setNumThreads(opts.threads);
  }
  const threads = k.name === 'native' && native ? native.getNumThreads() : 1;

  const model = buildModel(opts.arch, { numClasses: opts.numClasses, inChannels: opts.inChannels });
  const rng = new Generator(0);
  const x = Tensor.zeros([opts.batch, opts.inChannels, opts.size, opts.size]);
  for (let i = 0; i < x.numel; i++) x.data[i] = rng.normal();
  const labels = Array.from({ length: opts.batch }, () => rng.int(opts.numClasses));

  // A profile of the compiled forward times its kernel calls (fused conv+BN(+add)(+ReLU) each); the module
  // profiler times everything else (training, or inference with --no-fuse).
  const fused = opts.mode === 'infer' && opts.fuse;
  const profiler = opts.profile && !fused ? new Profiler(model) : null;
  const steps = new Map<string, ProfileRow>();
  let timing = false;
  const onStep = (name: string, type: string, ms: number) => {
    if (!timing) return;
    const row = steps.get(name) ?? { name, type, forwardMs: 0, backwardMs: 0, forwardCalls: 0 };
    row.forwardMs += ms;
    row.forwardCalls++;
    steps.set(name, row);
  };
  const section = <T>(name: string, fn: () => T): T => (profiler ? profiler.section(name, fn) : fn());
  let step: () => void;
  if (opts.mode === 'train') {
    model.train();
    const params = model.parameters();
    const optimizer = new SGD(params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    step = () => {
      stepScope(() => {
        // Last step's gradients go back to the pool instead of to the garbage collector.
        releaseGrads(params);
        const logits = model.forward(x);
        const loss = section('loss', () => crossEntropy(logits, labels));
        loss.backward();
        section('optimizer', () => optimizer.step());
      });
    };
  } else {
    model.eval();
    // No step scope here: without a graph, each activation is garbage as soon as the next layer has read it, and
    // a scope would keep them all to the end of the pass. The compiled forward plans its own buffers.
    const forward = fused
      ? compileForInference(model, opts.profile ? { onStep } : {})
      : (t: Tensor) => noGrad(() => model.forward(t));
    step = () => {
      forward(x);
    };
  }
  const rssModelMb = process.memoryUsage().rss / MB;

  for (let i = 0; i < opts.warmup; i++) step();
  profiler?.attach();
  timing = true;
  const before = poolStats();
  const times: number[] = [];
  for (let i = 0; i < opts.iters; i++) {
    const started = performance.now();
    step();
    times.push(performance.now() - started);
  }
  const after = poolStats();
  timing = false;
  if (profiler) {
    profiler.detach();
    profile(formatProfile(profiler.rows(), opts.iters));
  } else if (opts.profile) {
    profile(formatProfile([...steps.values()], opts.iters, 25, 'kernel call'));
  }

  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  const perIter = (bytes: number) => bytes / opts.iters / MB;
  return {
    arch: opts.arch,
    batch: opts.batch,
    size: opts.size,
    in_channels: opts.inChannels,
    mode: opts.mode,
    backend: k.name,
    threads,
    iters: opts.iters,
    img_per_s: (opts.batch * 1000) / median,
    ms_per_iter: median,
    ms_min: sorted[0],
    ms_mean: times.reduce((s, t) => s + t, 0) / times.length,
    peak_rss_mb: peakRssMb(),
    rss_model_mb: rssModelMb,
    alloc_mb_per_iter: perIter(after.freshBytes - before.freshBytes),
    reused_mb_per_iter: perIter(after.reusedBytes - before.reusedBytes),
    pool: opts.pool,
    fused,
  };
}

export function benchCommand(argv: string[]): void {
  const { values } = parse(
    argv,
    {
      arch: { type: 'string' },
      batch: { type: 'string' },
      size: { type: 'string' },
      mode: { type: 'string' },
      threads: { type: 'string' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      'in-channels': { type: 'string' },
      'num-classes': { type: 'string' },
      'no-pool': { type: 'boolean' },
      'no-fuse': { type: 'boolean' },
      profile: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    usage,
  );
  const arch = requireString(values, 'arch', usage);
  const mode = requireString(values, 'mode', usage);
  if (mode !== 'infer' && mode !== 'train') throw new UsageError(`--mode must be infer or train, got "${mode}"`);
  const batch = optionalInt(values, 'batch');
  const size = optionalInt(values, 'size');
  if (batch === undefined) throw new UsageError(`missing --batch\n\nusage: ${usage}`);
  if (size === undefined) throw new UsageError(`missing --size\n\nusage: ${usage}`);
  if (mode === 'train' && batch < 2) throw new UsageError('--batch must be ≥ 2 for --mode train (batch norm)');
  const result = runBench({
    arch,
    batch,
    size,
    mode,
    inChannels: optionalInt(values, 'in-channels') ?? 3,
    numClasses: optionalInt(values, 'num-classes') ?? (arch.match(/^resnet(20|32|44|56|110)$/) ? 10 : 1000),
    iters: optionalInt(values, 'iters') ?? (mode === 'train' ? 5 : 10),
    warmup: optionalInt(values, 'warmup', 0) ?? (mode === 'train' ? 1 : 2),
    threads: optionalInt(values, 'threads'),
    pool: values['no-pool'] !== true,
    fuse: values['no-fuse'] !== true,
    profile: values.profile === true,
  });
  if (values.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const what =
    mode === 'train' ? 'SGD step' : result.fused ? 'eval forward, compiled (BN folded, fused)' : 'eval forward';
  console.log(
    `${arch} ${what}, batch ${batch}, ${result.in_channels}×${size}×${size}, backend ${result.backend}, ${result.threads} thread(s)`,
  );
  console.log(
    `${result.img_per_s.toFixed(2)} img/s, ${result.ms_per_iter.toFixed(1)} ms/iter median ` +
      `(min ${result.ms_min.toFixed(1)}, mean ${result.ms_mean.toFixed(1)}) over ${result.iters}`,
  );
  console.log(
    `peak RSS ${result.peak_rss_mb.toFixed(0)} MB (model and input ${result.rss_model_mb.toFixed(0)} MB); ` +
      `per iteration ${result.alloc_mb_per_iter.toFixed(1)} MB newly allocated, ${result.reused_mb_per_iter.toFixed(1)} MB reused`,
  );
}
