// Reference GEMM on typed arrays: row-major C = alpha·op(A)·op(B) + beta·C, with loop orders that stream
// contiguous rows (axpy form for A·B and Aᵀ·B, dot form for A·Bᵀ) and k/j blocking to stay in cache.

const BLOCK_K = 128;
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
      gemmTransA(m, n, k, alpha, a, lda, bt, n, c, ldc);
      return;
    }
    gemmTransB(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  if (transA) gemmTransA(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else gemmNN(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

// C[i, j] += alpha·A[i, p]·B[p, j]
function gemmNN(
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
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const j1 = Math.min(n, j0 + BLOCK_N);
    for (let p0 = 0; p0 < k; p0 += BLOCK_K) {
      const p1 = Math.min(k, p0 + BLOCK_K);
      for (let i = 0; i < m; i++) {
        const ci = i * ldc;
        const ai = i * lda;
        for (let p = p0; p < p1; p++) {
          const av = alpha * a[ai + p];
          const bp = p * ldb;
          for (let j = j0; j < j1; j++) c[ci + j] += av * b[bp + j];
        }
      }
    }
  }
}

// C[i, j] += alpha·A[p, i]·B[p, j]  (A stored [k, m])
function gemmTransA(
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
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const j1 = Math.min(n, j0 + BLOCK_N);
    for (let p0 = 0; p0 < k; p0 += BLOCK_K) {
      const p1 = Math.min(k, p0 + BLOCK_K);
      for (let i = 0; i < m; i++) {
        const ci = i * ldc;
        for (let p = p0; p < p1; p++) {
          const av = alpha * a[p * lda + i];
          const bp = p * ldb;
          for (let j = j0; j < j1; j++) c[ci + j] += av * b[bp + j];
        }
      }
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
