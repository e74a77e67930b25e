// The AVX2 direct 3×3 tile (direct.h): 6 output channels × 2 vectors of 8 pixels, 12 ymm accumulators + 2 input
// vectors + 1 broadcast = 15 of 16 registers. Compiled with -mavx2 -mfma; as in ukernel_avx2_fma.cc, nothing here
// may be inline code shared with baseline files.
#include "direct.h"
#include "winograd_lanes.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>


namespace resnet {

namespace {

// The tile's accumulators out to y, with bias, residual and ReLU. Partial vectors go through a spilled row: AVX2
// has no masked float store that is cheap and exact here.
__attribute__((always_inline)) inline void store_tile(const __m256 (&acc)[6][2], const DirectTile& tile,
                                                      size_t out_channel_stride, size_t ocs, const float* bias,
                                                      bool relu) {
  const __m256 zero = _mm256_setzero_ps();
  // Both loops unrolled, so that every accumulator is a register here: indexed by a run-time channel, the array
  // lived on the stack, and GCC stored all 12 accumulators there at every step of the loop that sums them.
#pragma GCC unroll 2
  for (size_t v = 0; v < 2; v++) {
    const size_t valid = tile.valid[v];
    if (valid == 0) continue;
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) {
      if (i >= ocs) break;
      __m256 r = acc[i][v];
      float* out = tile.out[v] + i * out_channel_stride;
      const float* res = tile.residual[v] ? tile.residual[v] + i * out_channel_stride : nullptr;
      if (valid == 8) {
        if (bias || res) {
          __m256 t = bias ? _mm256_set1_ps(bias[i]) : zero;
          if (res) t = _mm256_add_ps(t, _mm256_loadu_ps(res));
          r = _mm256_add_ps(r, t);
        }
        if (relu) r = _mm256_max_ps(zero, r);  // max(0, NaN) is NaN
        _mm256_storeu_ps(out, r);
        continue;
      }
      alignas(32) float row[8];
      _mm256_store_ps(row, r);
      for (size_t l = 0; l < valid; l++) {
        float value = row[l];
        if (bias || res) value += (bias ? bias[i] : 0.0f) + (res ? res[l] : 0.0f);
        out[l] = relu && value < 0.0f ? 0.0f : value;
      }
    }
  }
}

// One tap of the tile: the two input vectors at `at` against the tap's 6 weights.
__attribute__((always_inline)) inline void tap_6x2(const float* in0, const float* in1, size_t at, const float* w,
                                                   __m256 (&acc)[6][2]) {
  const __m256 x0 = _mm256_loadu_ps(in0 + at);
  const __m256 x1 = _mm256_loadu_ps(in1 + at);
#pragma GCC unroll 6
  for (size_t i = 0; i < 6; i++) {
    const __m256 a = _mm256_broadcast_ss(w + i);
    acc[i][0] = _mm256_fmadd_ps(a, x0, acc[i][0]);
    acc[i][1] = _mm256_fmadd_ps(a, x1, acc[i][1]);
  }
}

// The 3×3 tile with taps kCol floats apart along a row: 1 in planes, 8 with images in lanes.
template <size_t kCol>
__attribute__((always_inline)) inline void tile_3x3(size_t channels, const float* w, size_t in_channel_stride,
                                                    size_t in_row_stride, const DirectTile& tile,
                                                    size_t out_channel_stride, size_t ocs, const float* bias,
                                                    bool relu) {
  __m256 acc[6][2];
#pragma GCC unroll 6
  for (size_t i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* in0 = tile.in[0];
  const float* in1 = tile.in[1];
  for (size_t c = 0; c < channels; c++) {
#pragma GCC unroll 3
    for (size_t ky = 0; ky < 3; ky++) {
#pragma GCC unroll 3
      for (size_t kx = 0; kx < 3; kx++) {
        tap_6x2(in0, in1, ky * in_row_stride + kx * kCol, w, acc);
        w += 6;
      }
    }
    in0 += in_channel_stride;
    in1 += in_channel_stride;
  }
  store_tile(acc, tile, out_channel_stride, ocs, bias, relu);
}

// acc[kx] += d · x_kx over one kernel row's 3 taps: the step of both weight-gradient kernels below, per dy vector.
__attribute__((always_inline)) inline void dw_step_3(__m256 d, __m256 x0, __m256 x1, __m256 x2, __m256 (&acc)[3]) {
  acc[0] = _mm256_fmadd_ps(d, x0, acc[0]);
  acc[1] = _mm256_fmadd_ps(d, x1, acc[1]);
  acc[2] = _mm256_fmadd_ps(d, x2, acc[2]);
}

// The sum of v's 8 lanes, in a fixed order.
__attribute__((always_inline)) inline float sum_lanes(__m256 v) {
  const __m128 four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
  return _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps(two, two, 1)));
}

}  // namespace

void direct3x3_tile_6x2x8_avx2_fma(size_t channels, const float* w, size_t in_channel_stride, size_t in_row_stride,
                                   const DirectTile& tile, size_t out_channel_stride, size_t ocs, const float* bias,
                                   bool relu) {
  tile_3x3<1>(channels, w, in_channel_stride, in_row_stride, tile, out_channel_stride, ocs, bias, relu);
}

