// linear: y = x·Wᵀ + b, the classifier head; all three gradients are GEMMs or row sums.
import { record } from '../autograd/tape.ts';
import { kernels } from '../backend/index.ts';
import { takeBuffer, takeZeroed } from '../tensor/pool.ts';
import { shapeString, type Tensor } from '../tensor/tensor.ts';
import { emptyTensor, expectRank } from './util.ts';

// x is (N,IN), weight is (OUT,IN), bias is (OUT) → (N,OUT)
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  expectRank(x, 2, 'linear', 'input');
  expectRank(weight, 2, 'linear', 'weight');
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (wIn !== inF) {
    throw new Error(
      `linear: input ${shapeString(x.shape)} has ${inF} features but weight ${shapeString(weight.shape)} expects ${wIn}`,
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) {
    throw new Error(`linear: bias must have shape [${outF}], got ${shapeString(bias.shape)}`);
  }
  const k = kernels();
  const y = emptyTensor([n, outF]);
  k.gemm(false, true, n, outF, inF, 1, x.data, inF, weight.data, inF, 0, y.data, outF);
  if (bias) for (let i = 0; i < n; i++) for (let j = 0; j < outF; j++) y.data[i * outF + j] += bias.data[j];
  return record(y, 'linear', [x, weight, bias], (dy, needs) => {
    let dx: Float32Array | null = null;
    let dw: Float32Array | null = null;
    let db: Float32Array | null = null;
    if (needs[0]) {
      dx = takeBuffer(n * inF);
      k.gemm(false, false, n, inF, outF, 1, dy, outF, weight.data, inF, 0, dx, inF);
    }
    if (needs[1]) {
      dw = takeBuffer(outF * inF);
      k.gemm(true, false, outF, inF, n, 1, dy, outF, x.data, inF, 0, dw, inF);
    }
    if (needs[2]) {
      db = takeZeroed(outF);
      for (let i = 0; i < n; i++) for (let j = 0; j < outF; j++) db[j] += dy[i * outF + j];
    }
    return [dx, dw, db];
  });
}
