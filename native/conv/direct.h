// Direct 3×3 stride-1 convolution for the layers im2col serves worst: few channels (CIFAR ResNets' 16 and 32), where
// each im2col element feeds only OC multiply-adds and unfolding plus packing costs more than the products. The input
// image is copied once into a zero-bordered buffer; a register tile of OCB output channels × two vectors of output
// pixels then sums C·9 shifted input vectors against broadcast weights, with no im2col and no packing of the input.
// The backward pass w.r.t. the input is the same convolution of dy with the weights flipped and transposed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "conv.h"

namespace resnet {

// Two output vectors of one tile: where each reads the padded input (channel 0, tap (0, 0)), where it writes y and
// reads the residual (channel 0 of the block), and how many of its lanes are real pixels (0: none, skip it).
struct DirectTile {
  const float* in[2];
  float* out[2];
  const float* residual[2];
  size_t valid[2];
};

// out[i][v][l] = act(Σ_c Σ_tap w[c][tap][i] · in[v][c·in_channel_stride + ky·in_row_stride + kx + l]
//                    + (bias[i] + residual[v][i·out_channel_stride + l])) for i < ocs, l < valid[v].
using DirectTileFn = void (*)(size_t channels, const float* w, size_t in_channel_stride, size_t in_row_stride,
                              const DirectTile& tile, size_t out_channel_stride, size_t ocs, const float* bias,
                              bool relu);

#if defined(RESNET_HAVE_AVX512)
void direct3x3_tile_8x2x16_avx512(size_t channels, const float* w, size_t in_channel_stride, size_t in_row_stride,
                                  const DirectTile& tile, size_t out_channel_stride, size_t ocs, const float* bias,
                                  bool relu);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct3x3_tile_6x2x8_avx2_fma(size_t channels, const float* w, size_t in_channel_stride, size_t in_row_stride,
                                   const DirectTile& tile, size_t out_channel_stride, size_t ocs, const float* bias,
                                   bool relu);
#endif

// The same tile with images in lanes (direct_lanes_* below): tap (ky, kx) at ky·in_row_stride + kx·L, a vector of
// L images per pixel.
#if defined(RESNET_HAVE_AVX512)
void direct3x3_lanes_tile_8x2x16_avx512(size_t channels, const float* w, size_t in_channel_stride,
                                        size_t in_row_stride, const DirectTile& tile, size_t out_channel_stride,
                                        size_t ocs, const float* bias, bool relu);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct3x3_lanes_tile_6x2x8_avx2_fma(size_t channels, const float* w, size_t in_channel_stride,
                                         size_t in_row_stride, const DirectTile& tile, size_t out_channel_stride,
                                         size_t ocs, const float* bias, bool relu);
#endif

// The same tile over an arbitrary list of taps: out[i][v][l] = act(Σ_t w[t][i] · in[v][offsets[t] + l] + (bias[i] +
// residual[v][i·out_channel_stride + l])) — any kernel size, and strides through an input split into column phases
// (the stems: direct_strided_* below).
using DirectTapsTileFn = void (*)(size_t taps, const int32_t* offsets, const float* w, const DirectTile& tile,
                                  size_t out_channel_stride, size_t ocs, const float* bias, bool relu);

#if defined(RESNET_HAVE_AVX512)
void direct_taps_tile_8x2x16_avx512(size_t taps, const int32_t* offsets, const float* w, const DirectTile& tile,
                                    size_t out_channel_stride, size_t ocs, const float* bias, bool relu);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct_taps_tile_6x2x8_avx2_fma(size_t taps, const int32_t* offsets, const float* w, const DirectTile& tile,
                                     size_t out_channel_stride, size_t ocs, const float* bias, bool relu);
#endif

// The weight gradient, one output-channel block and input channel at a time, over one kernel row (ky) or all three,
// over `images` images, kept as per-lane partial sums (reduced once, at the end): lanes[ky][i][kx][l] += Σ_image
// Σ_oy Σ_ox≡l dy[i][oy][ox] · in[(oy + ky)·in_row_stride + ox + kx], for i < OCB, where `dy` holds the block's
// channel planes (h×w each, `dy_plane` apart, images `dy_image` apart; blocks past ocs repeat channel 0) and `in` is
// the padded input at (channel, row ky, column 0), images `in_image` apart. A kernel over one row sees only ky = 0.
using DirectWeightGradFn = void (*)(size_t images, const float* dy, size_t dy_image, size_t dy_plane, size_t ocs,
                                    size_t h, size_t w, const float* in, size_t in_image, size_t in_row_stride,
                                    float* lanes);

#if defined(RESNET_HAVE_AVX512)
void direct3x3_dw_3x9_avx512(size_t images, const float* dy, size_t dy_image, size_t dy_plane, size_t ocs, size_t h,
                             size_t w, const float* in, size_t in_image, size_t in_row_stride, float* lanes);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct3x3_dw_4x3_avx2_fma(size_t images, const float* dy, size_t dy_image, size_t dy_plane, size_t ocs,
                               size_t h, size_t w, const float* in, size_t in_image, size_t in_row_stride,
                               float* lanes);
#endif

// The weight gradient on the images-in-lanes layout (direct_lanes_* below), one output-channel block and input
// channel of one group of images at a time, over one kernel row (ky) or all three: sums[ky][i][kx] += Σ_l Σ_oy Σ_ox
// dy[i][oy·dy_row + ox·L + l] · in[(oy·stride + ky)·in_row_stride + (ox·stride + kx)·L + l], for i < OCB, where `dy`
// holds the block's channels (h×w the output plane, rows dy_row floats apart, channels `dy_plane` apart; past ocs they
// repeat channel 0), `in`
// the padded channel at row ky ([H + 2][W + 2][L]), and lane l is image l of the group. A kernel over one row sees
// only ky = 0.
using DirectLanesWeightGradFn = void (*)(const float* dy, size_t dy_plane, size_t dy_row, size_t ocs, size_t h,
                                         size_t w, size_t stride, const float* in, size_t in_row_stride, float* sums);

#if defined(RESNET_HAVE_AVX512)
void direct3x3_lanes_dw_3x9_avx512(const float* dy, size_t dy_plane, size_t dy_row, size_t ocs, size_t h, size_t w,
                                   size_t stride, const float* in, size_t in_row_stride, float* sums);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct3x3_lanes_dw_4x3_avx2_fma(const float* dy, size_t dy_plane, size_t dy_row, size_t ocs, size_t h, size_t w,
                                     size_t stride, const float* in, size_t in_row_stride, float* sums);
#endif

// One channel of a group of images into the lanes layout, and back (lanes.cc), through L×L transposes of L pixels
// at a time. In: pixel q of image l (l < count, at src + l·image_stride + q, q < p) to the vector at
// dst + ((q / w)·row + q % w + offset)·L, lane l; lanes from count on are zero. Out: the vector at src + q·L back to
// dst + l·image_stride + q for l < count, or with `accumulate` added to what is there.
using DirectLanesInFn = void (*)(const float* src, size_t image_stride, size_t count, size_t p, size_t w, size_t row,
                                 size_t offset, float* dst);
using DirectLanesOutFn = void (*)(const float* src, size_t count, size_t p, float* dst, size_t image_stride,
                                  bool accumulate);

#if defined(RESNET_HAVE_AVX512)
void direct_lanes_in_avx512(const float* src, size_t image_stride, size_t count, size_t p, size_t w, size_t row,
                            size_t offset, float* dst);
void direct_lanes_out_avx512(const float* src, size_t count, size_t p, float* dst, size_t image_stride,
                             bool accumulate);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void direct_lanes_in_avx2_fma(const float* src, size_t image_stride, size_t count, size_t p, size_t w, size_t row,
                              size_t offset, float* dst);
void direct_lanes_out_avx2_fma(const float* src, size_t count, size_t p, float* dst, size_t image_stride,
                               bool accumulate);
#endif

// Winograd F(4×4, 3×3) transforms with images in lanes (winograd_lanes.h), a row of `tiles` tiles at a time: in,
// the 6×6 input pixels of tile t at d + 4t·L (rows in_row floats apart) to its 36 elements, element e at
// v + e·pos_stride + t·L; out, the 36 elements back to the tile's 4×4 output pixels at y + 4t·L (rows out_row apart),
// those within `rows` rows and `cols` columns.
using DirectWinogradInFn = void (*)(const float* d, size_t in_row, size_t tiles, float* v, size_t pos_stride);
using DirectWinogradOutFn = void (*)(const float* m, size_t pos_stride, size_t tiles, float* y, size_t out_row,
                                     size_t rows, size_t cols);
#if defined(RESNET_HAVE_AVX512)
void winograd_lanes_input_avx512(const float* d, size_t in_row, size_t tiles, float* v, size_t pos_stride);
void winograd_lanes_output_avx512(const float* m, size_t pos_stride, size_t tiles, float* y, size_t out_row,
                                  size_t rows, size_t cols);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void winograd_lanes_input_avx2_fma(const float* d, size_t in_row, size_t tiles, float* v, size_t pos_stride);
void winograd_lanes_output_avx2_fma(const float* m, size_t pos_stride, size_t tiles, float* y, size_t out_row,
                                    size_t rows, size_t cols);
#endif

// The weight gradient by Winograd F(4×4, 3×3) with images in lanes: the transform of the output gradient's 4×4
// tiles, G = A·dY·Aᵀ, a row of tiles at a time (as DirectWinogradInFn, reading 4×4 pixels), and the products summed
// over tiles and images for a block of output × input channels of one element: sums[i·sums_row + j] += Σ_t Σ_l
// g[i·g_channel + t·L + l] · v[j·v_channel + t·L + l] for i < ocs, j < cs (rows and columns past them repeat the
// first and are not stored).
using DirectWinogradGradientFn = DirectWinogradInFn;
using DirectWinogradWeightGradFn = void (*)(const float* g, size_t g_channel, const float* v, size_t v_channel,
                                            size_t tiles, size_t ocs, size_t cs, float* sums, size_t sums_row);
#if defined(RESNET_HAVE_AVX512)
void winograd_lanes_gradient_avx512(const float* d, size_t in_row, size_t tiles, float* g, size_t pos_stride);
void winograd_lanes_dw_6x4_avx512(const float* g, size_t g_channel, const float* v, size_t v_channel, size_t tiles,
                                  size_t ocs, size_t cs, float* sums, size_t sums_row);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void winograd_lanes_gradient_avx2_fma(const float* d, size_t in_row, size_t tiles, float* g, size_t pos_stride);
void winograd_lanes_dw_4x3_avx2_fma(const float* g, size_t g_channel, const float* v, size_t v_channel, size_t tiles,
                                    size_t ocs, size_t cs, float* sums, size_t sums_row);
#endif

// The CPU's set of direct kernels and their shapes (null in the portable build, which keeps im2col + GEMM), for
// direct.cc and lanes.cc.
struct DirectKernel {
  size_t ocb;    // output channels per tile
  size_t lanes;  // floats per vector: pixels, or images in lanes.cc
  DirectTileFn tile;
  size_t dw_ocb;   // output channels per weight-gradient call
  size_t dw_rows;  // kernel rows per weight-gradient call: 1 or all 3
  DirectWeightGradFn dw;
  DirectTapsTileFn taps;  // the same tile over a list of taps (direct_strided_*)
  DirectTileFn lanes_tile;           // the tile with images in lanes (direct_lanes_*)
  DirectLanesWeightGradFn dw_lanes;  // the weight gradient with images in lanes
  DirectLanesInFn lanes_in;          // NCHW to lanes, a channel at a time
  DirectLanesOutFn lanes_out;        // and back
  DirectWinogradInFn winograd_in;    // Winograd F(4×4, 3×3) with images in lanes: input transform
  DirectWinogradOutFn winograd_out;  // and output transform
  DirectWinogradGradientFn winograd_gradient;  // the output gradient's transform for the weight gradient
  size_t winograd_dw_ocb, winograd_dw_cb;      // output × input channels per products call
  DirectWinogradWeightGradFn winograd_dw;      // and its products
};

const DirectKernel* direct_kernel();

// Weights into the tile layout: packed[b][ci][tap][i] = w(b·OCB + i, ci, tap), zero past the last output channel;
// for the input gradient the roles swap and the taps are flipped. direct_tiles_size: the floats it writes.
void direct_pack_tiles(const ConvShape& s, const float* w, float* packed, bool for_input_gradient);
size_t direct_tiles_size(const ConvShape& s, bool for_input_gradient);

// 3×3, stride 1, padding 1, no dilation or groups, fewer than 64 input or output channels (Winograd takes the
// rest), on a CPU with a vector tile kernel.
bool direct_eligible(const ConvShape& s);

size_t direct_packed_weight_size(const ConvShape& s);
void direct_pack_weight(const ConvShape& s, const float* w, float* packed);
void direct_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y);
void direct_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep,
                           float* y);
