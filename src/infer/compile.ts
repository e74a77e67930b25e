// compileForInference: turns a torchvision ResNet or a CIFAR ResNet into a plain function for eval-mode forward
// passes. BN is folded into the convolutions, and each conv→BN(→add)(→ReLU) runs as one fused kernel call
// (Kernels.conv2dFused); activations live in a pool of reused buffers, so repeated calls allocate only the result.
import { kernels } from '../backend/index.ts';
import type { BlockedKernels, ConvGeometry, Kernels } from '../backend/kernels.ts';
import { CifarResNet, ShortcutA } from '../models/cifar.ts';
import type { Classifier } from '../models/registry.ts';
import { BasicBlock, Bottleneck, ResNet } from '../models/resnet.ts';
import { type Conv2d, Linear, type MaxPool2d, Sequential } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { poolGeometry } from '../ops/maxPool2d.ts';
import { shapeString, Tensor } from '../tensor/tensor.ts';
import { type FoldedConv, foldBatchNorm, foldedGeometry } from './foldBatchNorm.ts';

/**
 * An activation: a buffer from the pool (or the caller's input) with its NCHW shape, its data in NCHW order or, when
 * `blocked`, in the backend's blocked layout (Kernels.blocked).
 */
interface Act {
  data: Float32Array;
  shape: readonly number[];
  pooled: boolean;
  blocked?: boolean;
}

/** Free buffers by length: a forward pass of the same batch size reuses every buffer of the one before. */
class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();

  acquire(shape: readonly number[]): Act {
    const length = shape.reduce((a, b) => a * b, 1);
    const data = this.free.get(length)?.pop() ?? new Float32Array(length);
    return { data, shape, pooled: true };
  }

  release(a: Act): void {
    if (!a.pooled) return;
    const list = this.free.get(a.data.length);
    if (list) list.push(a.data);
    else this.free.set(a.data.length, [a.data]);
  }
}

/** One stage of the forward: its input stays the caller's, unless the step returns it with its buffer taken over. */
type Step = (x: Act) => Act;

interface Context {
  k: Kernels;
  /** The blocked kernels when the forward runs on blocked activations (from the stem's output to the pooling). */
  blocked: BlockedKernels | null;
  pool: BufferPool;
  /** Called after each kernel call with its name ('layer1.0.conv1+bn1'), kind and milliseconds, when profiling. */
  onStep?: StepTimer;
}

/** Receives the time of each kernel call of a compiled forward: see compileForInference's `onStep`. */
export type StepTimer = (name: string, kind: string, ms: number) => void;

// Runs fn, reporting its time to ctx.onStep when set.
function timed<T>(ctx: Context, name: string, kind: string, fn: () => T): T {
  if (!ctx.onStep) return fn();
  const started = performance.now();
  const result = fn();
  ctx.onStep(name, kind, performance.now() - started);
  return result;
}

// What a convolution needs for an input of one shape and layout, found at its first call with them: geometry,
// output shape and packed weights. Later calls look it up (the layout query alone was a native call each time:
// 0.8 ms of a 235 ms batch-8 forward).
interface ConvPlan {
  g: ConvGeometry;
  shape: number[];
  packed: Float32Array;
}
const plans = new WeakMap<FoldedConv, Map<string, ConvPlan>>();

function planFor(ctx: Context, f: FoldedConv, x: Act): ConvPlan {
  let byInput = plans.get(f);
  if (!byInput) {
    byInput = new Map();
    plans.set(f, byInput);
  }
  const key = `${x.shape.join(',')}${x.blocked ? ' blocked' : ''}`;
  let plan = byInput.get(key);
  if (!plan) {
    const g = foldedGeometry(f, x.shape);
    const b = x.blocked ? ctx.blocked : null;
    // Packed once per layout: later calls read the weights in the kernel's layout directly. Winograd's F(2×2, 3×3)
    // and F(4×4, 3×3) packings each run any input size, so one of them serves both: a server whose batches vary
    // holds at most two packings of a layer (resnet50's layer4: 9.4 MB as GEMM operands, 17 or 38 MB transformed).
    // The blocked layout's are kept apart from the NCHW ones.
    const layout = b ? `blocked-${b.convLayout(g)}` : ctx.k.conv2dPackedLayout(g);
    const family = layout.startsWith('winograd') ? 'winograd' : layout;
    let packed = f.packed.get(family);
    if (!packed) {
      packed = b ? b.packConv(g, f.weight) : ctx.k.packConv2dWeight(g, f.weight);
      f.packed.set(family, packed);
    }
    plan = { g, shape: [g.n, g.oc, g.oh, g.ow], packed };
    byInput.set(key, plan);
  }
  return plan;
}

