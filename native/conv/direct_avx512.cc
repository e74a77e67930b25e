// The AVX-512 direct 3×3 tile (direct.h): 8 output channels × 2 vectors of 16 pixels, 16 zmm accumulators. Each
// (channel, tap) step is 2 unaligned loads, 8 broadcasts and 16 FMAs, like the GEMM microkernel's k step.
// Compiled with -mavx512f -mfma; as in ukernel_avx512.cc, nothing here may be inline code shared with baseline files.
#include "direct.h"
#include "winograd_lanes.h"

#if defined(__AVX512F__)
// GCC 12 warns that the _mm512_undefined_* inside its own shuffle and cast intrinsics is used uninitialized (GCC bug
// 105593), as in batch_norm_avx512.cc.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>


namespace resnet {

namespace {

// The tile's accumulators out to y, with bias, residual and ReLU; masked stores for the vectors past the row's end.
__attribute__((always_inline)) inline void store_tile(const __m512 (&acc)[8][2], const DirectTile& tile,
                                                      size_t out_channel_stride, size_t ocs, const float* bias,
                                                      bool relu) {
  const __m512 zero = _mm512_setzero_ps();
  // Both loops unrolled, so that every accumulator is a register here: indexed by a run-time channel, the array
  // lived on the stack, and GCC stored all 16 accumulators there at every step of the loop that sums them.
#pragma GCC unroll 2
  for (size_t v = 0; v < 2; v++) {
    if (tile.valid[v] == 0) continue;
    const __mmask16 mask = tile.valid[v] >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << tile.valid[v]) - 1);
#pragma GCC unroll 8
    for (size_t i = 0; i < 8; i++) {
      if (i >= ocs) break;
      __m512 r = acc[i][v];
      if (bias || tile.residual[v]) {  // C + (bias + residual), as the GEMM epilogue adds them
        __m512 t = bias ? _mm512_set1_ps(bias[i]) : zero;
        if (tile.residual[v]) {
          t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(mask, tile.residual[v] + i * out_channel_stride));
        }
        r = _mm512_add_ps(r, t);
      }
      if (relu) r = _mm512_maskz_max_ps(0xFFFF, zero, r);  // max(0, NaN) is NaN
      _mm512_mask_storeu_ps(tile.out[v] + i * out_channel_stride, mask, r);
    }
  }
}

// One tap of the tile: the two input vectors at `at` against the tap's 8 weights.
__attribute__((always_inline)) inline void tap_8x2(const float* in0, const float* in1, size_t at, const float* w,
                                                   __m512 (&acc)[8][2]) {
  const __m512 x0 = _mm512_loadu_ps(in0 + at);
  const __m512 x1 = _mm512_loadu_ps(in1 + at);
#pragma GCC unroll 8
  for (size_t i = 0; i < 8; i++) {
    const __m512 a = _mm512_set1_ps(w[i]);
    acc[i][0] = _mm512_fmadd_ps(a, x0, acc[i][0]);
    acc[i][1] = _mm512_fmadd_ps(a, x1, acc[i][1]);
  }
}

// The 3×3 tile with taps kCol floats apart along a row: 1 in planes, 16 with images in lanes.
template <size_t kCol>
__attribute__((always_inline)) inline void tile_3x3(size_t channels, const float* w, size_t in_channel_stride,
                                                    size_t in_row_stride, const DirectTile& tile,
                                                    size_t out_channel_stride, size_t ocs, const float* bias,
                                                    bool relu) {
  __m512 acc[8][2];
#pragma GCC unroll 8
  for (size_t i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const float* in0 = tile.in[0];
  const float* in1 = tile.in[1];
  for (size_t c = 0; c < channels; c++) {
#pragma GCC unroll 3
    for (size_t ky = 0; ky < 3; ky++) {
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        tap_8x2(in0, in1, ky * in_row_stride + kx * kCol, w, acc);
        w += 8;
      }
    }
    in0 += in_channel_stride;
    in1 += in_channel_stride;
  }
  store_tile(acc, tile, out_channel_stride, ocs, bias, relu);
}

// The sum of v's 16 lanes, in a fixed order.
__attribute__((always_inline)) inline float sum_lanes(__m512 v) {
  const __m256 eight = _mm512_castps512_ps256(_mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2))));
  const __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
  const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
  return _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps(two, two, 1)));
}

}  // namespace

