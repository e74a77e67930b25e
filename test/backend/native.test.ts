// The native backend against the js reference, kernel by kernel, on odd shapes (primes, 1s, batch 1, groups,
// strides, dilation). Tolerance: 1e-5 relative to max |reference| (float32 vs float64 accumulation).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsKernels } from '../../src/backend/js/index.ts';
import type { ConvGeometry } from '../../src/backend/kernels.ts';
import { nativeKernels } from '../../src/backend/native/index.ts';
import { convGeometry } from '../../src/ops/conv2d.ts';
import { Generator } from '../../src/tensor/random.ts';
import { assertClose } from '../helpers.ts';

const native = nativeKernels();
const rng = new Generator(7);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
/** Seeds rng from a case's description, so that each case draws the same data whatever runs before it. */
function seedFor(description: string): void {
  let h = 2166136261;
  for (let i = 0; i < description.length; i++) h = Math.imul(h ^ description.charCodeAt(i), 16777619);
  rng.manualSeed(h >>> 0);
}

type Case = [x: number[], w: number[], opts: { stride?: number; padding?: number; dilation?: number; groups?: number }];
const cases: Case[] = [
  [[1, 3, 13, 11], [5, 3, 7, 7], { stride: 2, padding: 3 }],
  [[2, 7, 9, 9], [11, 7, 3, 3], { padding: 1 }],
  [[1, 8, 10, 7], [6, 8, 3, 3], { stride: 2, padding: 1 }],
  [[3, 5, 6, 6], [13, 5, 1, 1], {}],
  [[1, 6, 9, 9], [4, 6, 1, 1], { stride: 2 }],
  // 1×1 with a stride (downsample shortcuts) read straight from the input: the GEMM layout (8×8 = 64 outputs, an odd
  // input width, over the 160 taps of the strided direct kernel) and a stride of 3 (gemm-rows).
  [[2, 168, 16, 15], [16, 168, 1, 1], { stride: 2 }],
  [[1, 8, 13, 13], [5, 8, 1, 1], { stride: 3 }],
  [[2, 8, 7, 5], [8, 2, 3, 3], { padding: 1, groups: 4 }],
  [[1, 4, 11, 11], [4, 4, 3, 3], { padding: 2, dilation: 2 }],
  [[1, 1, 1, 1], [1, 1, 1, 1], {}],
  // Batches of several images: threads take whole images, and dw is summed from per-thread parts.
  [[4, 3, 17, 17], [5, 3, 3, 3], { padding: 1 }],
  [[6, 5, 8, 8], [7, 5, 1, 1], {}],
  [[5, 4, 9, 9], [6, 2, 3, 3], { stride: 2, padding: 2, dilation: 2, groups: 2 }],
  [[2, 3, 23, 19], [8, 3, 7, 7], { stride: 2, padding: 3 }],
  [[3, 16, 7, 7], [16, 16, 3, 3], { padding: 1 }],
  // Big enough that the native kernels unfold a band of output rows at a time (uneven last band).
  [[1, 16, 40, 40], [8, 16, 3, 3], { padding: 1 }],
  [[2, 8, 61, 61], [4, 8, 7, 7], { stride: 2, padding: 3 }],
  // Stride 2 with at most 160 taps (C·KH·KW) runs the strided direct kernel forward (direct.cc, input split into
  // column phases): stems of 3 and 1 channels with whole images per thread and output channels that leave partial
  // blocks, and a dilated 3×3 (every tap in one phase). The 7×7 stride-2 cases above take it too (b1: threads share
  // the image); [2,8,61,61] (392 taps) stays im2col + GEMM.
  [[4, 3, 40, 37], [10, 3, 7, 7], { stride: 2, padding: 3 }],
  [[3, 1, 30, 29], [16, 1, 7, 7], { stride: 2, padding: 3 }],
  [[2, 2, 19, 23], [5, 2, 3, 3], { stride: 2, padding: 2, dilation: 2 }],
  // Output planes of at most 64 pixels (K ≤ 2304) run several images per GEMM in training (conv.cc): one chunk the
  // threads share (3 images of 7×7, in place of Winograd), 4 chunks of 6, 6, 6 and 2 images taken whole by the
  // threads (dilated), and a strided forward whose backward passes are batched (2 chunks).
  [[3, 64, 7, 7], [64, 64, 3, 3], { padding: 1 }],
  [[20, 8, 7, 7], [12, 8, 3, 3], { padding: 2, dilation: 2 }],
  [[9, 16, 14, 14], [20, 16, 3, 3], { stride: 2, padding: 1 }],
  // Inputs smaller than the kernel's reach: some taps see only padding.
  [[2, 3, 1, 1], [4, 3, 3, 3], { padding: 1 }],
  [[1, 2, 2, 2], [3, 2, 3, 3], { padding: 1 }],
  [[1, 2, 1, 3], [2, 2, 3, 3], { padding: 2, dilation: 2 }],
  // 3×3 stride-1 padding-1 with fewer than 64 channels runs the direct kernel (direct.cc) forward and for dx: CIFAR
  // widths shared across threads (5 images on 2) and image by image, rows wider than two vectors, output channels
  // that leave a partial block of 8 (AVX-512) and of 6 (AVX2).
  [[5, 16, 28, 28], [32, 16, 3, 3], { padding: 1 }],
  [[4, 32, 14, 33], [10, 32, 3, 3], { padding: 1 }],
  [[2, 63, 5, 17], [64, 63, 3, 3], { padding: 1 }],
  // 3×3 stride-1 padding-1 training batches with 8+ input channels, and fewer than 64 channels or output planes of
  // at most 8×8, run with images in the vector lanes (lanes.cc), all three passes. L = 16 (AVX-512) or 8 (AVX2)
  // images per group: 12 images (one group with empty lanes that the threads share / two whole groups), 30 (16 + 14
  // / 8 + 8 + 8 + 6: a partial last group, lanes not a multiple of 4), 64 channels on a 5×6 plane, 64 images (4 or 8
  // groups), and 40 channels on 20×20, whose tiles run in bands of 7 or 16 rows; rows not a multiple of 4 pixels, an
  // odd pixel count, output channels that leave partial blocks.
  [[12, 8, 13, 11], [7, 8, 3, 3], { padding: 1 }],
  [[30, 32, 7, 7], [20, 32, 3, 3], { padding: 1 }],
  [[16, 72, 5, 6], [64, 72, 3, 3], { padding: 1 }],
  [[64, 8, 4, 6], [5, 8, 3, 3], { padding: 1 }],
  [[12, 40, 20, 20], [8, 40, 3, 3], { padding: 1 }],
  // Where Winograd F(4×4, 3×3) pays (16+ channels, planes of 7×7 and up), the lanes forward and dx run it: resnet20's
  // first stage (28 images: a partial group; each row of tiles a band of its own), planes of 9×11 (a last row and
  // column of tiles with 1 and 3 outputs) with output channels that leave partial blocks, and 64 channels at 7×7.
  // With C·OC ≤ 64² dw runs it too, its transformed tiles gathered across rows and groups: at 28×28 the gather fills
  // in the middle of a group; 64 channels at 7×7 gather 2 or 5 groups' tiles; 20 → 28 channels on 13×13 leave
  // partial blocks of both (6 × 4 with AVX-512, 4 × 3 with AVX2); 8 images of 16 channels are one AVX2 group, whose
  // transforms and products the threads share.
  [[28, 16, 28, 28], [16, 16, 3, 3], { padding: 1 }],
  [[16, 24, 9, 11], [17, 24, 3, 3], { padding: 1 }],
  [[30, 64, 7, 7], [64, 64, 3, 3], { padding: 1 }],
  [[24, 20, 13, 13], [28, 20, 3, 3], { padding: 1 }],
  [[8, 16, 12, 12], [16, 16, 3, 3], { padding: 1 }],
  // Stride 2 in the lanes forward and dw (dx keeps the im2col path): odd input sizes, and 32 -> 64 channels to 7×7.
  [[12, 8, 13, 11], [7, 8, 3, 3], { stride: 2, padding: 1 }],
  [[30, 32, 14, 14], [64, 32, 3, 3], { stride: 2, padding: 1 }],
  // Pointwise with one K block and more columns than a GEMM column block (4096) and a B panel group (half of L2):
  // whole rows of C per A panel, in several groups with a partial last one.
  [[1, 120, 97, 97], [20, 120, 1, 1], {}],
  // One image in 4 bands of 8 output rows (im2col kept to L2): the threads take whole bands.
  [[1, 128, 64, 64], [16, 128, 3, 3], { stride: 2, padding: 1 }],
];

