// Reference batch norm over x viewed as (N, C, HW): statistics per channel, accumulated in float64.

export function batchNormTrain(
  n: number,
  c: number,
  hw: number,
  x: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  eps: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  invStd: Float32Array,
  relu: boolean,
  residual: Float32Array | null,
): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) sum += x[i];
    }
    const mu = sum / count;
    // Two passes: the centred sum of squares avoids the cancellation of E[x²] − E[x]².
    let sq = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) {
        const d = x[i] - mu;
        sq += d * d;
      }
    }
    mean[ch] = mu;
    variance[ch] = sq / count;
    invStd[ch] = 1 / Math.sqrt(sq / count + eps);
  }
  batchNormApply(n, c, hw, x, mean, invStd, gamma, beta, y, relu, residual);
}

export function batchNormApply(
  n: number,
  c: number,
  hw: number,
  x: Float32Array,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  y: Float32Array,
  relu: boolean,
  residual: Float32Array | null,
): void {
  for (let ch = 0; ch < c; ch++) {
    const [scale, shift] = affine(ch, mean, invStd, gamma, beta);
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) {
        let v = Math.fround(x[i] * scale + shift);
        if (residual) v = Math.fround(v + residual[i]);
        y[i] = relu && v <= 0 ? 0 : v; // NaN stays NaN
      }
    }
  }
}

/** Channel ch's forward map y = x·scale + shift; the backward pass through a fused ReLU recomputes y with it. */
function affine(
  ch: number,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
): [number, number] {
  const scale = invStd[ch] * (gamma ? gamma[ch] : 1);
  return [scale, (beta ? beta[ch] : 0) - mean[ch] * scale];
}

// dy, x are (N,C,HW); mean, invStd, gamma, beta, dgamma, dbeta are (C)
export function batchNormBackward(
  n: number,
  c: number,
  hw: number,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  batchStats: boolean,
  reluAfter: boolean,
  dx: Float32Array | null,
  dgamma: Float32Array | null,
  dbeta: Float32Array | null,
): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch];
    const is = invStd[ch];
    // The gradient reaching the batch norm's output: through a fused ReLU, only where the forward output was > 0.
    const [fScale, fShift] = affine(ch, mean, invStd, gamma, beta);
    const g = (i: number) => (reluAfter && Math.fround(x[i] * fScale + fShift) <= 0 ? 0 : dy[i]);
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) {
        const gi = g(i);
        sumDy += gi;
        sumDyXhat += gi * (x[i] - mu) * is;
      }
    }
    if (dgamma) dgamma[ch] = sumDyXhat;
    if (dbeta) dbeta[ch] = sumDy;
    if (!dx) continue;
    const scale = (gamma ? gamma[ch] : 1) * is;
    if (!batchStats) {
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * hw;
        for (let i = o; i < o + hw; i++) dx[i] = g(i) * scale;
      }
      continue;
    }
    // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂))
    const meanDy = sumDy / count;
    const meanDyXhat = sumDyXhat / count;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) {
        const xhat = (x[i] - mu) * is;
        dx[i] = scale * (g(i) - meanDy - xhat * meanDyXhat);
      }
    }
  }
}