void direct_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx, bool accumulate);
void direct_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw);

// 3×3 convolutions (stride 1, and stride 2 but for the input gradient) with a batch's images in the vector lanes:
// each group of L images (L = 16 for AVX-512, 8 for AVX2) is repacked to [C][H + 2][W + 2][L], a vector per pixel,
// so that small planes (14×14, 7×7) fill every lane, where a row of 7 pixels fills 7 of 16, and every load is one
// aligned vector. Forward and input gradient run direct3x3_lanes_tile_* (then the output goes back to NCHW), or at
// stride 1 with 16+ channels on planes of 7×7 and up Winograd F(4×4, 3×3) (winograd_lanes_*, the taps tile for its
// products), the weight gradient direct3x3_lanes_dw_*, or Winograd there too where C·OC ≤ 64² (winograd_lanes_dw_*
// for its products). Where it pays (lanes.cc): batches that fill three quarters of the groups' lanes, 8 or more
// input channels, and fewer than 64 channels or output planes of at most 8×8.
bool direct_lanes_eligible(const ConvShape& s);
void direct_lanes_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y);
// Both gradients (either pointer may be null) in one pass over the groups, sharing each group's repacked dy: dx
// (overwritten, or added to with accumulate) at stride 1 only, dw (overwritten) at stride 1 and 2.
void direct_lanes_backward(const ConvShape& s, const float* dy, const float* x, const float* w, float* dx,
                           bool accumulate, float* dw);

// Stride-2 convolutions with few taps (C·KH·KW ≤ 160: the 7×7 stems of 3 or 1 channels), forward only, on the same
// tile kernels over a list of taps: as im2col + GEMM, unfolding and packing cost as much as the products of a GEMM
// this shallow. Weights [block][tap][OCB].
bool direct_strided_eligible(const ConvShape& s);
size_t direct_strided_packed_weight_size(const ConvShape& s);
void direct_strided_pack_weight(const ConvShape& s, const float* w, float* packed);
void direct_strided_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y);
void direct_strided_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep,
                                   float* y);

}  // namespace resnet