// y = act(conv(x) + bias (+ residual)); x stays owned by the caller. A residual from the pool is overwritten by y:
// y then takes its buffer, and the lines the kernel reads for the add are the lines it writes, where a separate
// output would first be read from memory to be written (resnet50's layer1 conv3 at batch 8, 25.7 MB out: 5.7 ms →
// 4.7 per call). A caller that passes a pooled residual gives it up.
function fusedConv(ctx: Context, f: FoldedConv, x: Act, relu: boolean, residual: Act | null = null): Act {
  const { g, shape, packed: w } = planFor(ctx, f, x);
  // Checked before y may take the residual's buffer, where comparing the two would compare it with itself.
  if (residual && residual.data.length !== g.n * g.oc * g.oh * g.ow) {
    throw new Error(
      `compileForInference: ${f.name}: residual ${shapeString(residual.shape)} does not match ${shapeString(shape)}`,
    );
  }
  if (residual && Boolean(residual.blocked) !== Boolean(x.blocked)) {
    throw new Error(`compileForInference: ${f.name}: residual and input are in different layouts`);
  }
  const y = residual?.pooled ? { ...residual, shape } : ctx.pool.acquire(shape);
  const b = x.blocked ? ctx.blocked : null;
  if (b) y.blocked = true;
  const r = residual?.data ?? null;
  const kind = `conv${g.kh}x${g.kw}${g.strideH > 1 ? `/${g.strideH}` : ''}${residual ? '+add' : ''}${relu ? '+relu' : ''}`;
  timed(ctx, f.name, kind, () =>
    b ? b.conv(g, x.data, w, f.bias, r, relu, y.data) : ctx.k.conv2dFusedPacked(g, x.data, w, f.bias, r, relu, y.data),
  );
  return y;
}

function conv(conv: Conv2d, norm: Module, name: string): FoldedConv {
  return foldBatchNorm(conv, norm, name);
}

function shortcutA(ctx: Context, s: ShortcutA, x: Act): Act {
  const [n, c, h, w] = x.shape;
  const [oh, ow, oc] = [Math.ceil(h / s.stride), Math.ceil(w / s.stride), c + 2 * s.padChannels];
  const y = ctx.pool.acquire([n, oc, oh, ow]);
  y.data.fill(0);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const xo = (b * c + ch) * h * w;
      const yo = (b * oc + ch + s.padChannels) * oh * ow;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) y.data[yo + oy * ow + ox] = x.data[xo + oy * s.stride * w + ox * s.stride];
      }
    }
  }
  return y;
}

/** The shortcut of a block: identity, option-A padding, or a 1×1 conv + BN folded into one call. */
function shortcutStep(ctx: Context, downsample: Module | null, name: string): ((x: Act) => Act) | null {
  if (!downsample) return null;
  if (downsample instanceof ShortcutA) {
    return (x) => timed(ctx, `${name}.downsample`, 'shortcutA', () => shortcutA(ctx, downsample, x));
  }
  if (downsample instanceof Sequential && downsample.length === 2) {
    const f = conv(downsample.at(0) as Conv2d, downsample.at(1), `${name}.downsample`);
    return (x) => fusedConv(ctx, f, x, false);
  }
  throw new Error(`compileForInference: ${name}.downsample must be conv1x1 + BatchNorm2d or an option-A shortcut`);
}

