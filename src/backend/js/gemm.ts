// Reference GEMM on typed arrays: row-major C = alpha·op(A)·op(B) + beta·C, with loop orders that stream
// contiguous rows (axpy form for A·B and Aᵀ·B, dot form for A·Bᵀ), accumulating in float64.

const BLOCK_N = 256;

function scaleC(m: number, n: number, beta: number, c: Float32Array, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const row = i * ldc;
    if (beta === 0) c.fill(0, row, row + n);
    else for (let j = 0; j < n; j++) c[row + j] *= beta;
  }
}

export function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  scaleC(m, n, beta, c, ldc);
  if (m === 0 || n === 0 || k === 0) return;
  if (transB) {
    if (transA) {
      // Rare (no ResNet kernel needs it): materialise Bᵀ and fall into the Aᵀ·B case.
      const bt = new Float32Array(k * n);
      for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) bt[p * n + j] = b[j * ldb + p];
      gemmAxpy(true, m, n, k, alpha, a, lda, bt, n, c, ldc);
      return;
    }
    gemmTransB(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  gemmAxpy(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

// C[i, j] += alpha·A[i, p]·B[p, j], or with A stored [k, m] when transA. Each row block of C accumulates in
// float64 across all of k, so the reference carries no float32 summation error into the tests it anchors.
function gemmAxpy(
  transA: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  c: Float32Array,
  ldc: number,
): void {
  const acc = new Float64Array(BLOCK_N);
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const width = Math.min(n, j0 + BLOCK_N) - j0;
    for (let i = 0; i < m; i++) {
      acc.fill(0, 0, width);
      for (let p = 0; p < k; p++) {
        const av = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
        const bp = p * ldb + j0;
        for (let j = 0; j < width; j++) acc[j] += av * b[bp + j];
      }
      const ci = i * ldc + j0;
      for (let j = 0; j < width; j++) c[ci + j] += acc[j];
    }
  }
}

// C[i, j] += alpha·dot(A[i, :], B[j, :])  (B stored [n, k])
function gemmTransB(
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  c: Float32Array,
  ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    const ai = i * lda;
    for (let j = 0; j < n; j++) {
      const bj = j * ldb;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = 0;
      for (; p + 3 < k; p += 4) {
        s0 += a[ai + p] * b[bj + p];
        s1 += a[ai + p + 1] * b[bj + p + 1];
        s2 += a[ai + p + 2] * b[bj + p + 2];
        s3 += a[ai + p + 3] * b[bj + p + 3];
      }
      for (; p < k; p++) s0 += a[ai + p] * b[bj + p];
      c[i * ldc + j] += alpha * (s0 + s1 + s2 + s3);
    }
  }
}
