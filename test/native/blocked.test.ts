// The native backend's blocked-layout inference kernels (Kernels.blocked, native/nchwc/) against the js reference:
// each blocked convolution, run on blocked copies of the inputs and turned back to NCHW, equals jsKernels.conv2dFused
// on the NCHW ones. Odd shapes: sizes that leave partial 6-pixel tiles, 1×1 planes, every padding edge, batch 1,
// output channels that leave a partial 64-channel group (16, 48, 80), stride 2. Tolerance: 1e-5 relative to
// max |reference| for direct runs, 1e-4 for Winograd (its transforms add rounding of about 10× the direct sum's).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsKernels } from '../../src/backend/js/index.ts';
import type { ConvGeometry } from '../../src/backend/kernels.ts';
import { nativeKernels } from '../../src/backend/native/index.ts';
import { convGeometry } from '../../src/ops/conv2d.ts';
import { poolGeometry } from '../../src/ops/maxPool2d.ts';
import { Generator } from '../../src/tensor/random.ts';
import { assertClose } from '../helpers.ts';

const native = nativeKernels();
const blocked = native?.blocked;
const rng = new Generator(11);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

function toBlocked(n: number, c: number, h: number, w: number, x: Float32Array): Float32Array {
  assert.ok(blocked);
  const y = new Float32Array(x.length);
  blocked.toBlocked(n, c, h, w, x, y);
  return y;
}

function fromBlocked(n: number, c: number, h: number, w: number, x: Float32Array): Float32Array {
  assert.ok(blocked);
  const y = new Float32Array(x.length);
  blocked.fromBlocked(n, c, h, w, x, y);
  return y;
}

// blocked.conv against jsKernels.conv2dFused with bias, residual (apart, and as y) and ReLU, and with none of them.
function checkAgainstJs(g: ConvGeometry, rtol: number): void {
  assert.ok(blocked);
  const x = randn(g.n * g.c * g.h * g.w);
  const w = randn(g.oc * g.c * g.kh * g.kw);
  const bias = randn(g.oc);
  const size = g.n * g.oc * g.oh * g.ow;
  const residual = randn(size);
  const packed = blocked.packConv(g, w);
  const xb = toBlocked(g.n, g.c, g.h, g.w, x);
  for (const [b, r, relu, asY] of [
    [bias, residual, true, false],
    [bias, residual, true, true],
    [null, null, false, false],
    [bias, null, true, false],
  ] as const) {
    const want = new Float32Array(size);
    jsKernels.conv2dFused(g, x, w, b, r, relu, want);
    const rb = r ? toBlocked(g.n, g.oc, g.oh, g.ow, r) : null;
    const yb = asY && rb ? rb : new Float32Array(size);
    blocked.conv(g, xb, packed, b, rb, relu, yb);
    const what = `y (bias ${!!b}, residual ${r ? (asY ? 'as y' : 'apart') : 'none'}, relu ${relu})`;
    assertClose(fromBlocked(g.n, g.oc, g.oh, g.ow, yb), want, { rtol, what });
  }
}

type Case = [x: number[], w: number[], opts: { stride?: number; padding?: number }];
const cases: Case[] = [
  [[1, 16, 5, 7], [32, 16, 3, 3], { padding: 1 }],
  [[2, 32, 9, 9], [16, 32, 3, 3], { stride: 2, padding: 1 }],
  [[1, 16, 10, 7], [80, 16, 3, 3], { stride: 2, padding: 1 }],
  [[3, 48, 13, 11], [80, 48, 1, 1], {}],
  [[2, 64, 11, 11], [48, 64, 1, 1], { stride: 2 }],
  [[1, 16, 1, 1], [16, 16, 3, 3], { padding: 1 }],
  [[1, 32, 1, 1], [64, 32, 1, 1], {}],
  // Several input blocks with a residual that is y: each tile reads its residual before it writes.
  [[2, 80, 7, 9], [48, 80, 1, 1], {}],
  // A 1×1 plane in pieces of whole tiles, the last taking the remainder: 56 pixels as 24 + 32 (6, 6, 6, 6, 4, 4).
  [[1, 32, 7, 8], [32, 32, 1, 1], {}],
  [[1, 144, 5, 5], [32, 144, 1, 1], { stride: 2 }],
  [[2, 16, 23, 19], [32, 16, 7, 7], { stride: 2, padding: 3 }],
  [[1, 16, 6, 6], [16, 16, 3, 3], { padding: 1 }],
  // A group's weights over 256 KB (480 × 9 taps × 16-64 outputs): its input blocks in slices, each thread's images in
  // turn on each slice, the ReLU after the last. 3 images over 2 threads split one image's pieces between them.
  [[3, 480, 5, 5], [80, 480, 3, 3], { stride: 2, padding: 1 }],
  // 32 input blocks narrowing to 32 channels: the tiles prefetch the next tile's input.
  [[1, 512, 3, 5], [32, 512, 1, 1], {}],
];