function blockStep(ctx: Context, block: Module, name: string): Step {
  if (block instanceof BasicBlock) {
    const c1 = conv(block.conv1, block.bn1, `${name}.conv1+bn1`);
    const c2 = conv(block.conv2, block.bn2, `${name}.conv2+bn2`);
    const shortcut = shortcutStep(ctx, block.downsample, name);
    return (x) => {
      const a = fusedConv(ctx, c1, x, true);
      const identity = shortcut ? shortcut(x) : x;
      const y = fusedConv(ctx, c2, a, true, identity);
      ctx.pool.release(a);
      return y;
    };
  }
  if (block instanceof Bottleneck) {
    const c1 = conv(block.conv1, block.bn1, `${name}.conv1+bn1`);
    const c2 = conv(block.conv2, block.bn2, `${name}.conv2+bn2`);
    const c3 = conv(block.conv3, block.bn3, `${name}.conv3+bn3`);
    const shortcut = shortcutStep(ctx, block.downsample, name);
    return (x) => {
      const a = fusedConv(ctx, c1, x, true);
      const b = fusedConv(ctx, c2, a, true);
      ctx.pool.release(a);
      const identity = shortcut ? shortcut(x) : x;
      const y = fusedConv(ctx, c3, b, true, identity);
      ctx.pool.release(b);
      return y;
    };
  }
  throw new Error(`compileForInference: ${name} is a ${block.constructor.name}, not a BasicBlock or Bottleneck`);
}

function maxPoolStep(ctx: Context, m: MaxPool2d): Step {
  // Values only: inference never reads the argmax indices.
  return (x) => {
    const g = poolGeometry(x.shape, m.options);
    const y = ctx.pool.acquire([g.n, g.c, g.oh, g.ow]);
    // A blocked forward takes the pooled stem output straight into its layout.
    const b = ctx.blocked;
    if (b) y.blocked = true;
    timed(ctx, 'maxpool', 'maxpool', () =>
      b ? b.maxPool2d(g, x.data, y.data) : ctx.k.maxPool2d(g, x.data, y.data, null),
    );
    return y;
  };
}

// fc as a 1×1 convolution [classes, features, 1, 1]: run on a [1, features, 1, N] image whose pixels are the batch,
// it gets packed weights like any convolution and is one GEMM per call (with the batch as the GEMM's rows: the
// 'gemm-rows' layout). As a plain GEMM its 1000×2048 weight was packed on every call, which cost more than the
// product: resnet50's at batch 1 took 1.2 ms, then 0.7 with pixels as columns, now 0.26 (onnxruntime 0.21-0.28;
// npx tsx bench/node_compare.ts --batch 1).
function classifierConv(fc: Linear): FoldedConv {
  const [classes, features] = fc.weight.shape;
  return {
    weight: fc.weight.data.slice(),
    bias: fc.bias ? fc.bias.data.slice() : new Float32Array(classes),
    weightShape: [classes, features, 1, 1],
    options: { stride: 1, padding: 0, dilation: 1, groups: 1 },
    name: 'fc',
    packed: new Map(),
  };
}

// b [cols, rows] = aᵀ for a [rows, cols] (row-major).
function transpose(a: Float32Array, rows: number, cols: number, b: Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) b[c * rows + r] = a[r * cols + c];
}

// Global average pooling then the classifier: (N, C, H, W) → (N, C) → (N, classes).
function headStep(ctx: Context, fc: Module | null): Step {
  if (fc !== null && !(fc instanceof Linear)) throw new Error('compileForInference: fc must be a Linear layer');
  const classifier = fc ? classifierConv(fc) : null;
  return (x) => {
    const [n, c, h, w] = x.shape;
    const pooled = ctx.pool.acquire([n, c]);
    const b = x.blocked ? ctx.blocked : null;
    timed(ctx, 'avgpool', 'avgpool', () =>
      b
        ? b.globalAvgPool(n, c, h, w, x.data, pooled.data)
        : ctx.k.adaptiveAvgPool2d(n * c, h, w, 1, 1, x.data, pooled.data),
    );
    if (!classifier) return pooled;
    // [N, C] → the [1, C, 1, N] image, and the [1, classes, 1, N] result back to [N, classes].
    const image = ctx.pool.acquire([1, c, 1, n]);
    transpose(pooled.data, n, c, image.data);
    ctx.pool.release(pooled);
    const out = fusedConv(ctx, classifier, image, false);
    ctx.pool.release(image);
    const classes = out.shape[1];
    const y = ctx.pool.acquire([n, classes]);
    transpose(out.data, classes, n, y.data);
    ctx.pool.release(out);
    return y;
  };
}

