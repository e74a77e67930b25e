// Finite-difference checks of every op's backward on small odd shapes. The loss is Σ out·probe with a
// fixed random probe, differentiated by central differences (h = 1e-2) in float32.
// Tolerance: |numeric − analytic| ≤ 1e-2 + 1e-2·|analytic| (float32 round-off over h dominates).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { adaptiveAvgPool2d } from '../../src/ops/adaptiveAvgPool2d.ts';
import { add, addRelu } from '../../src/ops/add.ts';
import { batchNorm2d } from '../../src/ops/batchNorm2d.ts';
import { conv2d } from '../../src/ops/conv2d.ts';
import { crossEntropy, logSoftmax } from '../../src/ops/crossEntropy.ts';
import { linear } from '../../src/ops/linear.ts';
import { maxPool2d } from '../../src/ops/maxPool2d.ts';
import { mean, mulConstant, sum } from '../../src/ops/reduce.ts';
import { relu } from '../../src/ops/relu.ts';
import { flatten, reshape } from '../../src/ops/reshape.ts';
import { shortcutA } from '../../src/ops/shortcutA.ts';
import { Generator } from '../../src/tensor/random.ts';
import { numel, Tensor } from '../../src/tensor/tensor.ts';
import { assertClose } from '../helpers.ts';

const rng = new Generator(1234);

function randn(shape: number[], requiresGrad = true): Tensor {
  const t = Tensor.zeros(shape, requiresGrad);
  for (let i = 0; i < t.numel; i++) t.data[i] = rng.normal();
  return t;
}

/** Distinct values at least 0.05 apart, so max pooling's argmax cannot flip within ±h. */
function distinct(shape: number[]): Tensor {
  const n = numel(shape);
  const values = rng.shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05));
  return new Tensor(Float32Array.from(values), shape, true);
}

/** Values bounded away from 0, so ReLU's kink is never inside ±h. */
function awayFromZero(shape: number[]): Tensor {
  const t = randn(shape);
  for (let i = 0; i < t.numel; i++) t.data[i] += Math.sign(t.data[i] || 1) * 0.1;
  return t;
}

function gradcheck(inputs: Tensor[], fn: (...xs: Tensor[]) => Tensor, h = 1e-2): void {
  const out = fn(...inputs);
  const probe = randn([...out.shape], false).data;
  const lossOf = () => {
    const y = noGrad(() => fn(...inputs));
    let s = 0;
    for (let i = 0; i < y.numel; i++) s += y.data[i] * probe[i];
    return s;
  };
  for (const x of inputs) x.grad = null;
  sum(mulConstant(out, probe)).backward();
  inputs.forEach((x, which) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `input ${which} got no gradient`);
    // Every element of small tensors; an even sample of larger ones.
    const step = Math.max(1, Math.floor(x.numel / 60));
    for (let i = 0; i < x.numel; i += step) {
      const saved = x.data[i];
      x.data[i] = saved + h;
      const up = lossOf();
      x.data[i] = saved - h;
      const down = lossOf();
      x.data[i] = saved;
      const numeric = (up - down) / (2 * h);
      const analytic = x.grad.data[i];
      assert.ok(
        Math.abs(numeric - analytic) <= 1e-2 + 1e-2 * Math.abs(analytic),
        `input ${which} element ${i}: analytic ${analytic}, numeric ${numeric}`,
      );
    }
  });
}

describe('gradcheck conv2d', () => {
  test('x=[2,3,7,5] w=[4,3,3,3] b=[4] s=1 p=1', () => {
    gradcheck([randn([2, 3, 7, 5]), randn([4, 3, 3, 3]), randn([4])], (x, w, b) => conv2d(x, w, b, { padding: 1 }));
  });
  test('x=[1,4,9,8] w=[6,2,3,3] s=[2,1] p=[1,2] d=[2,1] g=2', () => {
    gradcheck([randn([1, 4, 9, 8]), randn([6, 2, 3, 3])], (x, w) =>
      conv2d(x, w, null, { stride: [2, 1], padding: [1, 2], dilation: [2, 1], groups: 2 }),
    );
  });
  test('x=[2,5,6,6] w=[3,5,1,1] s=1 p=0 (pointwise)', () => {
    gradcheck([randn([2, 5, 6, 6]), randn([3, 5, 1, 1])], (x, w) => conv2d(x, w));
  });
  test('x=[1,3,7,7] w=[2,3,1,1] s=2 (strided 1×1 shortcut)', () => {
    gradcheck([randn([1, 3, 7, 7]), randn([2, 3, 1, 1])], (x, w) => conv2d(x, w, null, { stride: 2 }));
  });
  test('x=[1,3,11,13] w=[2,3,7,7] s=2 p=3 (stem)', () => {
    gradcheck([randn([1, 3, 11, 13]), randn([2, 3, 7, 7])], (x, w) => conv2d(x, w, null, { stride: 2, padding: 3 }));
  });
  test('x=[1,6,5,5] w=[6,1,3,3] g=6 (depthwise)', () => {
    gradcheck([randn([1, 6, 5, 5]), randn([6, 1, 3, 3])], (x, w) => conv2d(x, w, null, { padding: 1, groups: 6 }));
  });
});

