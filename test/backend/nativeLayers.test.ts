// The native batch norm, elementwise, pooling, log-softmax and optimizer kernels against the js reference on odd
// shapes (primes, 1s, batch 1). Tolerance: 1e-5 relative to max |reference| unless a test says otherwise.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsKernels } from '../../src/backend/js/index.ts';
import type { Kernels, PoolGeometry } from '../../src/backend/kernels.ts';
import { nativeKernels } from '../../src/backend/native/index.ts';
import { poolGeometry } from '../../src/ops/maxPool2d.ts';
import { Generator } from '../../src/tensor/random.ts';
import { assertClose } from '../helpers.ts';

const maybeNative = nativeKernels();
const rng = new Generator(11);
const randn = (n: number, shift = 0) => Float32Array.from({ length: n }, () => rng.normal() + shift);
const both = <T>(make: () => T): [T, T] => [make(), make()];

/** got = relu(plain) bit for bit: 0 where plain < 0 (−0 kept as it is), NaN where plain is NaN. */
function assertExactRelu(got: Float32Array, plain: Float32Array, what: string): void {
  for (let i = 0; i < got.length; i++) {
    const want = Math.max(plain[i], 0); // NaN stays NaN
    if (!(Object.is(got[i], want) || (got[i] === 0 && want === 0))) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected relu(${plain[i]}) = ${want}`);
    }
  }
}

describe('native layer kernels match js', { skip: maybeNative ? false : 'native addon not built' }, () => {
  const native = maybeNative as Kernels;

  for (const [n, c, hw] of [
    [1, 1, 2],
    [2, 3, 49],
    [7, 5, 13],
    [3, 16, 784],
    [2, 64, 1],
    // 800-byte planes, 51 KB channels: each thread's 25 channels in a block of 20 and one of 5 (batch_norm.cc's 1 MiB
    // blocks).
    [64, 50, 200],
    // 16 MiB and more: y and dx go out through streaming stores (native/streaming.h), from planes that start
    // unaligned (odd hw).
    [3, 5, 279_621],
  ]) {
    test(`batchNorm n=${n} c=${c} hw=${hw}: train (mean 3), apply, backward with and without batch stats and ReLU`, () => {
      const size = n * c * hw;
      const x = randn(size, 3);
      const gamma = randn(c);
      const beta = randn(c);
      const [y1, y2] = both(() => new Float32Array(size));
      const [m1, m2] = both(() => new Float32Array(c));
      const [v1, v2] = both(() => new Float32Array(c));
      const [s1, s2] = both(() => new Float32Array(c));
      jsKernels.batchNormTrain(n, c, hw, x, gamma, beta, 1e-5, y1, m1, v1, s1, false, null);
      native.batchNormTrain(n, c, hw, x, gamma, beta, 1e-5, y2, m2, v2, s2, false, null);
      assertClose(m2, m1, { rtol: 1e-6, what: 'mean' });
      assertClose(v2, v1, { rtol: 1e-5, what: 'variance' });
      assertClose(s2, s1, { rtol: 1e-5, what: 'invStd' });
      assertClose(y2, y1, { rtol: 1e-5, what: 'y (train)' });
      // With relu: exactly relu of the plain output, from the native kernel as from the reference.
      const yRelu = new Float32Array(size);
      native.batchNormTrain(n, c, hw, x, gamma, beta, 1e-5, yRelu, m2, v2, s2, true, null);
      assertExactRelu(yRelu, y2, 'y (train + relu)');
      jsKernels.batchNormApply(n, c, hw, x, m1, s1, null, beta, y1, false, null);
      native.batchNormApply(n, c, hw, x, m1, s1, null, beta, y2, false, null);
      assertClose(y2, y1, { rtol: 1e-5, what: 'y (apply, no gamma)' });
      native.batchNormApply(n, c, hw, x, m1, s1, null, beta, yRelu, true, null);
      assertExactRelu(yRelu, y2, 'y (apply + relu)');
      jsKernels.batchNormApply(n, c, hw, x, m1, s1, null, beta, yRelu, true, null);
      assertExactRelu(yRelu, y1, 'y (reference apply + relu)');
      // With a residual: exactly the plain output plus the residual in float, then the ReLU, train and apply alike.
      const residual = randn(size);
      const sum = y2.map((v, i) => v + residual[i]);
      const ySum = new Float32Array(size);
      native.batchNormApply(n, c, hw, x, m1, s1, null, beta, ySum, false, residual);
      assertClose(ySum, sum, { rtol: 0, what: 'y (apply + residual)' });
      native.batchNormApply(n, c, hw, x, m1, s1, null, beta, ySum, true, residual);
      assertExactRelu(ySum, sum, 'y (apply + residual + relu)');
      jsKernels.batchNormApply(n, c, hw, x, m1, s1, null, beta, y1, true, residual);
      assertClose(ySum, y1, { rtol: 1e-5, atol: 1e-6, what: 'y (reference apply + residual + relu)' });
      native.batchNormTrain(n, c, hw, x, gamma, beta, 1e-5, y2, m2, v2, s2, false, null);
      native.batchNormTrain(n, c, hw, x, gamma, beta, 1e-5, ySum, m2, v2, s2, true, residual);
      assertExactRelu(
        ySum,
        y2.map((v, i) => v + residual[i]),
        'y (train + residual + relu)',
      );
      const dy = randn(size);
      for (const batchStats of [true, false]) {
        for (const reluAfter of [false, true]) {
          const [dx1, dx2] = both(() => new Float32Array(size));
          const [dg1, dg2] = both(() => new Float32Array(c));
          const [db1, db2] = both(() => new Float32Array(c));
          const args = [n, c, hw, dy, x, m1, s1, gamma, beta, batchStats, reluAfter] as const;
          jsKernels.batchNormBackward(...args, dx1, dg1, db1);
          native.batchNormBackward(...args, dx2, dg2, db2);
          // atol: with two values per channel (n=1, hw=2) dx is 0 in exact arithmetic, rounding noise in both.
          const what = `(batchStats ${batchStats}, reluAfter ${reluAfter})`;
          assertClose(dx2, dx1, { rtol: 1e-5, atol: 1e-6, what: `dx ${what}` });
          assertClose(dg2, dg1, { rtol: 1e-5, what: `dgamma ${what}` });
          assertClose(db2, db1, { rtol: 1e-5, what: `dbeta ${what}` });
        }
      }
      const [dg1, dg2] = both(() => new Float32Array(c));
      jsKernels.batchNormBackward(n, c, hw, dy, x, m1, s1, null, null, true, false, null, dg1, null);
      native.batchNormBackward(n, c, hw, dy, x, m1, s1, null, null, true, false, null, dg2, null);
      assertClose(dg2, dg1, { rtol: 1e-5, what: 'dgamma alone' });
    });
  }

  // The fused ReLU's mask in the backward pass is a comparison with a per-channel threshold (batch_norm.h), which
  // must keep exactly the elements whose forward output is > 0 or NaN. Half of each channel's values sit within 6
  // floats of its threshold, and the gamma of channel 1 is 0 (no threshold: y recomputed), of channel 2 negative.
  // With fixed statistics and dy = 1, dx is gamma·invStd where the gradient passes and 0 elsewhere; NaN and ±∞ in x
  // check that the vector loops do not trip over them.
  test('batchNormBackward with ReLU, n=3 c=4 hw=101, x within 6 floats of the mask threshold: mask = forward y > 0', () => {
    const [n, c, hw] = [3, 4, 101];
    const size = n * c * hw;
    const mean = Float32Array.from([0.3, -1, 2, 0]);
    const invStd = Float32Array.from([1.7, 0.9, 3.1, 1]);
    const gamma = Float32Array.from([1.1, 0, -0.6, 2]);
    const beta = Float32Array.from([0.4, 0.5, -0.2, -0.7]);
    const x = randn(size);
    const bits = new Float32Array(1);
    const word = new Int32Array(bits.buffer);
    for (let i = 0; i < size; i += 2) {
      const ch = Math.floor(i / hw) % c;
      bits[0] = gamma[ch] === 0 ? 1 : mean[ch] - beta[ch] / (invStd[ch] * gamma[ch]);
      word[0] += rng.int(13) - 6;
      x[i] = bits[0];
    }
    x[7] = Number.NaN;
    x[hw + 3] = Number.POSITIVE_INFINITY;
    x[2 * hw + 5] = Number.NEGATIVE_INFINITY;
    const y = new Float32Array(size);
    native.batchNormApply(n, c, hw, x, mean, invStd, gamma, beta, y, true, null);
    const dx = new Float32Array(size);
    const ones = new Float32Array(size).fill(1);
    native.batchNormBackward(n, c, hw, ones, x, mean, invStd, gamma, beta, false, true, dx, null, null);
    let [crowded, boundary] = [0, 0];
    for (let i = 0; i < size; i++) {
      const ch = Math.floor(i / hw) % c;
      const passes = !(y[i] <= 0);
      // (x − mean)·0 is NaN for x NaN or ±∞, whatever the mask.
      const want = !Number.isFinite(x[i]) ? Number.NaN : passes ? Math.fround(gamma[ch] * invStd[ch]) : 0;
      if (!(dx[i] === want || (Number.isNaN(dx[i]) && Number.isNaN(want))))
        assert.fail(`element ${i} (channel ${ch}, x ${x[i]}, y ${y[i]}): dx ${dx[i]}, want ${want}`);
      if (i % 2 === 0 && gamma[ch] !== 0 && Number.isFinite(x[i])) {
        crowded++;
        boundary += passes ? 1 : 0;
      }
    }
    // Both sides of each threshold are populated, so a mask off by one float would show.
    assert.ok(boundary > crowded / 4 && boundary < (3 * crowded) / 4, `${boundary} of ${crowded} crowded values pass`);
  });

  for (const size of [1, 7, 100_003]) {
    test(`relu, reluBackward, add on ${size} elements with NaN and ±0 kept as the reference does`, () => {
      const x = randn(size);
      x[0] = Number.NaN;
      const [y1, y2] = both(() => new Float32Array(size));
      jsKernels.relu(x, y1);
      native.relu(x, y2);
      assert.ok(Number.isNaN(y2[0]), 'relu(NaN) is NaN');
      assertClose(y2.subarray(1), y1.subarray(1), { rtol: 0, what: 'relu' });
      const dy = randn(size);
      const [d1, d2] = both(() => new Float32Array(size));
      jsKernels.reluBackward(dy, y1, d1);
      native.reluBackward(dy, y2, d2);
      assertClose(d2, d1, { rtol: 0, what: 'reluBackward' });
      const b = randn(size);
      jsKernels.add(dy, b, y1);
      native.add(dy, b, y2);
      assertClose(y2, y1, { rtol: 0, what: 'add' });
    });
  }

  test('add in place (y is a, y is b, all three the same) on 100003 elements, as autograd sums gradients', () => {
    const a = randn(100_003);
    const b = randn(100_003);
    const want = new Float32Array(a.length);
    jsKernels.add(a, b, want);
    for (const into of ['a', 'b'] as const) {
      const [x, y] = [a.slice(), b.slice()];
      const out = into === 'a' ? x : y;
      native.add(x, y, out);
      assertClose(out, want, { rtol: 0, what: `add into ${into}` });
    }
    const twice = a.slice();
    native.add(twice, twice, twice);
    assertClose(
      twice,
      a.map((v) => 2 * v),
      { rtol: 0, what: 'a + a into a' },
    );
  });

  test('addRelu on 100003 elements = relu(add) exactly, NaN kept, into a fresh array, into a, into b, a + a', () => {
    const a = randn(100_003);
    const b = randn(100_003);
    a[5] = Number.NaN;
    const sum = new Float32Array(a.length);
    jsKernels.add(a, b, sum);
    const [y1, y2] = both(() => new Float32Array(a.length));
    jsKernels.addRelu(a, b, y1);
    native.addRelu(a, b, y2);
    assert.ok(Number.isNaN(y2[5]) && Number.isNaN(y1[5]), 'relu(NaN + b) is NaN');
    assertExactRelu(y1, sum, 'addRelu (reference)');
    assertExactRelu(y2, sum, 'addRelu (native)');
    for (const into of ['a', 'b'] as const) {
      const [x, y] = [a.slice(), b.slice()];
      const out = into === 'a' ? x : y;
      native.addRelu(x, y, out);
      assertExactRelu(out, sum, `addRelu into ${into}`);
    }
    const twice = a.slice();
    native.addRelu(twice, twice, twice);
    assertExactRelu(
      twice,
      a.map((v) => 2 * v),
      'relu(a + a) into a',
    );
  });

  test('add with arrays of different lengths throws at the boundary', () => {
    assert.throws(() => native.add(new Float32Array(3), new Float32Array(2), new Float32Array(3)), /b has 2 elements/);
  });

  // maxPool2d without indices (inference) gives the indexed pass's values y, exactly, except that a window holding
  // both +0 and −0 may give either in the native kernel (its rows are reduced before its columns).
  const assertValuesOnly = (g: PoolGeometry, x: Float32Array, y: Float32Array) => {
    const [v1, v2] = both(() => new Float32Array(y.length));
    jsKernels.maxPool2d(g, x, v1, null);
    native.maxPool2d(g, x, v2, null);
    assert.deepEqual(v1, y);
    const unsigned = (a: Float32Array) => a.map((v) => v + 0);
    assert.deepEqual(unsigned(v2), unsigned(y));
  };

  for (const [shape, opts] of [
    [[2, 3, 11, 13], { kernelSize: 3, stride: 2, padding: 1 }],
    [[1, 1, 1, 1], { kernelSize: 1 }],
    [[3, 2, 9, 7], { kernelSize: [3, 2], stride: [1, 2], padding: [1, 1], dilation: [2, 1] }],
    // dx of 16 MiB and more is built a plane at a time and streamed out (native/streaming.h); odd planes start unaligned
    [[2, 3, 837, 837], { kernelSize: 3, stride: 2, padding: 1 }],
  ] as const) {
    const g = poolGeometry(shape, opts);
    test(`maxPool2d x=[${shape}] k=${g.kh}x${g.kw} s=${g.strideH},${g.strideW} p=${g.padH},${g.padW} d=${g.dilationH}: values, indices, backward`, () => {
      const x = randn(g.n * g.c * g.h * g.w);
      x[3 % x.length] = Number.NaN;
      const outSize = g.n * g.c * g.oh * g.ow;
      const [y1, y2] = both(() => new Float32Array(outSize));
      const [i1, i2] = both(() => new Int32Array(outSize));
      jsKernels.maxPool2d(g, x, y1, i1);
      native.maxPool2d(g, x, y2, i2);
      assert.deepEqual(i2, i1);
      assert.deepEqual(y2, y1);
      assertValuesOnly(g, x, y1);
      const dy = randn(outSize);
      const [dx1, dx2] = both(() => new Float32Array(x.length));
      jsKernels.maxPool2dBackward(g, dy, i1, dx1);
      native.maxPool2dBackward(g, dy, i2, dx2);
      assertClose(dx2, dx1, { rtol: 1e-6, what: 'dx' });
    });
  }

  // Rows wide enough for the vectorised interior columns (strides 1, 2 and the generic one); values on a coarse grid
  // so windows hold ties (the first maximum must win), with NaNs (the first NaN wins, even next to another) and -∞.
  for (const [shape, opts] of [
    [[2, 3, 20, 37], { kernelSize: 3, stride: 2, padding: 1 }],
    [[1, 2, 17, 40], { kernelSize: 3, stride: 1, padding: 1 }],
    [[2, 1, 19, 41], { kernelSize: [2, 3], stride: [3, 3], padding: [1, 0] }],
    [[1, 2, 15, 33], { kernelSize: 3, stride: 2, padding: 1, dilation: 2 }],
  ] as const) {
    const g = poolGeometry(shape, opts);
    test(`maxPool2d x=[${shape}] k=${g.kh}x${g.kw} s=${g.strideH},${g.strideW} p=${g.padH},${g.padW} d=${g.dilationH} with ties, NaNs, -Inf: exact values and indices`, () => {
      const x = randn(g.n * g.c * g.h * g.w).map((v) => Math.round(v * 1.5));
      for (let i = 5; i < x.length; i += 97) x[i] = Number.NaN;
      for (let i = 50; i < x.length; i += 89) x[i] = x[i + 1] = Number.NaN;
      for (let i = 20; i < x.length; i += 53) x[i] = Number.NEGATIVE_INFINITY;
      const outSize = g.n * g.c * g.oh * g.ow;
      const [y1, y2] = both(() => new Float32Array(outSize));
      const [i1, i2] = both(() => new Int32Array(outSize));
      jsKernels.maxPool2d(g, x, y1, i1);
      native.maxPool2d(g, x, y2, i2);
      assert.deepEqual(i2, i1);
      assert.deepEqual(y2, y1);
      assertValuesOnly(g, x, y1);
    });
  }

  test('maxPool2dBackward with an index outside the plane throws', () => {
    const g = poolGeometry([1, 1, 2, 2], { kernelSize: 2 });
    assert.throws(
      () => native.maxPool2dBackward(g, new Float32Array(1), Int32Array.of(4), new Float32Array(4)),
      /outside the input plane/,
    );
  });

  for (const [nc, h, w, oh, ow] of [
    [6, 7, 7, 1, 1],
    [3, 10, 7, 3, 4],
    [1, 1, 1, 1, 1],
    [2, 5, 5, 7, 6],
  ]) {
    test(`adaptiveAvgPool2d nc=${nc} ${h}×${w} → ${oh}×${ow}: forward and backward`, () => {
      const x = randn(nc * h * w);
      const [y1, y2] = both(() => new Float32Array(nc * oh * ow));
      jsKernels.adaptiveAvgPool2d(nc, h, w, oh, ow, x, y1);
      native.adaptiveAvgPool2d(nc, h, w, oh, ow, x, y2);
      assertClose(y2, y1, { rtol: 1e-6, what: 'y' });
      const [dx1, dx2] = both(() => new Float32Array(x.length));
      jsKernels.adaptiveAvgPool2dBackward(nc, h, w, oh, ow, y1, dx1);
      native.adaptiveAvgPool2dBackward(nc, h, w, oh, ow, y1, dx2);
      assertClose(dx2, dx1, { rtol: 1e-6, what: 'dx' });
    });
  }

  for (const [n, c, h, w, stride, pad] of [
    [1, 1, 1, 1, 1, 0],
    [3, 5, 7, 9, 2, 3],
    [2, 16, 28, 28, 2, 8],
    [4, 3, 6, 5, 3, 1],
  ]) {
    test(`shortcutA x=[${n},${c},${h},${w}] stride ${stride} pad ${pad} channels: forward and backward, exactly`, () => {
      const [oc, oh, ow] = [c + 2 * pad, Math.ceil(h / stride), Math.ceil(w / stride)];
      const x = randn(n * c * h * w);
      const [y1, y2] = both(() => new Float32Array(n * oc * oh * ow).fill(Number.NaN));
      jsKernels.shortcutA(n, c, h, w, stride, pad, x, y1);
      native.shortcutA(n, c, h, w, stride, pad, x, y2);
      assert.deepEqual(y2, y1);
      const dy = randn(y1.length);
      const [dx1, dx2] = both(() => new Float32Array(x.length).fill(Number.NaN));
      jsKernels.shortcutABackward(n, c, h, w, stride, pad, dy, dx1);
      native.shortcutABackward(n, c, h, w, stride, pad, dy, dx2);
      assert.deepEqual(dx2, dx1);
    });
  }

  for (const [rows, cols] of [
    [1, 1],
    [5, 1000],
    [37, 10],
  ]) {
    test(`logSoftmax rows=${rows} cols=${cols} with large logits`, () => {
      const x = randn(rows * cols).map((v) => v * 40 + 500);
      const [y1, y2] = both(() => new Float32Array(rows * cols));
      jsKernels.logSoftmax(rows, cols, x, y1);
      native.logSoftmax(rows, cols, x, y2);
      assertClose(y2, y1, { rtol: 1e-6, what: 'logSoftmax' });
    });
  }

  for (const [momentum, dampening, weightDecay, nesterov] of [
    [0, 0, 0, false],
    [0.9, 0, 1e-4, false],
    [0.9, 0.1, 5e-4, false],
    [0.9, 0, 1e-4, true],
  ] as const) {
    test(`sgdUpdate 1009 params momentum=${momentum} dampening=${dampening} wd=${weightDecay} nesterov=${nesterov}: three steps`, () => {
      const [p1, p2] = both(() => randn(1009));
      p2.set(p1);
      const [b1, b2] = both(() => new Float32Array(1009));
      for (let step = 0; step < 3; step++) {
        const grad = randn(1009);
        jsKernels.sgdUpdate(p1, grad, b1, 0.1, momentum, dampening, weightDecay, nesterov, step === 0);
        native.sgdUpdate(p2, grad, b2, 0.1, momentum, dampening, weightDecay, nesterov, step === 0);
      }
      assertClose(p2, p1, { rtol: 1e-6, what: 'param' });
      assertClose(b2, b1, { rtol: 1e-6, what: 'momentum buffer' });
    });
  }

  test('sgdUpdate without a momentum buffer but momentum 0.9 throws', () => {
    assert.throws(
      () => native.sgdUpdate(new Float32Array(2), new Float32Array(2), null, 0.1, 0.9, 0, 0, false, true),
      /momentumBuf is required/,
    );
  });

  test('adamwUpdate 1009 params lr=1e-3 betas=(0.9, 0.999) eps=1e-8 wd=1e-2: three steps', () => {
    const [p1, p2] = both(() => randn(1009));
    p2.set(p1);
    const [m1, m2] = both(() => new Float32Array(1009));
    const [v1, v2] = both(() => new Float32Array(1009));
    for (let step = 1; step <= 3; step++) {
      const grad = randn(1009);
      jsKernels.adamwUpdate(p1, grad, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 1e-2, step);
      native.adamwUpdate(p2, grad, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 1e-2, step);
    }
    assertClose(p2, p1, { rtol: 1e-6, what: 'param' });
    assertClose(m2, m1, { rtol: 1e-6, what: 'expAvg' });
    assertClose(v2, v1, { rtol: 1e-5, what: 'expAvgSq' });
  });
});