// NCHW activations into the blocked layout when this forward runs blocked: the stem's output where no max pool
// did it (CIFAR ResNets).
function toBlockedStep(ctx: Context): Step {
  return (x) => {
    const b = ctx.blocked;
    if (!b || x.blocked) return x;
    const [n, c, h, w] = x.shape;
    const y = ctx.pool.acquire(x.shape);
    y.blocked = true;
    timed(ctx, 'to-blocked', 'layout', () => b.toBlocked(n, c, h, w, x.data, y.data));
    return y;
  };
}

// Whether every convolution of the stages can run blocked: no option-A shortcut, channel counts multiples of 16, one
// group, no dilation (the stem's output feeds them, so its channels count too).
function blockable(model: ResNet | CifarResNet, stages: [Sequential, string][]): boolean {
  const undilated = (d: Conv2d['options']['dilation']) => (Array.isArray(d) ? d.every((v) => v === 1) : d === 1);
  const ok = (c: Conv2d) =>
    c.weight.shape[0] % 16 === 0 &&
    c.weight.shape[1] % 16 === 0 &&
    c.options.groups === 1 &&
    undilated(c.options.dilation);
  if (model.conv1.weight.shape[0] % 16 !== 0) return false;
  for (const [stage] of stages) {
    for (const block of stage.layers) {
      if (!(block instanceof BasicBlock || block instanceof Bottleneck)) return false;
      const convs = [block.conv1, block.conv2, ...(block instanceof Bottleneck ? [block.conv3] : [])];
      const d = block.downsample;
      if (d instanceof ShortcutA) return false;
      if (d instanceof Sequential) convs.push(d.at(0) as Conv2d);
      if (!convs.every(ok)) return false;
    }
  }
  return true;
}

/** Where compileForInference's forward keeps its activations: see its `layout` option. */
export type InferenceLayout = 'auto' | 'nchw' | 'blocked';

function stagesOf(model: Classifier): [Sequential, string][] {
  if (model instanceof ResNet) {
    return [
      [model.layer1, 'layer1'],
      [model.layer2, 'layer2'],
      [model.layer3, 'layer3'],
      [model.layer4, 'layer4'],
    ];
  }
  if (model instanceof CifarResNet) {
    return [
      [model.layer1, 'layer1'],
      [model.layer2, 'layer2'],
      [model.layer3, 'layer3'],
    ];
  }
  throw new Error(`compileForInference: ${model.constructor.name} is not a ResNet or CifarResNet`);
}

// The first two stages run on this many images at a time: their activations (resnet50's layer1 output is 3.2 MB an
// image) then stay in the last-level cache from one convolution to the next, where a batch of 8 went to memory and
// back; later stages, whose weights outweigh their activations, take the whole batch, so that each weight is read
// once. resnet50 at batch 8 (blocked): layer1 35.0-38.3 ms as 4 × 2 images against 38.0-38.9 at once, layer2
// 62.3-66.2 against 67.0-68.4, 3 alternating runs; the forward's best of 12, 5 alternating runs: 256-272 ms (median
// 259) with the first two stages 2 images at a time, 258-264 (262) 4 at a time, 260-272 (265) all 8 at once, where
// the whole network 2 images at a time took 280-284.
const kFrontStages = 2;
const kFrontImages = 2;

function defaultLayout(): InferenceLayout {
  const v = process.env.RESNET_INFER_LAYOUT;
  if (v === undefined || v === '') return 'auto';
  if (v === 'auto' || v === 'nchw' || v === 'blocked') return v;
  throw new Error(`RESNET_INFER_LAYOUT must be auto, nchw or blocked, got '${v}'`);
}

