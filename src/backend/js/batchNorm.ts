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
  batchNormApply(n, c, hw, x, mean, invStd, gamma, beta, y);
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
): void {
  for (let ch = 0; ch < c; ch++) {
    const scale = invStd[ch] * (gamma ? gamma[ch] : 1);
    const shift = (beta ? beta[ch] : 0) - mean[ch] * scale;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) y[i] = x[i] * scale + shift;
    }
  }
}

// dy, x are (N,C,HW); mean, invStd, gamma, dgamma, dbeta are (C)
export function batchNormBackward(
  n: number,
  c: number,
  hw: number,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array | null,
  batchStats: boolean,
  dx: Float32Array | null,
  dgamma: Float32Array | null,
  dbeta: Float32Array | null,
): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch];
    const is = invStd[ch];
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * hw;
      for (let i = o; i < o + hw; i++) {
        sumDy += dy[i];
        sumDyXhat += dy[i] * (x[i] - mu) * is;
      }
    }
    if (dgamma) dgamma[ch] = sumDyXhat;
    if (dbeta) dbeta[ch] = sumDy;
    if (!dx) continue;
    const scale = (gamma ? gamma[ch] : 1) * is;
    if (!batchStats) {
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * hw;
        for (let i = o; i < o + hw; i++) dx[i] = dy[i] * scale;
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
        dx[i] = scale * (dy[i] - meanDy - xhat * meanDyXhat);
      }
    }
  }
}