/** Forward, dx and dw of conv2d on random data: native against the js reference, rtol 1e-5 unless given. */
function checkConvAgainstJs(xs: readonly number[], ws: readonly number[], g: ConvGeometry, rtol = 1e-5): void {
  assert.ok(native);
  seedFor(JSON.stringify([xs, ws, g]));
  const x = randn(xs.reduce((a, b) => a * b));
  const w = randn(ws.reduce((a, b) => a * b));
  const bias = randn(g.oc);
  const ySize = g.n * g.oc * g.oh * g.ow;
  const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
  jsKernels.conv2d(g, x, w, bias, y1);
  native.conv2d(g, x, w, bias, y2);
  assertClose(y2, y1, { rtol, what: 'y' });
  const dy = randn(ySize);
  const [dx1, dx2] = [new Float32Array(x.length), new Float32Array(x.length)];
  const [dw1, dw2] = [new Float32Array(w.length), new Float32Array(w.length)];
  jsKernels.conv2dBackward(g, dy, x, w, dx1, false, dw1);
  native.conv2dBackward(g, dy, x, w, dx2, false, dw2);
  assertClose(dx2, dx1, { rtol, what: 'dx' });
  assertClose(dw2, dw1, { rtol, what: 'dw' });
  // Each gradient alone, and dx added to one already there: in both backends, against dx + prior.
  const prior = randn(x.length);
  const sum = dx1.map((v, i) => v + prior[i]);
  const [dx3, dx4] = [prior.slice(), prior.slice()];
  jsKernels.conv2dBackward(g, dy, x, w, dx3, true, null);
  native.conv2dBackward(g, dy, x, w, dx4, true, null);
  assertClose(dx3, sum, { rtol, what: 'dx accumulated (js)' });
  assertClose(dx4, sum, { rtol, what: 'dx accumulated' });
  const dw3 = new Float32Array(w.length);
  native.conv2dBackward(g, dy, x, w, null, false, dw3);
  assertClose(dw3, dw1, { rtol, what: 'dw alone' });
}