/**
 * Compiles `model` for eval-mode inference: returns f(x) with f(x) ≈ model.eval().forward(x) (logits, or features
 * when the model has no fc). Weights and BN statistics are copied (folded) now: compile again after changing them.
 * The model's own mode is left alone. Calls must not overlap (buffers are shared between calls). `onStep`, when
 * given, receives every kernel call's name, kind and time (resnet bench --mode infer --profile).
 *
 * `layout` (default: RESNET_INFER_LAYOUT, else 'auto') says where activations live between the stem and the pooling:
 * 'auto' keeps them in the backend's blocked layout (Kernels.blocked) where it has one and every convolution can run
 * there (channel counts multiples of 16, one group, no dilation, no option-A shortcut), else in NCHW; 'nchw' and
 * 'blocked' force one ('blocked' throws where it cannot run). resnet50 on the native backend, blocked against NCHW,
 * best forward of alternating runs: 237-239 ms against 283-284 at batch 8, 32.6 against 37.5 at batch 1.
 */
export function compileForInference(
  model: Classifier,
  { onStep, layout = defaultLayout() }: { onStep?: StepTimer; layout?: InferenceLayout } = {},
): (x: Tensor) => Tensor {
  const k = kernels();
  const m = model as ResNet | CifarResNet;
  const stages = stagesOf(model);
  const blocked = layout !== 'nchw' && blockable(m, stages) ? (k.blocked ?? null) : null;
  const ctx: Context = { k, blocked, pool: new BufferPool(), onStep };
  if (layout === 'blocked' && !blocked) {
    throw new Error(
      `compileForInference: layout 'blocked' needs the native backend and a model whose convolutions all have channel counts that are multiples of 16, one group and no dilation`,
    );
  }
  // The front (stem to the end of the first two stages) and the back of the network.
  const front: Step[] = [];
  const back: Step[] = [];
  const stem = conv(m.conv1, m.bn1, 'conv1+bn1');
  front.push((x) => fusedConv(ctx, stem, x, true));
  if (model instanceof ResNet) front.push(maxPoolStep(ctx, model.maxpool));
  front.push(toBlockedStep(ctx));
  stages.forEach(([stage, name], s) => {
    stage.layers.forEach((block, i) => {
      (s < kFrontStages ? front : back).push(blockStep(ctx, block, `${name}.${i}`));
    });
  });
  back.push(headStep(ctx, model.fc));
  const inChannels = m.conv1.weight.shape[1];
  // The steps in order on `a`, each step's input going back to the pool once the next has its output.
  const run = (steps: Step[], a: Act): Act => {
    for (const step of steps) {
      const next = step(a);
      if (next.data !== a.data) ctx.pool.release(a); // a block's output may have taken its input's buffer
      a = next;
    }
    return a;
  };
  return (x: Tensor) => {
    if (x.shape.length !== 4 || x.shape[1] !== inChannels) {
      throw new Error(`compileForInference: input must be [N, ${inChannels}, H, W], got ${shapeString(x.shape)}`);
    }
    const [n, ...image] = x.shape;
    let a: Act;
    if (n <= kFrontImages) {
      a = run(front, { data: x.data, shape: x.shape, pooled: false });
    } else {
      // The front a few images at a time, into one tensor for the back: see kFrontImages.
      const inImage = x.data.length / n;
      let whole: Act | null = null;
      for (let i0 = 0; i0 < n; i0 += kFrontImages) {
        const count = Math.min(kFrontImages, n - i0);
        const part = run(front, {
          data: x.data.subarray(i0 * inImage, (i0 + count) * inImage),
          shape: [count, ...image],
          pooled: false,
        });
        const outImage = part.data.length / count;
        if (!whole) {
          whole = ctx.pool.acquire([n, ...part.shape.slice(1)]);
          whole.blocked = part.blocked;
        }
        whole.data.set(part.data, i0 * outImage);
        ctx.pool.release(part);
      }
      a = whole as Act;
    }
    a = run(back, a);
    const out = new Tensor(a.data.slice(), a.shape);
    ctx.pool.release(a);
    return out;
  };
}
