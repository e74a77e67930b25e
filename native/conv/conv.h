// Native 2-D convolution on NCHW tensors: forward (with an optional fused bias, residual add and ReLU) and both
// backward passes, as GEMMs on the thread pool.
#pragma once

#include <cstddef>

namespace resnet {

// x [N, C, H, W], w [OC, C/groups, KH, KW], y [N, OC, OH, OW]. Trusted: conv_binding.cc validates it.
struct ConvShape {
  size_t n, c, h, w, oc, kh, kw, oh, ow;
  size_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;

  size_t cg() const { return c / groups; }        // input channels per group
  size_t ocg() const { return oc / groups; }      // output channels per group
  size_t k() const { return cg() * kh * kw; }     // GEMM depth
  size_t p() const { return oh * ow; }            // output pixels per image
  // 1×1, stride 1, no padding: the input plane already is the im2col matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

// What the forward pass does to each output after the convolution: y = act(conv + bias[oc] + residual).
struct ConvEpilogue {
  const float* bias;      // [OC] or null
  // [N, OC, OH, OW] or null. It may be y itself where the path reads each output's residual just before it stores
  // that output: every path of conv2d_forward_packed (the direct tiles, Winograd's output rows, the rows layout's
  // tile stores, and the GEMM, which adds a residual that is C as beta = 1) and the input gradients' accumulation.
  // conv2d_forward's own paths are not all so (its binding copies such a residual first).
  const float* residual;
  bool relu;
};

void conv2d_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& epilogue, float* y);
// The weights in the layout the forward pass reads (packed GEMM operands, Winograd-transformed or in the direct
// kernel's tiles), for callers that run the same weights many times (inference): packing then costs nothing per call.
// The layout is chosen for s's batch and input size but valid for any other; the packed array's size tells
// conv2d_forward_packed which layout it holds. conv2d_packed_layout names the layout s would get ("gemm", "gemm-rows",
// "direct", "direct-strided", "winograd-f2", "winograd-f4"), so that callers running several batch sizes can keep one
// packing per layout.
const char* conv2d_packed_layout(const ConvShape& s);
size_t conv2d_packed_weight_size(const ConvShape& s);
bool conv2d_packed_weight_size_ok(const ConvShape& s, size_t size);
void conv2d_pack_weight(const ConvShape& s, const float* w, float* packed);
void conv2d_forward_packed(const ConvShape& s, const float* x, const float* packed_w, size_t packed_size,
                           const ConvEpilogue& epilogue, float* y);
// The gradients of conv(x, w) for output gradient dy, either pointer null when not wanted: dx w.r.t. x (overwritten,
// or with accumulate added to what dx holds: a tensor used twice, as a residual block's input is, takes the sum of
// its gradients without a separate pass) and dw = Σ over the batch of dy · colᵀ, per group (overwritten).
void conv2d_backward(const ConvShape& s, const float* dy, const float* x, const float* w, float* dx, bool accumulate,
                     float* dw);

}  // namespace resnet
