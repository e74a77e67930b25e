// Batch norm's loops over one plane of one channel, one set per instruction set (batch_norm.cc picks the set for
// the CPU). Statistics accumulate in double, as the reference does, and the affine map runs in double and rounds
// once. The vector sets sum in another order than the scalar one, so their last bits differ from its.
#pragma once

#include <cstddef>

namespace resnet {

// The forward map y = (x − center)·scale + shift, in double. With a ReLU fused after it, the backward pass needs to
// know where the ReLU let the gradient through: where y, rounded to float, is > 0 or NaN. y is monotone in x
// (non-decreasing for scale > 0, non-increasing below 0; each rounding is), so those x are the ones on one side of a
// threshold, which batch_norm.cc finds once per channel with the ISA's own map (map_one): pass = 1, where
// !(x < threshold); pass = −1, where !(x > threshold) (NaN x passes, as its y is NaN). With pass = 0 (scale 0, or a
// map that is not finite) the kernels recompute y from x with the forward pass's instructions instead.
struct BnAffine {
  double center, scale, shift;
  float threshold = 0.0f;
  int pass = 0;
};

struct BnPlaneKernels {
  // sums[0] += Σ (x[i] − shift), sums[1] += Σ (x[i] − shift)²: the statistics in one pass, shifted by one of the
  // channel's own values so that E[d²] − E[d]² does not cancel.
  void (*shifted_sums)(const float* x, size_t n, double shift, double* sums);
  // y[i] = a(x[i]) rounded to float, plus residual[i] (a float add) when residual is not null, then with relu
  // max(0, y[i]) (NaN stays NaN). With stream, y is written with streaming stores where the ISA has them
  // (streaming.h), and they are fenced before returning.
  void (*scale_shift)(const float* x, const BnAffine& a, const float* residual, float* y, size_t n, bool stream,
                      bool relu);
  // sums[0] += Σ g[i], sums[1] += Σ g[i]·(x[i] − mu), where g = dy, or with relu_of, dy masked by a(x) > 0
  void (*gradient_sums)(const float* dy, const float* x, float mu, const BnAffine* relu_of, size_t n, double* sums);
  // dx[i] = scale·(g[i] − mean_dy) − (x[i] − mu)·k, with g as in gradient_sums; stream as in scale_shift
  void (*input_gradient)(const float* dy, const float* x, float scale, float mean_dy, float mu, float k,
                         const BnAffine* relu_of, float* dx, size_t n, bool stream);
  // a(x) rounded to float, as scale_shift computes each element
  float (*map_one)(float x, const BnAffine& a);
};

#if defined(RESNET_HAVE_AVX512)
extern const BnPlaneKernels kBnPlaneKernelsAvx512;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
extern const BnPlaneKernels kBnPlaneKernelsAvx2Fma;
#endif

}  // namespace resnet
