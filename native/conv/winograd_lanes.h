// Winograd F(4×4, 3×3) transforms on the images-in-lanes layout (lanes.cc), one row of tiles at a time: every pixel
// is a vector of L images, so a transform is the same few adds as on one image, each over a whole vector. Included
// by the instruction-set files (direct_avx512.cc, direct_avx2_fma.cc), and by the blocked Winograd files
// (nchwc/winograd*.cc), whose F(4×4, 3×3) takes output_rows on 16-channel vectors; each compiles it with its own
// flags into its own copy (internal linkage): nothing here is shared between builds.
#pragma once

#include <cstddef>

namespace resnet {
namespace {

// A vector of L floats (GCC's vector extension: the ISA's own vector, aligned to its size).
typedef float LaneVector16 __attribute__((vector_size(64)));
typedef float LaneVector8 __attribute__((vector_size(32)));
template <size_t L>
struct LaneVector;
template <>
struct LaneVector<16> {
  using type = LaneVector16;
};
template <>
struct LaneVector<8> {
  using type = LaneVector8;
};

// Bᵀ of F(4×4, 3×3) applied to six vectors: o[q] = Σ_r Bᵀ[q][r]·d[r], Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0;
// 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1] (as winograd.cc's input_transform4_rows).
template <typename V>
__attribute__((always_inline)) inline void input_rows(const V (&d)[6], V (&o)[6]) {
  o[0] = 4 * d[0] - 5 * d[2] + d[4];
  o[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
  o[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
  o[3] = 2 * (d[3] - d[1]) - d[2] + d[4];
  o[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
  o[5] = 4 * d[1] - 5 * d[3] + d[5];
}

// Aᵀ of F(4×4, 3×3) applied to six vectors: o[r] = Σ_q Aᵀ[r][q]·m[q], Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0;
// 0 1 1 4 4 0; 0 1 −1 8 −8 1].
template <typename V>
__attribute__((always_inline)) inline void output_rows(const V (&m)[6], V (&o)[4]) {
  const V p12 = m[1] + m[2], n12 = m[1] - m[2], p34 = m[3] + m[4], n34 = m[3] - m[4];
  o[0] = m[0] + p12 + p34;
  o[1] = n12 + 2 * n34;
  o[2] = p12 + 4 * p34;
  o[3] = n12 + 8 * n34 + m[5];
}

// A of F(4×4, 3×3) (Aᵀ transposed) applied to four vectors: o[q] = Σ_r Aᵀ[r][q]·d[r], the transform of the output
// gradient for the weight gradient (dU = A·dY·Aᵀ ⊙ V).
template <typename V>
__attribute__((always_inline)) inline void gradient_rows(const V (&d)[4], V (&o)[6]) {
  const V p02 = d[0] + d[2], p13 = d[1] + d[3], q02 = d[0] + 4 * d[2], q13 = 2 * (d[1] + 4 * d[3]);
  o[0] = d[0];
  o[1] = p02 + p13;
  o[2] = p02 - p13;
  o[3] = q02 + q13;
  o[4] = q02 - q13;
  o[5] = d[3];
}

// A row of tiles to their 36 transformed elements T·d·Tᵀ, for a 6×In transform T that `rows` applies to In vectors:
// tile t reads the In×In pixels at d + 4t·L (rows in_row floats apart) and writes element (i, j) at
// v + (6i + j)·pos_stride + t·L.
template <size_t L, size_t In, typename Rows>
__attribute__((always_inline)) inline void transform_tiles(const float* d, size_t in_row, size_t tiles, float* v,
                                                           size_t pos_stride, Rows rows) {
  using V = typename LaneVector<L>::type;
  for (size_t t = 0; t < tiles; t++, d += 4 * L, v += L) {
    V half[In][6];  // half[i][j]: row i of the patch times Tᵀ
    for (size_t i = 0; i < In; i++) {
      V in[In];
      for (size_t j = 0; j < In; j++) in[j] = *reinterpret_cast<const V*>(d + i * in_row + j * L);
      rows(in, half[i]);
    }
    for (size_t j = 0; j < 6; j++) {
      V col[In], out[6];
      for (size_t i = 0; i < In; i++) col[i] = half[i][j];
      rows(col, out);
      for (size_t i = 0; i < 6; i++) *reinterpret_cast<V*>(v + (6 * i + j) * pos_stride) = out[i];
    }
  }
}

// Input tiles of F(4×4, 3×3): the 6×6 pixels d to V = Bᵀ·d·B.
template <size_t L>
__attribute__((always_inline)) inline void winograd_lanes_input(const float* d, size_t in_row, size_t tiles, float* v,
                                                                size_t pos_stride) {
  transform_tiles<L, 6>(d, in_row, tiles, v, pos_stride, [](const auto& in, auto& out) { input_rows(in, out); });
}

// Output tiles of F(4×4, 3×3): tile t of the row reads M (element (i, j) at m + (6i + j)·pos_stride + t·L) and
// writes Aᵀ·M·A to the 4×4 pixels at y + 4t·L (rows out_row floats apart), those in the first `rows` rows and
// `cols` columns of the row of tiles.
template <size_t L>
__attribute__((always_inline)) inline void winograd_lanes_output(const float* m, size_t pos_stride, size_t tiles,
                                                                 float* y, size_t out_row, size_t rows, size_t cols) {
  using V = typename LaneVector<L>::type;
  for (size_t t = 0; t < tiles; t++, m += L) {
    V half[6][4];  // half[i][j]: row i of M times A
    for (size_t i = 0; i < 6; i++) {
      V in[6];
      for (size_t j = 0; j < 6; j++) in[j] = *reinterpret_cast<const V*>(m + (6 * i + j) * pos_stride);
      output_rows(in, half[i]);
    }
    for (size_t j = 0; j < 4 && 4 * t + j < cols; j++) {
      const V col[6] = {half[0][j], half[1][j], half[2][j], half[3][j], half[4][j], half[5][j]};
      V out[4];
      output_rows(col, out);
      for (size_t i = 0; i < rows && i < 4; i++) *reinterpret_cast<V*>(y + i * out_row + (4 * t + j) * L) = out[i];
    }
  }
}

// Output-gradient tiles of F(4×4, 3×3) for the weight gradient: the 4×4 pixels of dY to A·dY·Aᵀ.
template <size_t L>
__attribute__((always_inline)) inline void winograd_lanes_gradient(const float* d, size_t in_row, size_t tiles,
                                                                   float* g, size_t pos_stride) {
  transform_tiles<L, 4>(d, in_row, tiles, g, pos_stride, [](const auto& in, auto& out) { gradient_rows(in, out); });
}

}  // namespace
}  // namespace resnet