void direct3x3_lanes_tile_6x2x8_avx2_fma(size_t channels, const float* w, size_t in_channel_stride,
                                         size_t in_row_stride, const DirectTile& tile, size_t out_channel_stride,
                                         size_t ocs, const float* bias, bool relu) {
  tile_3x3<8>(channels, w, in_channel_stride, in_row_stride, tile, out_channel_stride, ocs, bias, relu);
}

void direct_taps_tile_6x2x8_avx2_fma(size_t taps, const int32_t* offsets, const float* w, const DirectTile& tile,
                                     size_t out_channel_stride, size_t ocs, const float* bias, bool relu) {
  __m256 acc[6][2];
#pragma GCC unroll 6
  for (size_t i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const float* in0 = tile.in[0];
  const float* in1 = tile.in[1];
  for (size_t t = 0; t < taps; t++) {
    tap_6x2(in0, in1, static_cast<size_t>(offsets[t]), w, acc);
    w += 6;
  }
  store_tile(acc, tile, out_channel_stride, ocs, bias, relu);
}

// 4 output channels × 3 taps = 12 ymm accumulators + 3 input vectors + 1 dy vector. Partial vectors at a row's end
// load dy through a zero-filled copy, so the input there (the next row) adds nothing.
void direct3x3_dw_4x3_avx2_fma(size_t images, const float* dy, size_t dy_image, size_t dy_plane, size_t ocs,
                               size_t h, size_t w, const float* in, size_t in_image, size_t in_row_stride,
                               float* lanes) {
  const float* rows[4];
  for (size_t i = 0; i < 4; i++) rows[i] = dy + (i < ocs ? i : 0) * dy_plane;
  __m256 acc[4][3];
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm256_setzero_ps();
  // Loops by pointer bumps: a division per row, on rows of a few vectors, cost more than the row's FMAs.
  for (size_t img = 0; img < images; img++) {
    const float* x = in + img * in_image;
    size_t at = img * dy_image;
    for (size_t oy = 0; oy < h; oy++, x += in_row_stride, at += w) {
      for (size_t ox = 0; ox < w; ox += 8) {
        const size_t valid = w - ox < 8 ? w - ox : 8;
        const __m256 x0 = _mm256_loadu_ps(x + ox);
        const __m256 x1 = _mm256_loadu_ps(x + ox + 1);
        const __m256 x2 = _mm256_loadu_ps(x + ox + 2);
#pragma GCC unroll 4
        for (size_t i = 0; i < 4; i++) {
          const float* src = rows[i] + at + ox;
          __m256 d;
          if (valid == 8) {
            d = _mm256_loadu_ps(src);
          } else {
            alignas(32) float part[8] = {};
            for (size_t l = 0; l < valid; l++) part[l] = src[l];
            d = _mm256_load_ps(part);
          }
          dw_step_3(d, x0, x1, x2, acc[i]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; i++) {
#pragma GCC unroll 3
    for (size_t kx = 0; kx < 3; kx++) {
      float* out = lanes + (i * 3 + kx) * 8;
      _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), acc[i][kx]));
    }
  }
}

// The weight gradient with images in lanes: as direct3x3_dw_4x3_avx2_fma (4 output channels × the 3 taps of one
// kernel row), one pixel of 8 images per step, every load a whole aligned vector. Each accumulator's lanes
// (images) are added up at the end.
void direct3x3_lanes_dw_4x3_avx2_fma(const float* dy, size_t dy_plane, size_t dy_row, size_t ocs, size_t h, size_t w,
                                     size_t stride, const float* in, size_t in_row_stride, float* sums) {
  const float* rows[4];
  for (size_t i = 0; i < 4; i++) rows[i] = dy + (i < ocs ? i : 0) * dy_plane;
  __m256 acc[4][3];
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm256_setzero_ps();
  for (size_t oy = 0; oy < h; oy++, in += stride * in_row_stride) {
    for (size_t ox = 0, at = oy * dy_row; ox < w; ox++, at += 8) {
      const float* x = in + ox * stride * 8;
      __asm__("" : "+r"(x));  // as in direct3x3_lanes_dw_3x9_avx512: no values carried across pixels
      const __m256 x0 = _mm256_load_ps(x);
      const __m256 x1 = _mm256_load_ps(x + 8);
      const __m256 x2 = _mm256_load_ps(x + 16);
#pragma GCC unroll 4
      for (size_t i = 0; i < 4; i++) {
        dw_step_3(_mm256_load_ps(rows[i] + at), x0, x1, x2, acc[i]);
      }
    }
  }
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; i++) {
#pragma GCC unroll 3
    for (size_t kx = 0; kx < 3; kx++) sums[i * 3 + kx] += sum_lanes(acc[i][kx]);
  }
}

namespace {

// r[a][b] → r[b][a] for an 8×8 block.
__attribute__((always_inline)) inline void transpose_8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (size_t i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (size_t g = 0; g < 2; g++) {
    u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (size_t j = 0; j < 4; j++) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// The first n (< 8) floats at p, the rest 0: AVX2 has no cheap exact masked float load here.
__m256 load_first(const float* p, size_t n) {
  alignas(32) float part[8] = {};
  for (size_t i = 0; i < n; i++) part[i] = p[i];
  return _mm256_load_ps(part);
}

}  // namespace

void direct_lanes_in_avx2_fma(const float* src, size_t image_stride, size_t count, size_t p, size_t w, size_t row,
                              size_t offset, float* dst) {
  size_t y = 0, x = 0;  // of pixel q0
  for (size_t q0 = 0; q0 < p; q0 += 8) {
    const size_t n = p - q0 < 8 ? p - q0 : 8;
    __m256 r[8];
#pragma GCC unroll 8
    for (size_t l = 0; l < 8; l++) {
      const float* from = src + l * image_stride + q0;
      r[l] = l >= count ? _mm256_setzero_ps() : n == 8 ? _mm256_loadu_ps(from) : load_first(from, n);
    }
    transpose_8x8(r);
    for (size_t j = 0; j < n; j++) {
      _mm256_store_ps(dst + (y * row + x + offset) * 8, r[j]);
      if (++x == w) x = 0, y++;
    }
  }
}

void direct_lanes_out_avx2_fma(const float* src, size_t count, size_t p, float* dst, size_t image_stride,
                               bool accumulate) {
  for (size_t q0 = 0; q0 < p; q0 += 8) {
    const size_t n = p - q0 < 8 ? p - q0 : 8;
    __m256 r[8];
#pragma GCC unroll 8
    for (size_t j = 0; j < 8; j++) r[j] = j < n ? _mm256_load_ps(src + (q0 + j) * 8) : _mm256_setzero_ps();
    transpose_8x8(r);
    for (size_t l = 0; l < count; l++) {
      float* to = dst + l * image_stride + q0;
      if (n == 8) {
        _mm256_storeu_ps(to, accumulate ? _mm256_add_ps(r[l], _mm256_loadu_ps(to)) : r[l]);
      } else {
        alignas(32) float part[8];
        _mm256_store_ps(part, r[l]);
        for (size_t i = 0; i < n; i++) to[i] = accumulate ? to[i] + part[i] : part[i];
      }
    }
  }
}

namespace {

// The 8 lanes of a[k] summed, into lane k of the result.
__attribute__((always_inline)) inline __m256 sum_lanes_8(const __m256 (&a)[8]) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

}  // namespace

// 4 output channels × 3 input channels = 12 accumulators + 3 V vectors held + 1 gradient vector streamed; the lanes
// are added up once per call, 8 accumulators at a time.
void winograd_lanes_dw_4x3_avx2_fma(const float* g, size_t g_channel, const float* v, size_t v_channel, size_t tiles,
                                    size_t ocs, size_t cs, float* sums, size_t sums_row) {
  const float* gr[4];
  const float* vr[3];
  for (size_t i = 0; i < 4; i++) gr[i] = g + (i < ocs ? i : 0) * g_channel;
  for (size_t j = 0; j < 3; j++) vr[j] = v + (j < cs ? j : 0) * v_channel;
  __m256 acc[4][3];
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm256_setzero_ps();
  for (size_t at = 0; at < tiles * 8; at += 8) {
    const __m256 x0 = _mm256_load_ps(vr[0] + at);
    const __m256 x1 = _mm256_load_ps(vr[1] + at);
    const __m256 x2 = _mm256_load_ps(vr[2] + at);
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; i++) dw_step_3(_mm256_load_ps(gr[i] + at), x0, x1, x2, acc[i]);
  }
  alignas(32) float out[16];
  const __m256 first[8] = {acc[0][0], acc[0][1], acc[0][2], acc[1][0], acc[1][1], acc[1][2], acc[2][0], acc[2][1]};
  const __m256 rest[8] = {acc[2][2], acc[3][0], acc[3][1], acc[3][2], acc[3][2], acc[3][2], acc[3][2], acc[3][2]};
  _mm256_store_ps(out, sum_lanes_8(first));
  _mm256_store_ps(out + 8, sum_lanes_8(rest));
  for (size_t i = 0; i < ocs && i < 4; i++) {
    for (size_t j = 0; j < cs && j < 3; j++) sums[i * sums_row + j] += out[i * 3 + j];
  }
}

void winograd_lanes_input_avx2_fma(const float* d, size_t in_row, size_t tiles, float* v, size_t pos_stride) {
  winograd_lanes_input<8>(d, in_row, tiles, v, pos_stride);
}

void winograd_lanes_output_avx2_fma(const float* m, size_t pos_stride, size_t tiles, float* y, size_t out_row,
                                    size_t rows, size_t cols) {
  winograd_lanes_output<8>(m, pos_stride, tiles, y, out_row, rows, cols);
}

void winograd_lanes_gradient_avx2_fma(const float* d, size_t in_row, size_t tiles, float* g, size_t pos_stride) {
  winograd_lanes_gradient<8>(d, in_row, tiles, g, pos_stride);
}

}  // namespace resnet
#endif