void direct3x3_tile_8x2x16_avx512(size_t channels, const float* w, size_t in_channel_stride, size_t in_row_stride,
                                  const DirectTile& tile, size_t out_channel_stride, size_t ocs, const float* bias,
                                  bool relu) {
  tile_3x3<1>(channels, w, in_channel_stride, in_row_stride, tile, out_channel_stride, ocs, bias, relu);
}

void direct3x3_lanes_tile_8x2x16_avx512(size_t channels, const float* w, size_t in_channel_stride,
                                        size_t in_row_stride, const DirectTile& tile, size_t out_channel_stride,
                                        size_t ocs, const float* bias, bool relu) {
  tile_3x3<16>(channels, w, in_channel_stride, in_row_stride, tile, out_channel_stride, ocs, bias, relu);
}

void direct_taps_tile_8x2x16_avx512(size_t taps, const int32_t* offsets, const float* w, const DirectTile& tile,
                                    size_t out_channel_stride, size_t ocs, const float* bias, bool relu) {
  __m512 acc[8][2];
#pragma GCC unroll 8
  for (size_t i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const float* in0 = tile.in[0];
  const float* in1 = tile.in[1];
  for (size_t t = 0; t < taps; t++) {
    tap_8x2(in0, in1, static_cast<size_t>(offsets[t]), w, acc);
    w += 8;
  }
  store_tile(acc, tile, out_channel_stride, ocs, bias, relu);
}

namespace {

// One step of the weight gradient's 3 × 9 tile: dy vectors d0..d2 against the 9 input vectors of a 3×3 window at
// x + at (rows in_row_stride apart, taps kCol floats apart: 1 in planes, 16 with images in lanes).
template <size_t kCol>
__attribute__((always_inline)) inline void dw_step_3x9(__m512 d0, __m512 d1, __m512 d2, const float* x, size_t at,
                                                       size_t in_row_stride, __m512 (&acc)[3][3][3]) {
#pragma GCC unroll 3
  for (size_t ky = 0; ky < 3; ky++) {
#pragma GCC unroll 3
    for (size_t kx = 0; kx < 3; kx++) {
      __m512 v = _mm512_loadu_ps(x + ky * in_row_stride + at + kx * kCol);
      // Loaded once into a register: left to itself GCC folds the load into each of the three FMAs, and 30 loads
      // per 27 FMAs (two thirds of them split across cache lines, in planes) made the loop load-bound.
      __asm__("" : "+v"(v));
      acc[0][ky][kx] = _mm512_fmadd_ps(d0, v, acc[0][ky][kx]);
      acc[1][ky][kx] = _mm512_fmadd_ps(d1, v, acc[1][ky][kx]);
      acc[2][ky][kx] = _mm512_fmadd_ps(d2, v, acc[2][ky][kx]);
    }
  }
}

}  // namespace

// 3 output channels × all 9 taps = 27 zmm accumulators, + 3 dy vectors + 1 input vector: per vector of 16 pixels,
// 3 masked dy loads and 9 input loads (from the padded channel, in L1) feed 27 FMAs. A kernel over one kernel row at
// a time (6 channels × 3 taps) re-read each dy vector from L2 three times as often and ran at a third of the FMA
// peak. Lanes past the row's end load dy as zero, so the input there (the next row) adds nothing. The accumulators
// go to `lanes` ([ky][i][kx][16], rows 3·3·16 apart) with constant indices only: a runtime index would keep them in
// memory.
void direct3x3_dw_3x9_avx512(size_t images, const float* dy, size_t dy_image, size_t dy_plane, size_t ocs, size_t h,
                             size_t w, const float* in, size_t in_image, size_t in_row_stride, float* lanes) {
  const float* rows[3];
  for (size_t i = 0; i < 3; i++) rows[i] = dy + (i < ocs ? i : 0) * dy_plane;
  __m512 acc[3][3][3];  // [i][ky][kx]
#pragma GCC unroll 27
  for (size_t j = 0; j < 27; j++) (&acc[0][0][0])[j] = _mm512_setzero_ps();
  // Masks: whole vectors, then the one at each row's end. Loops by pointer bumps: a division per row, on rows of one
  // or two vectors, cost more than the row's FMAs.
  const size_t tail = w % 16;
  const __mmask16 tail_mask = tail ? static_cast<__mmask16>((1u << tail) - 1) : 0xFFFF;
  const size_t full = w - tail;
  for (size_t img = 0; img < images; img++) {
    const float* x = in + img * in_image;
    size_t at = img * dy_image;
    for (size_t oy = 0; oy < h; oy++, x += in_row_stride, at += w) {
      for (size_t ox = 0; ox < w; ox += 16) {
        const __mmask16 mask = ox < full ? 0xFFFF : tail_mask;
        const __m512 d0 = _mm512_maskz_loadu_ps(mask, rows[0] + at + ox);
        const __m512 d1 = _mm512_maskz_loadu_ps(mask, rows[1] + at + ox);
        const __m512 d2 = _mm512_maskz_loadu_ps(mask, rows[2] + at + ox);
        dw_step_3x9<1>(d0, d1, d2, x, ox, in_row_stride, acc);
      }
    }
  }
#pragma GCC unroll 3
  for (size_t ky = 0; ky < 3; ky++) {
#pragma GCC unroll 3
    for (size_t i = 0; i < 3; i++) {
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        float* out = lanes + ((ky * 3 + i) * 3 + kx) * 16;
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), acc[i][ky][kx]));
      }
    }
  }
}

