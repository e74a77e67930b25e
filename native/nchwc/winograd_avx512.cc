// Winograd's blocked transforms (winograd_transforms.h) compiled with -mavx512f -mfma: one zmm per 16-channel vector.
#include <algorithm>

#include "../conv/winograd_lanes.h"
#include "nchwc.h"

#if defined(__AVX512F__)
namespace resnet::nchwc {
namespace avx512 {
#include "winograd_transforms.h"
}  // namespace avx512

void winograd_input_transform_avx512(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0,
                                     size_t cb1, float* v, size_t v_xi) {
  avx512::winograd_tiles::input_transform(s, x, t0, nt, cb0, cb1, v, v_xi);
}

void winograd_output_transform_avx512(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt,
                                      size_t ob0, size_t ob1, const ConvEpilogue& ep, float* y) {
  avx512::winograd_tiles::output_transform(s, m, m_xi, t0, nt, ob0, ob1, ep, y);
}
}  // namespace resnet::nchwc
#endif
