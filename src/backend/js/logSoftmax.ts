// Reference row-wise log-softmax, shifted by the row maximum so exp() cannot overflow.

export function logSoftmax(rows: number, cols: number, x: Float32Array, y: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j] - max);
    const logZ = max + Math.log(sum);
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j] - logZ;
  }
}
