// Deterministic "synthetic" values that the Python fixture script computes bit for bit the same way,
// so parity fixtures can ship inputs and outputs without shipping the weights that produced them.

/** FNV-1a over the UTF-16 code units of an ASCII name: a 32-bit seed per tensor name. */
export function fnv1a32(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Counter-based hash (murmur3 fmix32 of i·φ + seed·c): element i of stream `seed`. */
export function hash32(seed: number, i: number): number {
  let h = (Math.imul(i, 0x9e3779b1) + Math.imul(seed, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** n values uniform in [-1, 1), each exactly representable in float32 (24-bit mantissa). */
export function syntheticUniform(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((hash32(seed, i) >>> 8) / 16777216) * 2 - 1;
  return out;
}

/**
 * The value a synthetic state dict holds for `name` with `shape`:
 * weights of rank ≥ 2 are He-uniform (bound √(6/fan_in)); BN weights 1 ± 0.25, except the inner ones of a
 * residual branch (bn2, bn3: 0.2 ± 0.05); biases and running means ± 0.1; running variances 1 ± 0.5.
 * Scales are computed in float64, then rounded once to float32.
 *
 * Why the small branch gammas: deep train-mode BN stacks amplify round-off; with full-strength branches even
 * torch's own float32 gradients for ResNet-152 drift 5–17% from float64. Damped branches (in the spirit of
 * zeroInitResidual) keep the reference well-conditioned, so the tests can hold tight tolerances.
 */
export function syntheticTensor(name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = syntheticUniform(fnv1a32(name), n);
  let scale: number;
  let offset = 0;
  if (shape.length >= 2) {
    scale = Math.sqrt(6 / (n / shape[0]));
  } else if (name.endsWith('running_var')) {
    scale = 0.5;
    offset = 1;
  } else if (name.endsWith('bn2.weight') || name.endsWith('bn3.weight')) {
    scale = 0.05;
    offset = 0.2;
  } else if (name.endsWith('.weight')) {
    scale = 0.25;
    offset = 1;
  } else {
    scale = 0.1;
  }
  for (let i = 0; i < n; i++) u[i] = offset + u[i] * scale;
  return u;
}
