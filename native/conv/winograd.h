// Winograd F(2×2, 3×3) for 3×3, stride-1, padding-1 convolutions with prepacked weights (inference): 16 GEMMs of
// depth C on transformed 4×4 input tiles instead of one of depth 9·C, 2.25× fewer multiplies.
#pragma once

#include <cstddef>

#include "conv.h"

namespace resnet {

// Whether conv2d_pack_weight / conv2d_forward_packed take the Winograd path for this geometry (it depends only on
// the kernel, stride, padding, dilation, groups and channel counts, never on the input size).
bool winograd_eligible(const ConvShape& s);
size_t winograd_packed_weight_size(const ConvShape& s);
void winograd_pack_weight(const ConvShape& s, const float* w, float* packed);
void winograd_forward_packed(const ConvShape& s, const float* x, const float* packed_u, const ConvEpilogue& ep,
                             float* y);
// Without prepacked weights (training): the weight transform is paid per call, so only for batches of at least 64
// output tiles. The backward pass w.r.t. the input of an eligible convolution is itself one (C and OC swapped).
bool winograd_worth_packing(const ConvShape& s);
void winograd_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y);
void winograd_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx);
// dw (overwritten), deterministic for a given thread count.
void winograd_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw);

}  // namespace resnet
