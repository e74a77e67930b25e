// Batch norm's plane loops (batch_norm.h) for AVX2: 8 floats a step, widened to two vectors of 4 doubles.
// Compiled with -mavx2 -mfma; as in ukernel_avx2_fma.cc, nothing here may be inline code shared with baseline files.
#include "batch_norm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace resnet {
namespace {

__m256d widen_lo(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
__m256d widen_hi(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
double reduce(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// The affine map in double, as one FMA, so the forward pass and the ReLU mask in the backward pass agree bit for bit.
__m256d affine(__m256d x, const BnAffine& a) {
  return _mm256_fmadd_pd(_mm256_sub_pd(x, _mm256_set1_pd(a.center)), _mm256_set1_pd(a.scale),
                         _mm256_set1_pd(a.shift));
}
double affine(float x, const BnAffine& a) { return std::fma(static_cast<double>(x) - a.center, a.scale, a.shift); }
__m256 affine_float(__m256 x, const BnAffine& a) {
  return _mm256_set_m128(_mm256_cvtpd_ps(affine(widen_hi(x), a)), _mm256_cvtpd_ps(affine(widen_lo(x), a)));
}

// 8 floats of dy, zeroed where the fused ReLU's input (recomputed from x) is ≤ 0: the gradient passes where the
// output is positive or NaN, as reluBackward's does.
__m256 masked(__m256 dy, __m256 x, const BnAffine* relu_of) {
  if (!relu_of) return dy;
  if (relu_of->pass != 0) {
    const __m256 t = _mm256_set1_ps(relu_of->threshold);
    return _mm256_and_ps(dy, relu_of->pass > 0 ? _mm256_cmp_ps(x, t, _CMP_NLT_UQ) : _mm256_cmp_ps(x, t, _CMP_NGT_UQ));
  }
  return _mm256_and_ps(dy, _mm256_cmp_ps(affine_float(x, *relu_of), _mm256_setzero_ps(), _CMP_NLE_UQ));
}
float map_one(float x, const BnAffine& a) { return static_cast<float>(affine(x, a)); }
float masked(float dy, float x, const BnAffine* relu_of) {
  if (!relu_of) return dy;
  const BnAffine& a = *relu_of;
  const bool keep = a.pass > 0 ? !(x < a.threshold) : a.pass < 0 ? !(x > a.threshold) : !(map_one(x, a) <= 0.0f);
  return keep ? dy : 0.0f;
}

void shifted_sums(const float* x, size_t n, double shift, double* sums) {
  const __m256d k = _mm256_set1_pd(shift);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d d0 = _mm256_sub_pd(widen_lo(v), k), d1 = _mm256_sub_pd(widen_hi(v), k);
    a0 = _mm256_add_pd(a0, d0);
    a1 = _mm256_add_pd(a1, d1);
    b0 = _mm256_fmadd_pd(d0, d0, b0);
    b1 = _mm256_fmadd_pd(d1, d1, b1);
  }
  double ta = 0, tb = 0;
  for (; i < n; i++) {
    const double d = x[i] - shift;
    ta += d;
    tb += d * d;
  }
  sums[0] += reduce(_mm256_add_pd(a0, a1)) + ta;
  sums[1] += reduce(_mm256_add_pd(b0, b1)) + tb;
}

void scale_shift(const float* x, const BnAffine& a, const float* residual, float* y, size_t n, bool stream,
                 bool relu) {
  // max(0, v) returns v when v is NaN: NaN stays NaN, as in the relu kernel.
  const __m256 low = relu ? _mm256_setzero_ps() : _mm256_set1_ps(-INFINITY);
  auto vec = [&](size_t i) {
    __m256 v = affine_float(_mm256_loadu_ps(x + i), a);
    if (residual) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
    return _mm256_max_ps(low, v);
  };
  auto one = [&](size_t i) {
    float v = static_cast<float>(affine(x[i], a));
    if (residual) v += residual[i];
    return relu && v < 0.0f ? 0.0f : v;
  };
  size_t i = 0;
  if (stream) {  // one at a time until y + i is 32-byte aligned, as streaming stores need
    for (; i < n && reinterpret_cast<uintptr_t>(y + i) % 32 != 0; i++) y[i] = one(i);
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(y + i, vec(i));
    _mm_sfence();
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, vec(i));
  for (; i < n; i++) y[i] = one(i);
}

void gradient_sums(const float* dy, const float* x, float mu, const BnAffine* relu_of, size_t n, double* sums) {
  const __m256 m = _mm256_set1_ps(mu);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 g = masked(_mm256_loadu_ps(dy + i), xv, relu_of);
    const __m256 gx = _mm256_mul_ps(g, _mm256_sub_ps(xv, m));
    a0 = _mm256_add_pd(a0, widen_lo(g));
    a1 = _mm256_add_pd(a1, widen_hi(g));
    b0 = _mm256_add_pd(b0, widen_lo(gx));
    b1 = _mm256_add_pd(b1, widen_hi(gx));
  }
  double ta = 0, tb = 0;
  for (; i < n; i++) {
    const float g = masked(dy[i], x[i], relu_of);
    ta += g;
    tb += g * (x[i] - mu);
  }
  sums[0] += reduce(_mm256_add_pd(a0, a1)) + ta;
  sums[1] += reduce(_mm256_add_pd(b0, b1)) + tb;
}

void input_gradient(const float* dy, const float* x, float scale, float mean_dy, float mu, float k,
                    const BnAffine* relu_of, float* dx, size_t n, bool stream) {
  const __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(mean_dy), vmu = _mm256_set1_ps(mu),
               vk = _mm256_set1_ps(k);
  auto one = [&](size_t i) { return scale * (masked(dy[i], x[i], relu_of) - mean_dy) - (x[i] - mu) * k; };
  auto vec = [&](size_t i) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 g = masked(_mm256_loadu_ps(dy + i), xv, relu_of);
    return _mm256_sub_ps(_mm256_mul_ps(vs, _mm256_sub_ps(g, vm)), _mm256_mul_ps(_mm256_sub_ps(xv, vmu), vk));
  };
  size_t i = 0;
  if (stream) {  // one at a time until dx + i is 32-byte aligned, as streaming stores need
    for (; i < n && reinterpret_cast<uintptr_t>(dx + i) % 32 != 0; i++) dx[i] = one(i);
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(dx + i, vec(i));
    _mm_sfence();
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, vec(i));
  for (; i < n; i++) dx[i] = one(i);
}

}  // namespace

const BnPlaneKernels kBnPlaneKernelsAvx2Fma = {shifted_sums, scale_shift, gradient_sums, input_gradient, map_one};

}  // namespace resnet

#endif
