// The AVX2+FMA microkernel, compiled with -mavx2 -mfma and called only when the CPU has both.
// Nothing here may be an inline function or template shared with baseline files: the linker could keep this
// file's AVX2 copy for everyone, and the baseline path would then fault on older CPUs.
#include "ukernel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace resnet {

namespace {

// An edge tile's store: tile holds alpha·acc; only the m×n part of C that exists is touched.
void store_edge(const float (&tile)[6][16], float* c, size_t ldc, float beta, size_t m, size_t n,
                const TileEpilogue* ep) {
  for (size_t i = 0; i < m; i++) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      for (size_t j = 0; j < n; j++) row[j] = tile[i][j];
    } else {
      for (size_t j = 0; j < n; j++) row[j] = tile[i][j] + beta * row[j];
    }
    if (ep) tile_epilogue_row(*ep, i, row, n);
  }
}

// Tiles of at most 2 rows multiply only those, where the 6-row loop would multiply 4 or 5 padding rows as well: the
// last panel of 128, 512 or 2048 output channels (2 rows), a classifier at batch 1 or 2 in the rows layout. (A 7×7
// plane, once 8 panels of 6 and one of 1, now runs as tiles of 5 and 6: TileRows in sgemm.cc.)
template <size_t M>
void few_rows(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha, float beta, size_t n,
              const TileEpilogue* ep) {
  __m256 acc[M][2];
#pragma GCC unroll 2
  for (size_t i = 0; i < M; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (size_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(bp);
    const __m256 b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 2
    for (size_t i = 0; i < M; i++) {
      const __m256 a = _mm256_broadcast_ss(ap + i);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
    ap += 6;
    bp += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  alignas(32) float tile[6][16];
#pragma GCC unroll 2
  for (size_t i = 0; i < M; i++) {
    _mm256_store_ps(tile[i], _mm256_mul_ps(va, acc[i][0]));
    _mm256_store_ps(tile[i] + 8, _mm256_mul_ps(va, acc[i][1]));
  }
  store_edge(tile, c, ldc, beta, M, n, ep);
}

}  // namespace

// 6×16 broadcast kernel: 12 ymm accumulators + 2 for the B row + 1 for the broadcast A value = 15 of 16 registers.
// Each k step is 2 loads, 6 broadcasts and 12 FMAs: 6 cycles on two FMA ports, with loads to spare.
void sgemm_ukernel_6x16_avx2_fma(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                                 float beta, size_t m, size_t n, const TileEpilogue* ep) {
  if (m <= 2) {
    (m == 1 ? few_rows<1> : few_rows<2>)(kc, ap, bp, c, ldc, alpha, beta, n, ep);
    return;
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

  // The C tile is touched only after the k loop; start its lines on their way now.
  for (size_t i = 0; i < m; i++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (size_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(bp);
    const __m256 b1 = _mm256_loadu_ps(bp + 8);
    __m256 a;
    a = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += 6;
    bp += 16;
  }

  const __m256 va = _mm256_set1_ps(alpha);
  __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (m == 6 && n == 16) {
    const __m256 vb = _mm256_set1_ps(beta);
    const __m256 zero = _mm256_setzero_ps();
    for (size_t i = 0; i < 6; i++) {
      float* row = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(va, rows[i][0]);
      __m256 r1 = _mm256_mul_ps(va, rows[i][1]);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), r1);
      }
      // The epilogue in registers, as tile_epilogue_row does it: C + (bias + residual), then max(0, ·), which
      // returns its second operand when that is NaN.
      if (ep) {
        if (ep->bias || ep->residual) {
          __m256 t0 = ep->bias ? _mm256_set1_ps(ep->bias[i]) : zero, t1 = t0;
          if (ep->residual) {
            const float* res = ep->residual + i * ep->ld_residual;
            t0 = _mm256_add_ps(t0, _mm256_loadu_ps(res));
            t1 = _mm256_add_ps(t1, _mm256_loadu_ps(res + 8));
          }
          r0 = _mm256_add_ps(r0, t0);
          r1 = _mm256_add_ps(r1, t1);
        }
        if (ep->relu) {
          r0 = _mm256_max_ps(zero, r0);
          r1 = _mm256_max_ps(zero, r1);
        }
      }
      _mm256_storeu_ps(row, r0);
      _mm256_storeu_ps(row + 8, r1);
    }
    return;
  }
  // Edge tile: spill the accumulators and touch only the m×n part of C that exists.
  alignas(32) float tile[6][16];
  for (size_t i = 0; i < 6; i++) {
    _mm256_store_ps(tile[i], _mm256_mul_ps(va, rows[i][0]));
    _mm256_store_ps(tile[i] + 8, _mm256_mul_ps(va, rows[i][1]));
  }
  store_edge(tile, c, ldc, beta, m, n, ep);
}

namespace {

// r[0..7] (rows) become its columns: r[j][i] = old r[i][j].
void transpose_8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

}  // namespace

void sgemm_store_columns_avx2_fma(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                                  const TileEpilogue* ep) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i rows_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)), lane);
  const __m256 zero = _mm256_setzero_ps();
  for (size_t j0 = 0; j0 < n; j0 += 8) {
    const size_t cols = n - j0 < 8 ? n - j0 : 8;
    const __m256i cols_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)), lane);
    __m256 r[8];
    for (size_t i = 0; i < 8; i++) {
      r[i] = i >= m ? zero : cols == 8 ? _mm256_loadu_ps(tile + i * ld + j0)
                                       : _mm256_maskload_ps(tile + i * ld + j0, cols_mask);
    }
    transpose_8x8(r);
    for (size_t j = 0; j < cols; j++) {
      __m256 v = r[j];
      if (ep) {
        if (ep->bias) v = _mm256_add_ps(v, _mm256_set1_ps(ep->bias[j0 + j]));
        if (ep->residual) {
          v = _mm256_add_ps(v, _mm256_maskload_ps(ep->residual + (j0 + j) * ep->ld_residual, rows_mask));
        }
        if (ep->relu) v = _mm256_max_ps(zero, v);  // max(0, v) returns its second operand, v, when v is NaN
      }
      float* out = dst + (j0 + j) * ldd;
      if (m == 8) {
        _mm256_storeu_ps(out, v);
      } else {
        _mm256_maskstore_ps(out, rows_mask, v);
      }
    }
  }
}

}  // namespace resnet
#endif
