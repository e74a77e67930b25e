// Winograd F(4×4, 3×3) and F(2×2, 3×3) for 3×3, stride-1, padding-1 convolutions: 36 (or 16) GEMMs of depth C on
// transformed 6×6 (4×4) input tiles instead of one of depth 9·C, 4× (2.25×) fewer multiplies.
#pragma once

#include <cstddef>

#include "conv.h"

namespace resnet {

// Distance between the transformed matrices of U, V or M (16 or 36 of them, floats): at least `floats`, and 256 bytes
// past a multiple of 4 KiB, so that the transforms' streams, which touch every matrix for each tile, do not all fall
// into the same L1 set. Here and in lanes.cc's images-in-lanes layout.
size_t xi_stride(size_t floats);

// Whether Winograd can run this geometry (it depends only on the kernel, stride, padding, dilation, groups and
// channel counts, never on the input size); conv.cc decides whether it should.
bool winograd_eligible(const ConvShape& s);
// The packing picks F(4×4, 3×3) when s has at least 16 of its tiles, else F(2×2, 3×3); the packed size says which,
// so weights packed for one input size stay valid for any other. winograd_packed_variant names it.
size_t winograd_packed_weight_size(const ConvShape& s);
const char* winograd_packed_variant(const ConvShape& s);
bool winograd_packed_size_ok(const ConvShape& s, size_t size);
void winograd_pack_weight(const ConvShape& s, const float* w, float* packed);
void winograd_forward_packed(const ConvShape& s, const float* x, const float* packed_u, size_t packed_size,
                             const ConvEpilogue& ep, float* y);
// Whether s has enough output tiles for Winograd to pay: 16 of F(2×2, 3×3)'s with prepacked weights (inference),
// whose transformed weights, 16/9 or 36/9 the size of the plain ones, are read from memory per call; 48 without them
// (training), where the weight transform is paid per call. The backward pass w.r.t. the input of an eligible
// convolution is itself one (C and OC swapped).
bool winograd_worth_it(const ConvShape& s, bool prepacked);
void winograd_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y);
void winograd_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx, bool accumulate);
// dw (overwritten), deterministic for a given thread count.
void winograd_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw);

}  // namespace resnet
