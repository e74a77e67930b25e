// The AVX-512 microkernel, compiled with -mavx512f -mfma and called only when the CPU (and OS) support AVX-512F.
// As in ukernel_avx2_fma.cc, nothing here may be an inline function or template shared with baseline files.
#include "ukernel.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace resnet {

namespace {

// The kernel for the tile's first M rows and V of its two 16-column vectors: a tile with fewer than 8 rows (a
// plane's last pixels, when output pixels are the rows) multiplies only the rows it has, and one with at most 16
// columns (resnet50's 28×28 planes at batch 1 end in a 16-pixel panel) only its first vector.
template <size_t M, size_t V>
void ukernel_rows(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha, float beta,
                  size_t n, const TileEpilogue* ep) {
  constexpr size_t m = M;
  __m512 acc[M][V];
#pragma GCC unroll 8
  for (size_t i = 0; i < M; i++) {
    for (size_t v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
  }

  for (size_t i = 0; i < m; i++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    if (V == 2) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (size_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(bp);
    const __m512 b1 = V == 2 ? _mm512_loadu_ps(bp + 16) : b0;
#pragma GCC unroll 8
    for (size_t i = 0; i < M; i++) {
      const __m512 a = _mm512_set1_ps(ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      if constexpr (V == 2) acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    ap += 8;
    bp += 32;
  }

  // C = alpha·acc + beta·C, then the epilogue, in registers: one pass over the tile's lines. Masks cover the edge
  // tiles (masked loads and stores touch only the m×n part of C that exists; beta == 0 never reads C).
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 mask0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 mask1 = n <= 16 ? 0 : n >= 32 ? 0xFFFF : static_cast<__mmask16>((1u << (n - 16)) - 1);
  for (size_t i = 0; i < m; i++) {
    float* row = c + i * ldc;
    __m512 r[V];
    for (size_t v = 0; v < V; v++) r[v] = _mm512_mul_ps(va, acc[i][v]);
    const __mmask16 masks[2] = {mask0, mask1};
    if (beta != 0.0f) {
      for (size_t v = 0; v < V; v++) r[v] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(masks[v], row + 16 * v), r[v]);
    }
    if (ep) {
      if (ep->bias || ep->residual) {
        const __m512 t = ep->bias ? _mm512_set1_ps(ep->bias[i]) : zero;
        for (size_t v = 0; v < V; v++) {
          __m512 tv = t;
          if (ep->residual) {
            tv = _mm512_add_ps(tv, _mm512_maskz_loadu_ps(masks[v], ep->residual + i * ep->ld_residual + 16 * v));
          }
          r[v] = _mm512_add_ps(r[v], tv);
        }
      }
      if (ep->relu) {  // max(0, r) returns r when r is NaN: NaN stays NaN. (maskz: GCC 12 warns on the plain form.)
        for (size_t v = 0; v < V; v++) r[v] = _mm512_maskz_max_ps(0xFFFF, zero, r[v]);
      }
    }
    for (size_t v = 0; v < V; v++) _mm512_mask_storeu_ps(row + 16 * v, masks[v], r[v]);
  }
}

}  // namespace

// 8×32 broadcast kernel: 16 zmm accumulators + 2 for the B row; the A values are broadcast from memory. 8 rows
// fit the channel counts of ResNets (16, 32, 64, ...) without padding. Each k step is 2 loads, 8 broadcasts and
// 16 FMAs: 8 cycles on two 512-bit FMA ports, with load slots to spare.
void sgemm_ukernel_8x32_avx512(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                               float beta, size_t m, size_t n, const TileEpilogue* ep) {
  using Rows = void (*)(size_t, const float*, const float*, float*, size_t, float, float, size_t, const TileEpilogue*);
  static constexpr Rows kByRows[2][8] = {
      {ukernel_rows<1, 1>, ukernel_rows<2, 1>, ukernel_rows<3, 1>, ukernel_rows<4, 1>, ukernel_rows<5, 1>,
       ukernel_rows<6, 1>, ukernel_rows<7, 1>, ukernel_rows<8, 1>},
      {ukernel_rows<1, 2>, ukernel_rows<2, 2>, ukernel_rows<3, 2>, ukernel_rows<4, 2>, ukernel_rows<5, 2>,
       ukernel_rows<6, 2>, ukernel_rows<7, 2>, ukernel_rows<8, 2>}};
  kByRows[n > 16][m - 1](kc, ap, bp, c, ldc, alpha, beta, n, ep);  // 1 <= m <= 8, 1 <= n <= 32 (ukernel.h)
}

}  // namespace resnet
#endif
