// Inference on blocked activations: [N, C/16, H, W, 16] ("nchw16c"), channel c of pixel (y, x) at
// ((n·C/16 + c/16)·H + y)·W + x)·16 + c%16. Every layer of a ResNet reads and writes this layout, so that a 1×1
// convolution broadcasts its input straight from the activations (nothing packed per call) and Winograd's
// transforms run over 16 channels at a time. The layout is the same on every instruction set; the tile kernels are
// one source (tile.h) built for AVX-512, AVX2 and any CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../conv/conv.h"

namespace resnet::nchwc {

constexpr size_t kBlock = 16;     // channels per block
constexpr size_t kTileRows = 6;   // output pixels (or Winograd tiles) per microkernel tile

// Output-channel blocks per group: the microkernel's tile width, and the unit of the weight packings. A tile holds
// 6 pixels × that many blocks of accumulators: 4 blocks (24 zmm of 32) with AVX-512, 1 block (12 ymm of 16)
// elsewhere. Fixed for the process (the kernels' instruction set is), so packings never cross widths.
size_t group_width();
constexpr size_t kMaxGroupBlocks = 4;

inline size_t groups_of(const ConvShape& s) { return (s.oc / kBlock + group_width() - 1) / group_width(); }
inline size_t group_blocks(const ConvShape& s, size_t g) {
  const size_t left = s.oc / kBlock - g * group_width();
  return left < group_width() ? left : group_width();
}

// The weights of one group of output-channel blocks, for one run of the microkernel:
// packed[((cb·taps + t)·16 + i)·width + o] = weight of input channel cb·16 + i, tap t, output channel o of the group;
// width = 16·blocks (blocks ≤ group_width(), fewer only in a layer's last group).
//
// One run: `count` output pixels (or Winograd tiles) that keep the same taps, each the sum over input blocks cb and
// listed taps t of x[run pixel j]·w. Input pixel j of tap k is at x + cb·x_block + tap_offset[k] + (x_at[j], or
// j·x_step where x_at is null); tap k's weights are tap_index[k] of the packing. Output block ob of pixel j is at
// y + ob·y_block + (y_at[j], or j·16 where y_at is null); then y = act(acc + bias[ob·16..] + residual), the residual
// addressed like y (it may be y: a tile reads its residual before it writes).
struct Run {
  const float* x;
  size_t x_step, x_block, blocks_in;
  const int32_t* x_at;  // or null
  const int32_t* tap_offset;
  const int32_t* tap_index;
  size_t taps, taps_total;
  const float* w;
  size_t blocks_out;  // ≤ group_width()
  float* y;
  const int32_t* y_at;  // or null
  size_t y_block;
  const float* bias;      // [16·blocks_out] or null
  const float* residual;  // or null
  bool relu;
  size_t count;
  size_t prefetch_ahead;  // if not 0: at each input block, prefetch each pixel's input this many floats ahead
};

void run_avx512(const Run& r);
void run_avx2_fma(const Run& r);
void run_generic(const Run& r);
// The version for the instruction set the kernels dispatch to (kernel_isa()).
void run(const Run& r);

// Whether the blocked path can run s: one group, no dilation, channel counts multiples of 16.
bool conv_eligible(const ConvShape& s);
// Weights [OC, C, KH, KW] packed for conv_forward: the groups of output channels one after the other.
size_t conv_packed_size(const ConvShape& s);
void conv_pack(const ConvShape& s, const float* w, float* packed);
// y = act(conv(x) + bias + residual) on blocked x, y and residual (which may be y).
void conv_forward(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y);

// Winograd on blocked tensors (winograd.cc), for 3×3 padding-1 convolutions at stride 1 or 2.
bool winograd_eligible(const ConvShape& s);
// Its scheme for an eligible s: F(4×4, 3×3); F(5×5, 3×3) where 5-output tiles waste less of the plane (14×14);
// at stride 2, 2×2 outputs from 5×5 input tiles.
enum class WinogradScheme { kF4, kF5, kS2 };
WinogradScheme winograd_scheme(const ConvShape& s);
// Whether an eligible s has enough tiles for Winograd to beat the direct convolution.
bool winograd_pays(const ConvShape& s);
size_t winograd_packed_size(const ConvShape& s);
void winograd_pack(const ConvShape& s, const float* w, float* packed);
void winograd_forward(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y);
// Its transforms as built for AVX-512 and AVX2 (winograd_{avx512,avx2_fma}.cc): winograd_transforms.h's
// input_transform and output_transform, which winograd.cc runs from its portable build elsewhere.
void winograd_input_transform_avx512(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0,
                                     size_t cb1, float* v, size_t v_xi);
void winograd_output_transform_avx512(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt,
                                      size_t ob0, size_t ob1, const ConvEpilogue& ep, float* y);
void winograd_input_transform_avx2_fma(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0,
                                       size_t cb1, float* v, size_t v_xi);
void winograd_output_transform_avx2_fma(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt,
                                        size_t ob0, size_t ob1, const ConvEpilogue& ep, float* y);

// Layout changes and pooling (layout.cc). n·c planes of h×w; c a multiple of 16.
void to_blocked(size_t n, size_t c, size_t h, size_t w, const float* x, float* y);
// 16 consecutive planes of p pixels into one blocked plane, pixels [p0, p1): block[q·16 + i] = planes[i·p + q].
void interleave_block(const float* planes, size_t p, size_t p0, size_t p1, float* block);
void from_blocked(size_t n, size_t c, size_t h, size_t w, const float* x, float* y);
// Global average pooling of blocked x into [N, C].
void global_avg_pool(size_t n, size_t c, size_t h, size_t w, const float* x, float* y);

}  // namespace resnet::nchwc
