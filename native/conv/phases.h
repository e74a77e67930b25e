// The padded phase layout of one image, read by the convolutions that index the input by tap rather than unfold it
// (the strided direct kernel, and the GEMM's B panels gathered straight from the image): the image zero-padded once,
// its columns split into stride_w phases. Phase q of a padded row holds its padded columns q, q + stride_w, … Output
// column ox of tap (ky, kx) then reads phase (kx·dilation_w) mod stride_w at column ox + ⌊kx·dilation_w / stride_w⌋
// of padded row oy·stride_h + ky·dilation_h, so consecutive outputs read consecutive floats and every tap of every
// input channel is one offset from the output row's base. With stride 1 it is the plain zero-padded image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "conv.h"

namespace resnet {

struct PhasePlan {
  size_t phase_w;  // floats per phase row: the widest tap's reads for ⌈OW / lanes⌉ vectors of `lanes` outputs fit
  size_t rows;     // padded input rows
  size_t plane;    // one phase of one channel: rows × phase_w
  size_t channel;  // stride_w phases
  std::vector<int32_t> offsets;  // per tap (ci, ky, kx) of all C input channels, in the weights' order
  std::vector<bool> row_read;    // padded rows some tap reads: a 1×1 stride-2 convolution reads every other one
  std::vector<bool> phase_read;  // phases some tap reads: a 1×1 reads phase 0 only

  PhasePlan(const ConvShape& s, size_t lanes);

  size_t image_floats(const ConvShape& s) const { return s.c * channel; }
  // Where output row oy's taps start: offsets[tap] + row_base(oy) + ox is the input of output (oy, ox).
  size_t row_base(const ConvShape& s, size_t oy) const { return oy * s.stride_h * phase_w; }
};

// Channels [c0, c1) of image x (channel 0 at x) into the layout (dst: channel 0): the rows and phases taps read.
void pad_phases(const ConvShape& s, const PhasePlan& p, const float* x, float* dst, size_t c0, size_t c1);

}  // namespace resnet
