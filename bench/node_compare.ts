// Where inference time differs from onnxruntime-node's, layer by layer: the compiled resnet-ts forward's kernel
// calls beside onnxruntime's own profile of the same model (our ONNX export), summed by stage and role (conv1,
// conv2, conv3, downsample of each stage). Node names are matched as onnxruntime fuses Bottleneck nets.
// Run: npx tsx bench/node_compare.ts [--arch resnet50] [--batch 8] [--iters 6] [--threads 2]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../src/autograd/tape.ts';
import { setBackend } from '../src/backend/index.ts';
import { loadNativeAddon } from '../src/backend/native/addon.ts';
import { compileForInference } from '../src/infer/compile.ts';
import { exportOnnx } from '../src/io/onnx/export.ts';
import { buildModel } from '../src/models/registry.ts';
import { Tensor } from '../src/tensor/tensor.ts';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'resnet50' },
    batch: { type: 'string', default: '8' },
    iters: { type: 'string', default: '6' },
    threads: { type: 'string', default: '2' },
  },
});
const [batch, iters, threads] = [values.batch, values.iters, values.threads].map(Number);
const arch = values.arch as string;
const size = 224;

// Our kernel call names ('layer1.0.conv3+bn3') → the group they are reported in: stage and role.
function role(name: string): string {
  if (name === 'conv1+bn1') return 'stem conv7x7+bn+relu';
  const [stage, , part] = name.split('.');
  if (part === 'downsample') return `${stage} downsample`;
  return part ? `${stage} ${part.split('+')[0]}` : name;
}

// onnxruntime's fused node names, from our exporter's node names: a Conv with its BN and ReLU (or Add) folded in
// keeps the name of the last node of the group ('layer1.0.relu1', 'layer1.0.bn3'), plus '_nchwc' when reordered.
function ortRole(node: string): string {
  const name = node.replace(/_nchwc$/, '');
  if (name === 'relu') return 'stem conv7x7+bn+relu';
  if (name === 'maxpool' || name === 'fc' || name === 'avgpool') return name;
  const [stage, , part] = name.split('.');
  if (!stage.startsWith('layer') || !part) return name;
  if (part === 'downsample') return `${stage} downsample`;
  const index = part.replace(/^(relu|bn)/, '');
  return `${stage} conv${index}`;
}

function add(into: Map<string, number>, key: string, ms: number): void {
  into.set(key, (into.get(key) ?? 0) + ms);
}

const model = buildModel(arch);
model.eval();
const x = new Tensor(
  Float32Array.from({ length: batch * 3 * size * size }, () => Math.random() * 2 - 1),
  [batch, 3, size, size],
);

// resnet-ts: the compiled forward, every kernel call timed.
setBackend('native');
loadNativeAddon().binding?.setNumThreads(threads);
const ours = new Map<string, number>();
let timing = false;
const forward = compileForInference(model, {
  onStep: (name, _kind, ms) => {
    if (timing) add(ours, role(name), ms / iters);
  },
});
noGrad(() => {
  forward(x);
  timing = true;
  for (let i = 0; i < iters; i++) forward(x);
});

// onnxruntime: its profiler's per-node kernel times over the same number of runs after one warm-up.
const dir = mkdtempSync(join(tmpdir(), 'node-compare-'));
const file = join(dir, `${arch}.onnx`);
writeFileSync(file, exportOnnx(model, { inChannels: 3, imgSize: size }));
const session = await ort.InferenceSession.create(readFileSync(file), {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableProfiling: true,
  profileFilePrefix: join(dir, 'profile'),
});
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, [batch, 3, size, size]) };
for (let i = 0; i <= iters; i++) await session.run(feeds);
session.endProfiling();
const profileName = readdirSync(dir).find((f) => f.startsWith('profile') && f.endsWith('.json'));
if (!profileName) throw new Error(`node_compare: onnxruntime wrote no profile into ${dir}`);
const profileFile = join(dir, profileName);
type Event = { cat?: string; name: string; ts: number; dur: number };
const events = JSON.parse(readFileSync(profileFile, 'utf8')) as Event[];
const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts);
const timedFrom = runs[1].ts; // after the warm-up run
const theirs = new Map<string, number>();
for (const e of events) {
  if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= timedFrom) {
    add(theirs, ortRole(e.name.replace(/_kernel_time$/, '')), e.dur / 1000 / iters);
  }
}
rmSync(dir, { recursive: true, force: true });

const keys = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
const rows = keys.map((k) => [k, ours.get(k) ?? 0, theirs.get(k) ?? 0] as const);
const total = (i: 1 | 2) => rows.reduce((s, r) => s + r[i], 0);
console.log(`${arch}, batch ${batch}, ${threads} threads: ms per forward, mean of ${iters} runs`);
console.log(`${'group'.padEnd(24)} ${'resnet-ts'.padStart(10)} ${'onnxruntime'.padStart(12)} ${'ratio'.padStart(7)}`);
for (const [k, a, b] of rows) {
  const ratio = a > 0 && b > 0 ? (a / b).toFixed(2) : '–';
  console.log(`${k.padEnd(24)} ${a.toFixed(2).padStart(10)} ${b.toFixed(2).padStart(12)} ${ratio.padStart(7)}`);
}
console.log(`${'total'.padEnd(24)} ${total(1).toFixed(2).padStart(10)} ${total(2).toFixed(2).padStart(12)}`);