// The weight gradient with images in lanes: as direct3x3_dw_3x9_avx512 (3 output channels × 9 taps = 27
// accumulators), one pixel of 16 images per step, every load a whole aligned vector: 3 dy vectors and 9 input
// vectors feed 27 FMAs. Each accumulator's lanes (images) are added up at the end.
void direct3x3_lanes_dw_3x9_avx512(const float* dy, size_t dy_plane, size_t dy_row, size_t ocs, size_t h, size_t w,
                                   size_t stride, const float* in, size_t in_row_stride, float* sums) {
  const float* rows[3];
  for (size_t i = 0; i < 3; i++) rows[i] = dy + (i < ocs ? i : 0) * dy_plane;
  __m512 acc[3][3][3];  // [i][ky][kx]
#pragma GCC unroll 27
  for (size_t j = 0; j < 27; j++) (&acc[0][0][0])[j] = _mm512_setzero_ps();
  for (size_t oy = 0; oy < h; oy++, in += stride * in_row_stride) {
    for (size_t ox = 0, at = oy * dy_row; ox < w; ox++, at += 16) {
      const __m512 d0 = _mm512_load_ps(rows[0] + at);
      const __m512 d1 = _mm512_load_ps(rows[1] + at);
      const __m512 d2 = _mm512_load_ps(rows[2] + at);
      const float* x = in + ox * stride * 16;
      // Hidden from the compiler: knowing that this pixel's kx = 1 vectors are the last one's kx = 2, GCC carried
      // them across iterations and spilled the accumulators to the stack.
      __asm__("" : "+r"(x));
      dw_step_3x9<16>(d0, d1, d2, x, 0, in_row_stride, acc);
    }
  }
#pragma GCC unroll 3
  for (size_t ky = 0; ky < 3; ky++) {
#pragma GCC unroll 3
    for (size_t i = 0; i < 3; i++) {
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) sums[(ky * 3 + i) * 3 + kx] += sum_lanes(acc[i][ky][kx]);
    }
  }
}

