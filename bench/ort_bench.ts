// onnxruntime-node's side of `npm run bench`: times inference of an ONNX file in its own process (so its peak RSS
// is its own) and prints one JSON line with the fields `resnet bench --json` prints.
// Run: npx tsx bench/ort_bench.ts --model FILE.onnx --batch 8 --size 224 --in-channels 3 --threads 2 --iters 5
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { peakRssMb } from '../src/cli/bench.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    batch: { type: 'string' },
    size: { type: 'string' },
    'in-channels': { type: 'string', default: '3' },
    threads: { type: 'string' },
    iters: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
  },
});
const count = (name: keyof typeof values): number => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`ort_bench: --${name} must be a whole number, got "${values[name]}"`);
  return v;
};
if (!values.model) throw new Error('ort_bench: --model FILE.onnx is required');
const [batch, size, inChannels, threads, iters, warmup] = (
  ['batch', 'size', 'in-channels', 'threads', 'iters', 'warmup'] as const
).map(count);

const MB = 1024 * 1024;
const session = await ort.InferenceSession.create(readFileSync(values.model), {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const x = new Float32Array(batch * inChannels * size * size);
for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, inChannels, size, size]) };
const rssModelMb = process.memoryUsage().rss / MB;
for (let i = 0; i < warmup; i++) await session.run(feeds);
const times: number[] = [];
for (let i = 0; i < iters; i++) {
  const started = performance.now();
  await session.run(feeds);
  times.push(performance.now() - started);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[sorted.length >> 1];
const version = JSON.parse(
  readFileSync(new URL('../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8'),
);
console.log(
  JSON.stringify({
    engine: `onnxruntime-node ${version.version}`,
    batch,
    size,
    mode: 'infer',
    threads,
    iters,
    img_per_s: (batch * 1000) / median,
    ms_per_iter: median,
    ms_min: sorted[0],
    ms_mean: times.reduce((s, t) => s + t, 0) / times.length,
    peak_rss_mb: peakRssMb(),
    rss_model_mb: rssModelMb,
  }),
);
