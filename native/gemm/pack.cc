// Panel packing. Compiled for baseline x86-64 (SSE2 is part of it): packing is memory-bound, and one copy
// serves every microkernel ISA.
#include "pack.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace resnet {
namespace {

// Rows contiguous in k (A not transposed, B transposed): a transpose. 4×4 blocks go through registers so that
// each store writes 4 floats instead of 1.
template <size_t Tile>
void pack_panel_k_contiguous(const float* src, size_t row_stride, size_t rows, size_t kc, float* dst) {
  size_t r = 0;
#if defined(__SSE2__)
  for (; r + 4 <= rows; r += 4) {
    const float* s0 = src + r * row_stride;
    const float* s1 = s0 + row_stride;
    const float* s2 = s1 + row_stride;
    const float* s3 = s2 + row_stride;
    size_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 x0 = _mm_loadu_ps(s0 + k), x1 = _mm_loadu_ps(s1 + k);
      __m128 x2 = _mm_loadu_ps(s2 + k), x3 = _mm_loadu_ps(s3 + k);
      _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
      _mm_storeu_ps(dst + (k + 0) * Tile + r, x0);
      _mm_storeu_ps(dst + (k + 1) * Tile + r, x1);
      _mm_storeu_ps(dst + (k + 2) * Tile + r, x2);
      _mm_storeu_ps(dst + (k + 3) * Tile + r, x3);
    }
    for (; k < kc; k++) {
      float* out = dst + k * Tile + r;
      out[0] = s0[k], out[1] = s1[k], out[2] = s2[k], out[3] = s3[k];
    }
  }
#endif
  for (; r < rows; r++) {
    const float* row = src + r * row_stride;
    for (size_t k = 0; k < kc; k++) dst[k * Tile + r] = row[k];
  }
  for (r = rows; r < Tile; r++) {
    for (size_t k = 0; k < kc; k++) dst[k * Tile + r] = 0.0f;
  }
}

// Panels contiguous across rows (A transposed, B not transposed): a copy. k is the outer loop so that each source
// row is read across all panels at once: several contiguous lines per row keep the hardware prefetcher going,
// where one line per row and panel (rows far apart) runs at half the bandwidth.
template <size_t Tile>
void pack_rows_contiguous(const float* src, size_t k_stride, size_t rows, size_t kc, float* dst) {
  const size_t full_panels = rows / Tile, tail = rows % Tile;
  for (size_t k = 0; k < kc; k++) {
    const float* step = src + k * k_stride;
    float* out = dst + k * Tile;
    for (size_t p = 0; p < full_panels; p++) std::memcpy(out + p * Tile * kc, step + p * Tile, Tile * sizeof(float));
    if (tail != 0) {
      float* last = out + full_panels * Tile * kc;
      const float* in = step + full_panels * Tile;
      for (size_t r = 0; r < tail; r++) last[r] = in[r];
      for (size_t r = tail; r < Tile; r++) last[r] = 0.0f;
    }
  }
}

}  // namespace

template <size_t Tile>
void sgemm_pack_panels(const float* src, size_t row_stride, size_t k_stride, size_t rows, size_t kc, float* dst) {
  // One of the two strides is 1: op(A) and op(B) are views of row-major matrices.
  if (k_stride == 1 && row_stride != 1) {
    for (size_t r0 = 0; r0 < rows; r0 += Tile) {
      const size_t panel_rows = rows - r0 < Tile ? rows - r0 : Tile;
      pack_panel_k_contiguous<Tile>(src + r0 * row_stride, row_stride, panel_rows, kc, dst + r0 * kc);
    }
  } else {
    pack_rows_contiguous<Tile>(src, k_stride, rows, kc, dst);
  }
}

template void sgemm_pack_panels<4>(const float*, size_t, size_t, size_t, size_t, float*);
template void sgemm_pack_panels<6>(const float*, size_t, size_t, size_t, size_t, float*);
template void sgemm_pack_panels<8>(const float*, size_t, size_t, size_t, size_t, float*);
template void sgemm_pack_panels<16>(const float*, size_t, size_t, size_t, size_t, float*);
template void sgemm_pack_panels<32>(const float*, size_t, size_t, size_t, size_t, float*);

}  // namespace resnet