/**
 * conv2dFusedPacked with weights from packConv2dWeight against the js reference's conv2dFused, with bias, residual
 * and ReLU together and with none of them, or (`every`) with each combination. Tolerance rtol relative to max |y|.
 */
function checkPackedAgainstJs(g: ConvGeometry, rtol: number, every: boolean): void {
  assert.ok(native);
  const x = randn(g.n * g.c * g.h * g.w);
  const w = randn(g.oc * (g.c / g.groups) * g.kh * g.kw);
  const packed = native.packConv2dWeight(g, w);
  const ySize = g.n * g.oc * g.oh * g.ow;
  const bias = randn(g.oc);
  const residual = randn(ySize);
  const combinations = every
    ? ([
        [bias, residual, true],
        [null, residual, false],
        [bias, null, true],
        [null, null, false],
      ] as const)
    : ([
        [bias, residual, true],
        [null, null, false],
      ] as const);
  for (const [b, r, relu] of combinations) {
    const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
    jsKernels.conv2dFused(g, x, w, b, r, relu, y1);
    native.conv2dFusedPacked(g, x, packed, b, r, relu, y2);
    assertClose(y2, y1, { rtol, what: `y (bias ${!!b}, residual ${!!r}, relu ${relu})` });
  }
}

describe('native backend matches js', { skip: native ? false : 'native addon not built' }, () => {
  for (const [xs, ws, opts] of cases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv2d x=[${xs}] w=[${ws}] s=${g.strideH} p=${g.padH} d=${g.dilationH} g=${g.groups}: forward, dx (+=), dw`, () => {
      checkConvAgainstJs(xs, ws, g);
    });
    test(`conv2dFused x=[${xs}] w=[${ws}] s=${g.strideH} p=${g.padH} d=${g.dilationH} g=${g.groups}: bias, residual, relu`, () => {
      assert.ok(native);
      const x = randn(xs.reduce((a, b) => a * b));
      const w = randn(ws.reduce((a, b) => a * b));
      const bias = randn(g.oc);
      const ySize = g.n * g.oc * g.oh * g.ow;
      const residual = randn(ySize);
      for (const [b, r, relu] of [
        [bias, residual, true],
        [null, residual, false],
        [bias, null, true],
        [null, null, false],
      ] as const) {
        const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
        jsKernels.conv2dFused(g, x, w, b, r, relu, y1);
        native.conv2dFused(g, x, w, b, r, relu, y2);
        assertClose(y2, y1, { rtol: 1e-5, what: `y (bias ${!!b}, residual ${!!r}, relu ${relu})` });
      }
      const [y1, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
      jsKernels.conv2dFused(g, x, w, bias, residual, true, y1);
      native.conv2dFusedPacked(g, x, native.packConv2dWeight(g, w), bias, residual, true, y2);
      assertClose(y2, y1, { rtol: 1e-5, what: 'y (packed weights)' });
    });
  }
  // 3×3 stride-1 padding-1 convolutions with C, OC ≥ 64 take the Winograd path from 48 output tiles (2×2 each) up,
  // in conv2dFusedPacked (packed for such a geometry) as in conv2d and conv2dBackward.
  // F(4×4, 3×3) runs packed weights from 32 of its tiles and per-call weights from 256, F(2×2, 3×3) the rest and every
  // weight gradient. Odd sizes (partial edge tiles), 1×1 and 2×3 inputs (all padding around; im2col + GEMM, or the
  // Winograd packings of the next test), and a batch whose tiles are cut into chunks of 256 mid tile-row and across
  // images. Tolerance 3e-5 relative to max |reference|: F(4×4, 3×3)'s transforms scale the rounding error of its
  // 576-term sums, and the dx of [4,64,33,31] measured 5e-6 to 1.1e-5 over 12 seeds (F(2×2, 3×3) about 1e-6).
  const winogradCases: Case[] = [
    [[3, 64, 37, 29], [64, 64, 3, 3], { padding: 1 }],
    // 288 tiles of 4×4: F(4×4, 3×3) for per-call weights too (forward and dx); the rest run F(2×2, 3×3) per call.
    [[4, 64, 33, 31], [64, 64, 3, 3], { padding: 1 }],
    [[4, 96, 9, 7], [64, 96, 3, 3], { padding: 1 }],
    [[2, 64, 14, 14], [128, 64, 3, 3], { padding: 1 }],
    // 49 tiles of 2×2, just over the 48 from which Winograd runs: resnet50's layer3 at batch 1.
    [[1, 64, 14, 14], [72, 64, 3, 3], { padding: 1 }],
    [[2, 64, 1, 1], [64, 64, 3, 3], { padding: 1 }],
    [[1, 64, 2, 3], [72, 64, 3, 3], { padding: 1 }],
  ];
  for (const [xs, ws, opts] of winogradCases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv2d (Winograd) x=[${xs}] w=[${ws}] p=1: forward, dx (+=), dw`, () => {
      checkConvAgainstJs(xs, ws, g, 3e-5);
    });
    test(`conv2dFusedPacked x=[${xs}] w=[${ws}] p=1 (${native?.conv2dPackedLayout(g)}): bias, residual, relu`, () => {
      checkPackedAgainstJs(g, 3e-5, false);
    });
  }

  // Output planes that the GEMM's column panels (32, 16 or 8 wide) would pad by 10% or more take the GEMM with the
  // output pixels as its rows (gemm-rows) in conv2dFusedPacked: pointwise convolutions as one product over the batch,
  // whose 8-row panels cross from one image into the next when P is not a multiple of 8; the others image by image,
  // rows gathered from the padded image. Odd channel counts leave partial panels of both operands. Tolerance 1e-5 relative to max |reference|, as for the other
  // GEMM paths: the sums run over all of K in one go, in another order than the js reference's.
  const rowsCases: Case[] = [
    [[3, 13, 5, 5], [37, 13, 1, 1], {}], // P = 25: rows of image 0 and 1 share a panel
    [[2, 200, 9, 9], [40, 200, 1, 1], { stride: 2 }], // a downsample shortcut, P = 25
    [[2, 64, 13, 13], [70, 64, 3, 3], { padding: 1, stride: 2 }], // resnet50's layer4.0 3×3 at batch 2: tiles of 7 rows
    [[1, 64, 3, 11], [35, 64, 1, 1], {}], // P = 33, with every instruction set's panel width
    [[1, 460, 5, 5], [70, 460, 3, 3], { padding: 1 }], // K = 4140: K in blocks (B panels over a quarter of L2)
    [[5, 70, 1, 1], [1000, 70, 1, 1], {}], // a classifier as a 1×1 convolution: the batch is the pixels
  ];
  for (const [xs, ws, opts] of rowsCases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv2dFusedPacked x=[${xs}] w=[${ws}] s=${g.strideH} p=${g.padH} (gemm-rows): bias, residual, relu`, () => {
      assert.equal(native?.conv2dPackedLayout(g), 'gemm-rows');
      checkPackedAgainstJs(g, 1e-5, true);
    });
  }
  // ReLU keeps NaN (as torch.relu does) in the rows layout's transposed store too: a NaN input pixel makes NaN every
  // output at that pixel, through bias, residual and the ReLU, on every instruction set's store.
  test('conv2dFusedPacked x=[2,16,5,5] w=[40,16,1,1] (gemm-rows) with a NaN pixel: NaN outputs there, as in js', () => {
    assert.ok(native);
    const g = convGeometry([2, 16, 5, 5], [40, 16, 1, 1], {});
    assert.equal(native.conv2dPackedLayout(g), 'gemm-rows');
    const x = randn(2 * 16 * 25);
    x[16 * 25 + 3 * 25 + 7] = Number.NaN; // image 1, channel 3, pixel 7
    const w = randn(40 * 16);
    const [bias, residual] = [randn(40), randn(2 * 40 * 25)];
    const [y1, y2] = [new Float32Array(2 * 40 * 25), new Float32Array(2 * 40 * 25)];
    jsKernels.conv2dFused(g, x, w, bias, residual, true, y1);
    native.conv2dFusedPacked(g, x, native.packConv2dWeight(g, w), bias, residual, true, y2);
    const nan = (y: Float32Array) => [...y.keys()].filter((i) => Number.isNaN(y[i]));
    assert.equal(nan(y1).length, 40);
    assert.deepEqual(nan(y2), nan(y1));
  });
  // The compiled inference forward writes a block's last convolution over its residual (the block's input): every
  // packed layout must read each output's residual before it stores that output. The GEMM layout adds a residual
  // that is C as beta = 1, which must hold over several K blocks (K = 300 > kc) and in the few-column path (a grouped
  // 1×1 on a 2×2 plane). Tolerance 1e-5 relative to max |reference| (3e-5 for Winograd, as above): the residual is
  // summed in another order than with a separate buffer.
  const inPlaceCases: [...Case, layout: string][] = [
    [[2, 40, 8, 8], [48, 40, 1, 1], {}, 'gemm'],
    [[1, 300, 8, 8], [24, 300, 1, 1], {}, 'gemm'],
    [[2, 24, 16, 16], [16, 24, 3, 3], { padding: 1, stride: 2 }, 'gemm'],
    [[3, 8, 2, 2], [12, 4, 1, 1], { groups: 2 }, 'gemm'],
    [[2, 64, 13, 13], [70, 64, 3, 3], { padding: 1, stride: 2 }, 'gemm-rows'],
    [[1, 460, 5, 5], [70, 460, 3, 3], { padding: 1 }, 'gemm-rows'],
    [[1, 64, 12, 12], [64, 64, 3, 3], { padding: 1 }, 'winograd-f2'],
    [[1, 64, 7, 7], [70, 64, 3, 3], { padding: 1 }, 'winograd-f2'],
    [[9, 64, 8, 8], [64, 64, 3, 3], { padding: 1 }, 'winograd-f4'],
    [[1, 64, 14, 14], [64, 64, 3, 3], { padding: 1 }, 'winograd-f4'],
    [[2, 16, 9, 11], [16, 16, 3, 3], { padding: 1 }, 'direct'],
    [[1, 3, 21, 21], [8, 3, 7, 7], { padding: 3, stride: 2 }, 'direct-strided'],
  ];
  for (const [xs, ws, opts, layout] of inPlaceCases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv2dFusedPacked x=[${xs}] w=[${ws}] s=${g.strideH} p=${g.padH} g=${g.groups} (${layout}): residual as y`, () => {
      assert.ok(native);
      // The direct kernels exist for AVX2 and AVX-512 only: the portable build runs those shapes as a GEMM.
      const actual = native.conv2dPackedLayout(g);
      assert.ok(actual === layout || (layout.startsWith('direct') && actual === 'gemm'), `layout ${actual}`);
      const x = randn(g.n * g.c * g.h * g.w);
      const w = randn(g.oc * (g.c / g.groups) * g.kh * g.kw);
      const [bias, residual] = [randn(g.oc), randn(g.n * g.oc * g.oh * g.ow)];
      const expected = new Float32Array(residual.length);
      jsKernels.conv2dFused(g, x, w, bias, residual, true, expected);
      const y = residual.slice();
      native.conv2dFusedPacked(g, x, native.packConv2dWeight(g, w), bias, y, true, y);
      assertClose(y, expected, { rtol: layout.startsWith('winograd') ? 3e-5 : 1e-5, what: 'y over its residual' });
      const yJs = residual.slice();
      jsKernels.conv2dFused(g, x, w, bias, yJs, true, yJs);
      assertClose(yJs, expected, { rtol: 1e-6, what: 'js y over its residual' });
    });
  }
  test('conv2dFused x=[2,64,6,6] w=[64,64,3,3] (per-call weights): residual as y; a residual overlapping y is refused', () => {
    assert.ok(native);
    const g = convGeometry([2, 64, 6, 6], [64, 64, 3, 3], { padding: 1 });
    const x = randn(2 * 64 * 36);
    const w = randn(64 * 64 * 9);
    const residual = randn(2 * 64 * 36);
    const expected = new Float32Array(residual.length);
    jsKernels.conv2dFused(g, x, w, null, residual, false, expected);
    const y = residual.slice();
    native.conv2dFused(g, x, w, null, y, false, y);
    assertClose(y, expected, { rtol: 1e-5, what: 'y over its residual' });
    const buffer = new Float32Array(residual.length + 4);
    const [shifted, out] = [buffer.subarray(4), buffer.subarray(0, residual.length)];
    assert.throws(() => native.conv2dFused(g, x, w, null, shifted, false, out), /conv2d: residual overlaps y/);
    const packed = native.packConv2dWeight(g, w);
    assert.throws(() => native.conv2dFusedPacked(g, x, packed, null, shifted, false, out), /residual overlaps y/);
  });
  // A pointwise convolution's weights packed for a large plane (gemm) and for a small one (gemm-rows) each run every
  // input size: the packed length tells the layouts apart, whatever the geometry would pick.
  test('conv2dFusedPacked 1×1 weights packed as gemm (x=[1,64,16,16]) and gemm-rows (x=[2,64,7,7]) run every geometry', () => {
    assert.ok(native);
    const ws = [40, 64, 1, 1];
    const w = randn(ws.reduce((a, b) => a * b));
    const packings = (
      [
        [[1, 64, 16, 16], 'gemm'],
        [[2, 64, 7, 7], 'gemm-rows'],
      ] as const
    ).map(([xs, layout]) => {
      const g = convGeometry([...xs], ws, {});
      assert.equal(native.conv2dPackedLayout(g), layout);
      return native.packConv2dWeight(g, w);
    });
    assert.notEqual(packings[0].length, packings[1].length);
    for (const xs of [
      [1, 64, 16, 16],
      [2, 64, 7, 7],
      [3, 64, 1, 1],
    ]) {
      const g = convGeometry(xs, ws, {});
      const x = randn(g.n * g.c * g.h * g.w);
      const residual = randn(g.n * g.oc * g.oh * g.ow);
      const y1 = new Float32Array(residual.length);
      jsKernels.conv2dFused(g, x, w, null, residual, true, y1);
      for (const packed of packings) {
        const y2 = new Float32Array(y1.length);
        native.conv2dFusedPacked(g, x, packed, null, residual, true, y2);
        assertClose(y2, y1, { rtol: 1e-5, what: `y (x=[${xs}], packed ${packed.length})` });
      }
    }
  });

  // Packing picks a GEMM below 16 2×2 output tiles (a batch-1 6×6, with output pixels as rows: too few tiles for the
  // products to pay), F(4×4, 3×3) from 16 4×4 tiles (a batch-1 14×14), and F(2×2, 3×3) between (a batch-1 7×7, 16
  // tiles); weights packed for one input size must work for any other (the packed size says which layout it holds),
  // down to inputs that are all padding.
  test('conv2dFusedPacked weights packed as gemm-rows (x=[1,64,6,6]), winograd-f2 ([1,64,7,7]), winograd-f4 ([9,64,8,8]) run every geometry', () => {
    assert.ok(native);
    const ws = [64, 64, 3, 3];
    const w = randn(ws.reduce((a, b) => a * b));
    const packings = (
      [
        [[1, 64, 6, 6], 'gemm-rows'],
        [[1, 64, 7, 7], 'winograd-f2'],
        [[9, 64, 8, 8], 'winograd-f4'],
      ] as const
    ).map(([xs, layout]) => {
      const g = convGeometry([...xs], ws, { padding: 1 });
      assert.equal(native.conv2dPackedLayout(g), layout);
      return native.packConv2dWeight(g, w);
    });
    assert.equal(new Set(packings.map((p) => p.length)).size, 3);
    for (const xs of [
      [1, 64, 6, 6],
      [1, 64, 7, 7],
      [1, 64, 16, 16],
      [9, 64, 8, 8],
      [2, 64, 1, 1],
      [1, 64, 2, 3],
    ]) {
      const g = convGeometry(xs, ws, { padding: 1 });
      const x = randn(g.n * g.c * g.h * g.w);
      const y1 = new Float32Array(g.n * g.oc * g.oh * g.ow);
      jsKernels.conv2dFused(g, x, w, null, null, false, y1);
      for (const packed of packings) {
        const y2 = new Float32Array(y1.length);
        native.conv2dFusedPacked(g, x, packed, null, null, false, y2);
        assertClose(y2, y1, { rtol: 3e-5, what: `y (x=[${xs}], packed ${packed.length})` });
      }
    }
  });

  test('conv2d geometry whose oh does not match the input is rejected at the boundary', () => {
    assert.ok(native);
    const g = { ...convGeometry([1, 2, 5, 5], [3, 2, 3, 3], {}), oh: 5 };
    const y = new Float32Array(3 * 5 * 3);
    assert.throws(() => native.conv2d(g, new Float32Array(50), new Float32Array(54), null, y), /oh\/ow do not match/);
  });
  test('conv2dFusedPacked with weights packed for w=[3,2,3,3] rejects a geometry with w=[3,2,1,1]', () => {
    assert.ok(native);
    const packed = native.packConv2dWeight(convGeometry([1, 2, 5, 5], [3, 2, 3, 3], {}), new Float32Array(54));
    const g = convGeometry([1, 2, 5, 5], [3, 2, 1, 1], {});
    const y = new Float32Array(3 * 5 * 5);
    assert.throws(
      () => native.conv2dFusedPacked(g, new Float32Array(50), packed, null, null, false, y),
      /packedW has \d+ elements; pack it with packConv2dWeight/,
    );
  });
  test('conv2d with x too short for the geometry throws instead of reading past the end', () => {
    assert.ok(native);
    const g = convGeometry([2, 2, 5, 5], [3, 2, 3, 3], {});
    const y = new Float32Array(2 * 3 * 3 * 3);
    assert.throws(() => native.conv2d(g, new Float32Array(50), new Float32Array(54), null, y), /x has 50 elements/);
  });
  test('linear-shaped gemm A·Bᵀ m=5 n=1000 k=2048 and Aᵀ·B m=1000 n=2048 k=5', () => {
    assert.ok(native);
    const a = randn(5 * 2048);
    const b = randn(1000 * 2048);
    const [c1, c2] = [new Float32Array(5 * 1000), new Float32Array(5 * 1000)];
    jsKernels.gemm(false, true, 5, 1000, 2048, 1, a, 2048, b, 2048, 0, c1, 1000);
    native.gemm(false, true, 5, 1000, 2048, 1, a, 2048, b, 2048, 0, c2, 1000);
    assertClose(c2, c1, { rtol: 1e-5, what: 'A·Bᵀ' });
    const dy = randn(5 * 1000);
    const [d1, d2] = [new Float32Array(1000 * 2048), new Float32Array(1000 * 2048)];
    jsKernels.gemm(true, false, 1000, 2048, 5, 1, dy, 1000, a, 2048, 0, d1, 2048);
    native.gemm(true, false, 1000, 2048, 5, 1, dy, 1000, a, 2048, 0, d2, 2048);
    assertClose(d2, d1, { rtol: 1e-5, what: 'Aᵀ·B' });
  });
});
