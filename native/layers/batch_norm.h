// Batch norm's loops over one plane of one channel, one set per instruction set (batch_norm.cc picks the set for
// the CPU). Statistics accumulate in double, as the reference does, and the affine map runs in double and rounds
// once. The vector sets sum in another order than the scalar one, so their last bits differ from its.
#pragma once

#include <cstddef>

namespace resnet {

// The forward map y = (x − center)·scale + shift, in double. With a ReLU fused after it, the backward pass recomputes
// y from x, with the same instructions, to know where the ReLU let the gradient through (y > 0).
struct BnAffine {
  double center, scale, shift;
};

struct BnPlaneKernels {
  // sums[0] += Σ (x[i] − shift), sums[1] += Σ (x[i] − shift)²: the statistics in one pass, shifted by one of the
  // channel's own values so that E[d²] − E[d]² does not cancel.
  void (*shifted_sums)(const float* x, size_t n, double shift, double* sums);
  // y[i] = a(x[i]) rounded to float, then with relu max(0, y[i]) (NaN stays NaN). With stream, y is written with
  // streaming stores where the ISA has them (streaming.h), and they are fenced before returning.
  void (*scale_shift)(const float* x, const BnAffine& a, float* y, size_t n, bool stream, bool relu);
  // sums[0] += Σ g[i], sums[1] += Σ g[i]·(x[i] − mu), where g = dy, or with relu_of, dy masked by a(x) > 0
  void (*gradient_sums)(const float* dy, const float* x, float mu, const BnAffine* relu_of, size_t n, double* sums);
  // dx[i] = scale·(g[i] − mean_dy) − (x[i] − mu)·k, with g as in gradient_sums; stream as in scale_shift
  void (*input_gradient)(const float* dy, const float* x, float scale, float mean_dy, float mu, float k,
                         const BnAffine* relu_of, float* dx, size_t n, bool stream);
};

#if defined(RESNET_HAVE_AVX512)
extern const BnPlaneKernels kBnPlaneKernelsAvx512;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
extern const BnPlaneKernels kBnPlaneKernelsAvx2Fma;
#endif

}  // namespace resnet