namespace {

// r[a][b] → r[b][a] for a 16×16 block: pairs of rows interleaved, then pairs of pairs, then 128-bit lanes twice.
__attribute__((always_inline)) inline void transpose_16x16(__m512 (&r)[16]) {
  __m512 t[16];
  for (size_t i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + j], 128-bit lane k: column 4k + j of rows 4g..4g + 3
  for (size_t g = 0; g < 4; g++) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (size_t j = 0; j < 4; j++) {
    const __m512 s0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), s1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
    const __m512 s2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
    const __m512 s3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
    t[j] = _mm512_shuffle_f32x4(s0, s2, 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
    t[8 + j] = _mm512_shuffle_f32x4(s1, s3, 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
  }
  for (size_t i = 0; i < 16; i++) r[i] = t[i];
}

__mmask16 first(size_t n) { return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

}  // namespace

void direct_lanes_in_avx512(const float* src, size_t image_stride, size_t count, size_t p, size_t w, size_t row,
                            size_t offset, float* dst) {
  size_t y = 0, x = 0;  // of pixel q0
  for (size_t q0 = 0; q0 < p; q0 += 16) {
    const size_t n = p - q0 < 16 ? p - q0 : 16;
    __m512 r[16];
#pragma GCC unroll 16
    for (size_t l = 0; l < 16; l++) {
      r[l] = l < count ? _mm512_maskz_loadu_ps(first(n), src + l * image_stride + q0) : _mm512_setzero_ps();
    }
    transpose_16x16(r);
    for (size_t j = 0; j < n; j++) {
      _mm512_store_ps(dst + (y * row + x + offset) * 16, r[j]);
      if (++x == w) x = 0, y++;
    }
  }
}

void direct_lanes_out_avx512(const float* src, size_t count, size_t p, float* dst, size_t image_stride,
                             bool accumulate) {
  for (size_t q0 = 0; q0 < p; q0 += 16) {
    const size_t n = p - q0 < 16 ? p - q0 : 16;
    __m512 r[16];
#pragma GCC unroll 16
    for (size_t j = 0; j < 16; j++) r[j] = j < n ? _mm512_load_ps(src + (q0 + j) * 16) : _mm512_setzero_ps();
    transpose_16x16(r);
    for (size_t l = 0; l < count; l++) {
      float* to = dst + l * image_stride + q0;
      if (accumulate) r[l] = _mm512_add_ps(r[l], _mm512_maskz_loadu_ps(first(n), to));
      _mm512_mask_storeu_ps(to, first(n), r[l]);
    }
  }
}

namespace {

// The 16 lanes of a[k] summed, into lane k of the result (8 of them): each vector's halves added, then the 8 rows
// added up pairwise by horizontal adds.
__attribute__((always_inline)) inline __m256 sum_lanes_8(const __m512 (&a)[8]) {
  __m256 half[8];
  for (size_t k = 0; k < 8; k++) {
    half[k] = _mm256_add_ps(_mm512_castps512_ps256(a[k]),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[k]), 1)));
  }
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(half[0], half[1]), _mm256_hadd_ps(half[2], half[3]));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(half[4], half[5]), _mm256_hadd_ps(half[6], half[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

}  // namespace

// 6 output channels × 4 input channels = 24 accumulators + 4 V vectors held + 1 gradient vector streamed; the lanes
// are added up once per call, 8 accumulators at a time.
void winograd_lanes_dw_6x4_avx512(const float* g, size_t g_channel, const float* v, size_t v_channel, size_t tiles,
                                  size_t ocs, size_t cs, float* sums, size_t sums_row) {
  const float* gr[6];
  const float* vr[4];
  for (size_t i = 0; i < 6; i++) gr[i] = g + (i < ocs ? i : 0) * g_channel;
  for (size_t j = 0; j < 4; j++) vr[j] = v + (j < cs ? j : 0) * v_channel;
  __m512 acc[24];
#pragma GCC unroll 24
  for (size_t k = 0; k < 24; k++) acc[k] = _mm512_setzero_ps();
  for (size_t at = 0; at < tiles * 16; at += 16) {
    __m512 x[4];
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; j++) x[j] = _mm512_load_ps(vr[j] + at);
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) {
      const __m512 d = _mm512_load_ps(gr[i] + at);
#pragma GCC unroll 4
      for (size_t j = 0; j < 4; j++) acc[i * 4 + j] = _mm512_fmadd_ps(d, x[j], acc[i * 4 + j]);
    }
  }
  alignas(32) float out[24];
#pragma GCC unroll 3
  for (size_t k = 0; k < 3; k++) {
    const __m512 part[8] = {acc[8 * k],     acc[8 * k + 1], acc[8 * k + 2], acc[8 * k + 3],
                            acc[8 * k + 4], acc[8 * k + 5], acc[8 * k + 6], acc[8 * k + 7]};
    _mm256_store_ps(out + 8 * k, sum_lanes_8(part));
  }
  for (size_t i = 0; i < ocs && i < 6; i++) {
    for (size_t j = 0; j < cs && j < 4; j++) sums[i * sums_row + j] += out[i * 4 + j];
  }
}

void winograd_lanes_input_avx512(const float* d, size_t in_row, size_t tiles, float* v, size_t pos_stride) {
  winograd_lanes_input<16>(d, in_row, tiles, v, pos_stride);
}

void winograd_lanes_output_avx512(const float* m, size_t pos_stride, size_t tiles, float* y, size_t out_row,
                                  size_t rows, size_t cols) {
  winograd_lanes_output<16>(m, pos_stride, tiles, y, out_row, rows, cols);
}

void winograd_lanes_gradient_avx512(const float* d, size_t in_row, size_t tiles, float* g, size_t pos_stride) {
  winograd_lanes_gradient<16>(d, in_row, tiles, g, pos_stride);
}

}  // namespace resnet
#endif
