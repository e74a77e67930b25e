// compileForInference against the plain eval-mode forward, on the block types and shortcuts of every family:
// BasicBlock (resnet18), Bottleneck with downsample (resnet50), grouped Bottleneck (resnext50_32x4d), option-A
// shortcuts (resnet20). BN gets non-trivial running statistics. Tolerance: 1e-4 relative to max |logit|.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd/tape.ts';
import { kernels } from '../../src/backend/index.ts';
import { compileForInference } from '../../src/infer/index.ts';
import { buildModel } from '../../src/models/registry.ts';
import type { Bottleneck, ResNet } from '../../src/models/resnet.ts';
import { BatchNorm2d } from '../../src/nn/layers.ts';
import { Generator } from '../../src/tensor/random.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { assertClose } from '../helpers.ts';

const rng = new Generator(5);

// Running statistics and affine parameters far from (0, 1, 1, 0), so that a wrong fold cannot pass.
function randomizeBatchNorms(model: ReturnType<typeof buildModel>): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    for (let i = 0; i < m.runningMean.numel; i++) {
      m.runningMean.data[i] = rng.normal() * 0.2;
      m.runningVar.data[i] = rng.uniform(0.5, 1.5);
      m.weight.data[i] = rng.uniform(0.5, 1.5);
      m.bias.data[i] = rng.normal() * 0.1;
    }
  }
}

// Both layouts: NCHW throughout, and blocked from the stem's max pool to the average pool (native backend; 'auto' picks
// it for every model here but the option-A resnet20 and the grouped resnext50_32x4d, which it refuses). Winograd
// F(4×4, 3×3) runs resnet18's 3×3 layers at 40×40 (100 tiles at 10×10) and resnet50's at batch 4; batches over 2 run
// the first two stages 2 images at a time (resnet50 at 4, resnet18 and resnet20 at 3: 2 + 1).
const blockedSkip = kernels().blocked
  ? false
  : 'the backend in use has no blocked kernels (native addon not built, or RESNET_BACKEND=js)';

describe('compileForInference matches model.eval().forward', () => {
  for (const [arch, shape, layouts] of [
    ['resnet18', [2, 3, 40, 40], ['nchw', 'blocked']],
    ['resnet50', [4, 3, 35, 35], ['nchw', 'blocked']],
    ['resnet34', [1, 3, 32, 32], ['blocked']],
    ['resnet18', [3, 3, 32, 32], ['nchw', 'blocked']],
    ['resnext50_32x4d', [1, 3, 32, 32], ['nchw']],
    ['resnet20', [3, 3, 13, 13], ['nchw']],
  ] as const) {
    for (const layout of layouts) {
      test(`${arch} x=[${shape}] layout '${layout}'`, { skip: layout === 'blocked' && blockedSkip }, () => {
        const model = buildModel(arch, { numClasses: 7 });
        randomizeBatchNorms(model);
        model.eval();
        const x = Tensor.zeros(shape);
        for (let i = 0; i < x.numel; i++) x.data[i] = rng.normal();
        const want = noGrad(() => model.forward(x));
        const input = x.data.slice();
        const infer = compileForInference(model, { layout });
        const got = infer(x);
        // Blocks write their last convolution over their input's buffer, never over the caller's tensor.
        assert.deepEqual(x.data, input);
        assert.deepEqual(got.shape, want.shape);
        assertClose(got.data, want.data, { rtol: 1e-4, what: `${arch} logits` });
        // A second call reuses the pooled buffers and must give the same answer.
        assert.deepEqual(infer(x).data, got.data);
      });
    }
  }

  // layer3 at 4×4 has 4 Winograd tiles an image in NCHW (one in the blocked layout): batch 1 packs it for im2col +
  // GEMM (blocked: direct), batch 16 for Winograd (native backend). Each call must run with the packing made for its
  // own layout, whichever batch came first.
  for (const layout of ['nchw', 'blocked'] as const) {
    test(`resnet18 x=[1,3,64,64], then [16,3,64,64], then [1,...] again, layout '${layout}': one packing per layout`, {
      skip: layout === 'blocked' && blockedSkip,
    }, () => {
      const model = buildModel('resnet18', { numClasses: 5 });
      randomizeBatchNorms(model);
      model.eval();
      const infer = compileForInference(model, { layout });
      for (const n of [1, 16, 1]) {
        const x = Tensor.zeros([n, 3, 64, 64]);
        for (let i = 0; i < x.numel; i++) x.data[i] = rng.normal();
        const want = noGrad(() => model.forward(x));
        assertClose(infer(x).data, want.data, { rtol: 1e-4, what: `resnet18 logits at batch ${n}` });
      }
    });
  }

  test('resnet18 includeTop=false x=[1,3,32,32] gives the 512 pooled features', () => {
    const model = buildModel('resnet18', { includeTop: false });
    model.eval();
    const x = Tensor.full([1, 3, 32, 32], 0.3);
    const want = noGrad(() => model.forward(x));
    const got = compileForInference(model)(x);
    assert.deepEqual(got.shape, [1, 512]);
    assertClose(got.data, want.data, { rtol: 1e-4, what: 'features' });
  });

  // The residual may lend y its buffer; a residual of the wrong size must still be refused, not written over.
  test('resnet50 x=[1,3,32,32] with layer2.0 stripped of its downsample: its residual is refused by shape', () => {
    const model = buildModel('resnet50');
    model.eval();
    ((model as ResNet).layer2.at(0) as Bottleneck).downsample = null;
    const infer = compileForInference(model);
    assert.throws(
      () => infer(Tensor.zeros([1, 3, 32, 32])),
      /layer2\.0\.conv3\+bn3: residual \[1, 256, 8, 8\] does not match \[1, 512, 4, 4\]/,
    );
  });

  test("layout 'blocked' is refused (on any backend) for option-A shortcuts (resnet20) and groups (resnext50_32x4d)", () => {
    for (const arch of ['resnet20', 'resnext50_32x4d'] as const) {
      assert.throws(() => compileForInference(buildModel(arch), { layout: 'blocked' }), /layout 'blocked' needs/);
    }
  });

  test('an input with the wrong channel count is rejected with the expected shape', () => {
    const infer = compileForInference(buildModel('resnet20'));
    assert.throws(() => infer(Tensor.zeros([1, 1, 8, 8])), /input must be \[N, 3, H, W\], got \[1, 1, 8, 8\]/);
  });
});