// 3×3 padding-1 with enough tiles for Winograd: F(4×4, 3×3) at stride 1 (17×17, 7×7), F(5×5, 3×3) where it fits
// the plane better (14×13, 14×14), 2×2-output tiles at stride 2; partial tiles at the bottom and right edges (odd
// sides), inputs of odd and even sides.
const winogradCases: Case[] = [
  [[2, 32, 14, 13], [48, 32, 3, 3], { padding: 1 }],
  [[2, 48, 14, 14], [32, 48, 3, 3], { padding: 1 }],
  [[1, 16, 17, 17], [16, 16, 3, 3], { padding: 1 }],
  [[4, 64, 7, 7], [128, 64, 3, 3], { padding: 1 }],
  [[2, 32, 16, 12], [48, 32, 3, 3], { stride: 2, padding: 1 }],
  [[1, 16, 41, 43], [32, 16, 3, 3], { stride: 2, padding: 1 }],
];

describe('blocked kernels match js', { skip: blocked ? false : 'native addon not built' }, () => {
  for (const [xs, ws, opts] of cases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv x=[${xs}] w=[${ws}] s=${g.strideH} p=${g.padH} (${blocked?.convLayout(g)}): bias, residual, relu`, () => {
      assert.equal(blocked?.convLayout(g), 'direct');
      checkAgainstJs(g, 1e-5);
    });
  }

  for (const [xs, ws, opts] of winogradCases) {
    const g = convGeometry(xs, ws, opts);
    test(`conv x=[${xs}] w=[${ws}] s=${g.strideH} p=1 (winograd): bias, residual, relu`, () => {
      assert.equal(blocked?.convLayout(g), 'winograd');
      checkAgainstJs(g, 1e-4);
    });
  }

  test('toBlocked x=[2,32,3,5]: channel c of pixel (y, x) lands at ((n·2 + c/16)·15 + y·5 + x)·16 + c%16', () => {
    const [n, c, h, w] = [2, 32, 3, 5];
    const x = Float32Array.from({ length: n * c * h * w }, (_, i) => i);
    const y = toBlocked(n, c, h, w, x);
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        for (let p = 0; p < h * w; p++) {
          const at = ((b * (c / 16) + Math.floor(ch / 16)) * h * w + p) * 16 + (ch % 16);
          assert.equal(y[at], x[(b * c + ch) * h * w + p]);
        }
      }
    }
    assert.deepEqual(fromBlocked(n, c, h, w, y), x);
  });

  test('globalAvgPool x=[3,48,5,7] blocked against js adaptiveAvgPool2d to 1×1', () => {
    const [n, c, h, w] = [3, 48, 5, 7];
    const x = randn(n * c * h * w);
    const want = new Float32Array(n * c);
    jsKernels.adaptiveAvgPool2d(n * c, h, w, 1, 1, x, want);
    const got = new Float32Array(n * c);
    blocked?.globalAvgPool(n, c, h, w, toBlocked(n, c, h, w, x), got);
    assertClose(got, want, { rtol: 1e-6, what: 'pooled' });
  });

  test('maxPool2d 3×3/2 pad 1 x=[2,32,13,12] with a NaN: the NCHW values, blocked', () => {
    assert.ok(blocked);
    const x = randn(2 * 32 * 13 * 12);
    x[5 * 156 + 40] = Number.NaN;
    const g = poolGeometry([2, 32, 13, 12], { kernelSize: 3, stride: 2, padding: 1 });
    const want = new Float32Array(2 * 32 * g.oh * g.ow);
    jsKernels.maxPool2d(g, x, want, null);
    const got = new Float32Array(want.length);
    blocked.maxPool2d(g, x, got);
    assert.deepEqual(fromBlocked(2, 32, g.oh, g.ow, got), want);
  });

  test('convLayout is null, and packConv refuses, for 24 channels, groups or dilation', () => {
    assert.ok(blocked);
    for (const [xs, ws, opts] of [
      [[1, 24, 8, 8], [16, 24, 1, 1], {}],
      [[1, 32, 8, 8], [32, 16, 3, 3], { padding: 1, groups: 2 }],
      [[1, 16, 8, 8], [16, 16, 3, 3], { padding: 2, dilation: 2 }],
    ] as const) {
      const g = convGeometry(xs, ws, opts);
      assert.equal(blocked.convLayout(g), null);
      assert.throws(() => blocked.packConv(g, new Float32Array(ws[0] * ws[1] * ws[2] * ws[3])), /multiples of 16/);
    }
  });

  test('conv x=[1,16,8,8] w=[16,16,3,3] with weights packed for another geometry, or x overlapping y, throws', () => {
    assert.ok(blocked);
    const g = convGeometry([1, 16, 8, 8], [16, 16, 3, 3], { padding: 1 });
    const other = blocked.packConv(convGeometry([1, 16, 8, 8], [16, 16, 1, 1], {}), new Float32Array(256));
    const x = new Float32Array(1024);
    assert.throws(() => blocked.conv(g, x, other, null, null, false, new Float32Array(1024)), /packBlockedConv/);
    const packed = blocked.packConv(g, new Float32Array(16 * 16 * 9));
    assert.throws(() => blocked.conv(g, x, packed, null, null, false, x), /x overlaps y/);
    assert.throws(() => blocked.toBlocked(1, 24, 2, 2, new Float32Array(96), new Float32Array(96)), /multiple of 16/);
  });
});
