// The AVX-512 microkernel, compiled with -mavx512f -mfma and called only when the CPU (and OS) support AVX-512F.
// As in ukernel_avx2_fma.cc, nothing here may be an inline function or template shared with baseline files.
#include "ukernel.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace resnet {

namespace {

// The kernel for the tile's first M rows: a tile with fewer than 8 rows (a plane's last pixels, when output pixels
// are the rows: resnet50's 7×7 planes at batch 1 leave 1 of 8) multiplies only the rows it has.
template <size_t M>
void ukernel_rows(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha, float beta,
                  size_t n, const TileEpilogue* ep) {
  constexpr size_t m = M;
  __m512 acc[M][2];
#pragma GCC unroll 8
  for (size_t i = 0; i < M; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();

  for (size_t i = 0; i < m; i++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (size_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(bp);
    const __m512 b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 8
    for (size_t i = 0; i < M; i++) {
      const __m512 a = _mm512_set1_ps(ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
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
    __m512 r0 = _mm512_mul_ps(va, acc[i][0]);
    __m512 r1 = _mm512_mul_ps(va, acc[i][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask0, row), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask1, row + 16), r1);
    }
    if (ep) {
      if (ep->bias || ep->residual) {
        __m512 t0 = ep->bias ? _mm512_set1_ps(ep->bias[i]) : zero, t1 = t0;
        if (ep->residual) {
          const float* res = ep->residual + i * ep->ld_residual;
          t0 = _mm512_add_ps(t0, _mm512_maskz_loadu_ps(mask0, res));
          t1 = _mm512_add_ps(t1, _mm512_maskz_loadu_ps(mask1, res + 16));
        }
        r0 = _mm512_add_ps(r0, t0);
        r1 = _mm512_add_ps(r1, t1);
      }
      if (ep->relu) {  // max(0, r) returns r when r is NaN: NaN stays NaN. (maskz: GCC 12 warns on the plain form.)
        r0 = _mm512_maskz_max_ps(0xFFFF, zero, r0);
        r1 = _mm512_maskz_max_ps(0xFFFF, zero, r1);
      }
    }
    _mm512_mask_storeu_ps(row, mask0, r0);
    _mm512_mask_storeu_ps(row + 16, mask1, r1);
  }
}

}  // namespace

// 8×32 broadcast kernel: 16 zmm accumulators + 2 for the B row; the A values are broadcast from memory. 8 rows
// fit the channel counts of ResNets (16, 32, 64, ...) without padding. Each k step is 2 loads, 8 broadcasts and
// 16 FMAs: 8 cycles on two 512-bit FMA ports, with load slots to spare.
void sgemm_ukernel_8x32_avx512(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                               float beta, size_t m, size_t n, const TileEpilogue* ep) {
  using Rows = void (*)(size_t, const float*, const float*, float*, size_t, float, float, size_t, const TileEpilogue*);
  static constexpr Rows kByRows[8] = {ukernel_rows<1>, ukernel_rows<2>, ukernel_rows<3>, ukernel_rows<4>,
                                      ukernel_rows<5>, ukernel_rows<6>, ukernel_rows<7>, ukernel_rows<8>};
  kByRows[m - 1](kc, ap, bp, c, ldc, alpha, beta, n, ep);  // 1 <= m <= 8 (ukernel.h)
}

}  // namespace resnet
#endif
