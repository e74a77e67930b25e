// Reference elementwise kernels: ReLU and the residual add, alone and fused.

export function relu(x: Float32Array, y: Float32Array): void {
  // NaN stays NaN, as in PyTorch (max(NaN, 0) would turn it into 0 and hide a diverging run).
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 || Number.isNaN(x[i]) ? x[i] : 0;
}

export function reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < dy.length; i++) dx[i] = y[i] <= 0 ? 0 : dy[i];
}

export function add(a: Float32Array, b: Float32Array, y: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = a[i] + b[i];
}

// The two reference kernels one after the other: the fused native kernel is tested against exactly that.
export function addRelu(a: Float32Array, b: Float32Array, y: Float32Array): void {
  add(a, b, y);
  relu(y, y);
}
