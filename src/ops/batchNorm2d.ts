// batchNorm2d: training mode normalises by batch statistics and updates the running ones; eval mode uses them.
import { type BackwardFn, record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank, expectShape } from './util.ts';

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
  /** relu(batch norm(x)) in one pass over the output, and one node whose backward passes dy through the mask. */
  relu?: boolean;
  /**
   * batch norm(x) + residual, then the ReLU when `relu`: the end of a residual block (torchvision's `out = bn2(out);
   * out += identity; out = relu(out)`) in one pass over the output, and one node whose backward hands the residual
   * its gradient, the masked dy, without a copy.
   */
  residual?: Tensor;
}

// x is (N,C,H,W); weight, bias, runningMean, runningVar are (C)
export function batchNorm2d(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  { training, momentum = 0.1, eps = 1e-5, relu = false, residual }: BatchNormOptions,
): Tensor {
  expectRank(x, 4, 'batchNorm2d', 'input');
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  if (residual) expectShape(residual, x.shape, 'batchNorm2d', 'residual');
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
    ['running_mean', runningMean],
    ['running_var', runningVar],
  ] as const) {
    if (t && (t.shape.length !== 1 || t.shape[0] !== c)) {
      throw new Error(
        `batchNorm2d: ${name} must have shape [${c}] for input ${shapeString(x.shape)}, got ${shapeString(t.shape)}`,
      );
    }
  }
  const k = kernels();
  const y = emptyTensor(x.shape);
  const mean = new Float32Array(c);
  const invStd = new Float32Array(c);
  const useBatchStats = training || !runningMean || !runningVar;
  if (useBatchStats) {
    const count = n * hw;
    if (count <= 1) {
      throw new Error(
        `batchNorm2d: expected more than 1 value per channel when training, got input ${shapeString(x.shape)}`,
      );
    }
    const variance = new Float32Array(c);
    k.batchNormTrain(
      n,
      c,
      hw,
      x.data,
      weight?.data ?? null,
      bias?.data ?? null,
      eps,
      y.data,
      mean,
      variance,
      invStd,
      relu,
      residual?.data ?? null,
    );
    if (training && runningMean && runningVar) {
      // Running variance uses the unbiased estimate, as PyTorch does; the normalisation itself used the biased one.
      const unbias = count / (count - 1);
      for (let ch = 0; ch < c; ch++) {
        runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean[ch];
        runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * variance[ch] * unbias;
      }
    }
  } else if (runningMean && runningVar) {
    mean.set(runningMean.data);
    for (let ch = 0; ch < c; ch++) invStd[ch] = 1 / Math.sqrt(runningVar.data[ch] + eps);
    const r = residual?.data ?? null;
    k.batchNormApply(n, c, hw, x.data, mean, invStd, weight?.data ?? null, bias?.data ?? null, y.data, relu, r);
  }
  // The backward pass, and the same through a ReLU applied in place to y (relu.ts fuses the two).
  // dx goes into `into`: by default dy's own buffer, which the node owns (resnet18's training step at batch 32 then
  // holds three 103 MB buffers at the stem's backward instead of four).
  const backward =
    (reluAfter: boolean, into?: Float32Array): BackwardFn =>
    (dy, needs) => {
      const dx = needs[0] ? (into ?? dy) : null;
      const dgamma = needs[1] ? takeBuffer(c) : null;
      const dbeta = needs[2] ? takeBuffer(c) : null;
      k.batchNormBackward(
        n,
        c,
        hw,
        dy,
        x.data,
        mean,
        invStd,
        weight?.data ?? null,
        bias?.data ?? null,
        useBatchStats,
        reluAfter,
        dx,
        dgamma,
        dbeta,
      );
      return [dx, dgamma, dbeta];
    };
  if (residual) {
    // The mask comes from the output here (the residual moved it), as reluBackward's does; the residual's gradient
    // is the masked dy itself, and batch norm's backward reads it as its own dy.
    return record(y, relu ? 'batchNorm2d+add+relu' : 'batchNorm2d+add', [x, weight, bias, residual], (dy, needs) => {
      // g is handed on to the residual, so dx cannot overwrite it: it goes into dy's buffer when the ReLU's mask
      // made g a copy, and into a new one otherwise.
      if (!relu) return [...backward(false, needs[0] ? takeBuffer(dy.length) : undefined)(dy, needs, []), dy];
      const g = takeBuffer(dy.length);
      k.reluBackward(dy, y.data, g);
      return [...backward(false, dy)(g, needs, []), g];
    });
  }
  if (relu) return record(y, 'batchNorm2d+relu', [x, weight, bias], backward(true));
  return record(y, 'batchNorm2d', [x, weight, bias], backward(false), backward(true));
}
