// logSoftmax and crossEntropy (mean reduction, optional label smoothing) with their gradients.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer } from '../tensor/pool.ts';
import { type IntTensor, shapeString, Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank } from './util.ts';

// x is (N,K) → (N,K), over dim 1
export function logSoftmax(x: Tensor): Tensor {
  expectRank(x, 2, 'logSoftmax', 'input');
  const [rows, cols] = x.shape;
  const y = emptyTensor(x.shape);
  kernels().logSoftmax(rows, cols, x.data, y.data);
  return record(y, 'logSoftmax', [x], (dy) => {
    // dx = dy − softmax·Σ dy
    const dx = takeBuffer(dy.length);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] = dy[o + j] - Math.exp(y.data[o + j]) * s;
    }
    return [dx];
  });
}

export interface CrossEntropyOptions {
  labelSmoothing?: number;
}

function labelIndex(labels: IntTensor | ArrayLike<number>, i: number): number {
  return 'dtype' in labels ? Number(labels.data[i]) : labels[i];
}

/**
 * Mean cross-entropy of logits (N,K) against class indices (N). With label smoothing ε the target is
 * (1 − ε)·onehot + ε/K, as torch.nn.functional.cross_entropy(label_smoothing=ε).
 */
export function crossEntropy(
  logits: Tensor,
  labels: IntTensor | ArrayLike<number>,
  opts: CrossEntropyOptions = {},
): Tensor {
  expectRank(logits, 2, 'crossEntropy', 'logits');
  const [n, k] = logits.shape;
  const count = 'dtype' in labels ? labels.numel : labels.length;
  if (count !== n) throw new Error(`crossEntropy: ${count} labels for logits of shape ${shapeString(logits.shape)}`);
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  const target = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = labelIndex(labels, i);
    if (!Number.isInteger(t) || t < 0 || t >= k)
      throw new Error(`crossEntropy: label ${t} at index ${i} is outside [0, ${k})`);
    target[i] = t;
  }
  const logp = new Float32Array(n * k);
  kernels().logSoftmax(n, k, logits.data, logp);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let rowSum = 0;
    for (let j = 0; j < k; j++) rowSum += logp[o + j];
    loss -= (1 - eps) * logp[o + target[i]] + (eps / k) * rowSum;
  }
  const out = new Tensor(new Float32Array([loss / Math.max(n, 1)]), []);
  return record(out, 'crossEntropy', [logits], (dy) => {
    // d/dlogits = (softmax − target distribution) / N
    const scale = dy[0] / Math.max(n, 1);
    const dx = takeBuffer(n * k);
    for (let i = 0; i < n; i++) {
      const o = i * k;
      for (let j = 0; j < k; j++) dx[o + j] = (Math.exp(logp[o + j]) - eps / k) * scale;
      dx[o + target[i]] -= (1 - eps) * scale;
    }
    return [dx];
  });
}