describe('gradcheck batchNorm2d', () => {
  test('train x=[3,4,5,3] with weight and bias', () => {
    const rm = Tensor.zeros([4]);
    const rv = Tensor.full([4], 1);
    gradcheck([randn([3, 4, 5, 3]), randn([4]), randn([4])], (x, w, b) =>
      batchNorm2d(x, rm, rv, w, b, { training: true }),
    );
  });
  test('train x=[3,4,5,3] + residual [3,4,5,3]', () => {
    const rm = Tensor.zeros([4]);
    const rv = Tensor.full([4], 1);
    gradcheck([randn([3, 4, 5, 3]), randn([4]), randn([4]), randn([3, 4, 5, 3])], (x, w, b, r) =>
      batchNorm2d(x, rm, rv, w, b, { training: true, residual: r }),
    );
  });
  // relu's kink defeats finite differences; the fused node's gradients against batch norm, then addRelu's, instead.
  test('train x=[4,3,5,7] + residual, relu: as batchNorm2d then addRelu (rtol 1e-5)', () => {
    const inputs = [randn([4, 3, 5, 7]), randn([3]), randn([3]), randn([4, 3, 5, 7])];
    const probe = randn([4, 3, 5, 7], false).data;
    const gradsOf = (fused: boolean) => {
      for (const t of inputs) t.grad = null;
      const [x, w, b, r] = inputs;
      const stats = [Tensor.zeros([3]), Tensor.full([3], 1)] as const;
      const y = fused
        ? batchNorm2d(x, ...stats, w, b, { training: true, relu: true, residual: r })
        : addRelu(batchNorm2d(x, ...stats, w, b, { training: true }), r);
      sum(mulConstant(y, probe)).backward();
      return { y: y.data, grads: inputs.map((t) => t.grad?.data ?? new Float32Array(0)) };
    };
    const plain = gradsOf(false);
    const fused = gradsOf(true);
    assert.deepEqual(fused.y, plain.y);
    for (const [i, g] of fused.grads.entries()) {
      assertClose(g, plain.grads[i], { rtol: 1e-5, atol: 1e-6, what: `input ${i}` });
    }
  });
  test('eval x=[2,3,4,1] with running statistics', () => {
    const rm = randn([3], false);
    const rv = Tensor.full([3], 0.7);
    gradcheck([randn([2, 3, 4, 1]), randn([3]), randn([3])], (x, w, b) =>
      batchNorm2d(x, rm, rv, w, b, { training: false }),
    );
  });
});

describe('gradcheck pooling', () => {
  test('maxPool2d x=[2,3,9,7] k=3 s=2 p=1', () => {
    gradcheck([distinct([2, 3, 9, 7])], (x) => maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }));
  });
  test('maxPool2d x=[1,2,6,7] k=[2,3] s=[1,2] p=[1,0] d=[1,2]', () => {
    gradcheck([distinct([1, 2, 6, 7])], (x) =>
      maxPool2d(x, { kernelSize: [2, 3], stride: [1, 2], padding: [1, 0], dilation: [1, 2] }),
    );
  });
  test('adaptiveAvgPool2d x=[2,3,7,5] → [1,1]', () => {
    gradcheck([randn([2, 3, 7, 5])], (x) => adaptiveAvgPool2d(x, 1));
  });
  test('adaptiveAvgPool2d x=[1,2,7,5] → [3,2] (overlapping windows)', () => {
    gradcheck([randn([1, 2, 7, 5])], (x) => adaptiveAvgPool2d(x, [3, 2]));
  });
});

describe('gradcheck elementwise, shape and loss ops', () => {
  test('relu x=[2,3,4,5]', () => gradcheck([awayFromZero([2, 3, 4, 5])], (x) => relu(x)));
  test('add a=[2,3,3] b=[2,3,3], and a+a', () => {
    gradcheck([randn([2, 3, 3]), randn([2, 3, 3])], (a, b) => add(a, b));
    gradcheck([randn([2, 3, 3])], (a) => add(a, a));
  });
  test('flatten x=[2,3,2,2] and reshape to [3,-1]', () => {
    gradcheck([randn([2, 3, 2, 2])], (x) => flatten(x, 1));
    gradcheck([randn([2, 3, 2, 2])], (x) => reshape(x, [3, -1]));
  });
  test('linear x=[4,7] w=[5,7] b=[5]', () =>
    gradcheck([randn([4, 7]), randn([5, 7]), randn([5])], (x, w, b) => linear(x, w, b)));
  test('logSoftmax x=[3,5]', () => gradcheck([randn([3, 5])], (x) => logSoftmax(x)));
  test('crossEntropy logits=[4,7] labels=[4]', () => gradcheck([randn([4, 7])], (x) => crossEntropy(x, [0, 6, 3, 3])));
  test('crossEntropy logits=[4,7] labelSmoothing=0.1', () =>
    gradcheck([randn([4, 7])], (x) => crossEntropy(x, [1, 2, 5, 0], { labelSmoothing: 0.1 })));
  test('sum and mean x=[3,4]', () => {
    gradcheck([randn([3, 4])], (x) => sum(x));
    gradcheck([randn([3, 4])], (x) => mean(x));
  });
  test('shortcutA x=[2,4,5,5] stride 2 pad 2 channels', () =>
    gradcheck([randn([2, 4, 5, 5])], (x) => shortcutA(x, 2, 2)));
});
