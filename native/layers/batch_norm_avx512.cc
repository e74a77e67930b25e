// Batch norm's plane loops (batch_norm.h) for AVX-512: 16 floats a step, widened to two vectors of 8 doubles.
// Compiled with -mavx512f -mfma; as in ukernel_avx512.cc, nothing here may be inline code shared with baseline files.
#include "batch_norm.h"

#if defined(__AVX512F__) && defined(__FMA__)
// GCC 12 warns that the _mm512_undefined_* inside its own conversion intrinsics is used uninitialized (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace resnet {
namespace {

__m512d widen_lo(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
__m512d widen_hi(__m512 v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// The affine map in double, as one FMA, so the forward pass and the ReLU mask in the backward pass agree bit for bit.
__m512d affine(__m512d x, const BnAffine& a) {
  return _mm512_fmadd_pd(_mm512_sub_pd(x, _mm512_set1_pd(a.center)), _mm512_set1_pd(a.scale),
                         _mm512_set1_pd(a.shift));
}
double affine(float x, const BnAffine& a) { return std::fma(static_cast<double>(x) - a.center, a.scale, a.shift); }

// 16 floats of dy, zeroed where the fused ReLU's input (recomputed from x) is ≤ 0: the gradient passes where the
// output is positive or NaN, as reluBackward's does.
__m512 masked(__m512 dy, __m512 x, const BnAffine* relu_of) {
  if (!relu_of) return dy;
  if (relu_of->pass != 0) {
    const __m512 t = _mm512_set1_ps(relu_of->threshold);
    return _mm512_maskz_mov_ps(relu_of->pass > 0 ? _mm512_cmp_ps_mask(x, t, _CMP_NLT_UQ)
                                                 : _mm512_cmp_ps_mask(x, t, _CMP_NGT_UQ),
                               dy);
  }
  const __m256 lo = _mm512_cvtpd_ps(affine(widen_lo(x), *relu_of));
  const __m256 hi = _mm512_cvtpd_ps(affine(widen_hi(x), *relu_of));
  const __m512 y = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                                                       _mm256_castps_pd(hi), 1));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), dy);
}
float map_one(float x, const BnAffine& a) { return static_cast<float>(affine(x, a)); }
float masked(float dy, float x, const BnAffine* relu_of) {
  if (!relu_of) return dy;
  const BnAffine& a = *relu_of;
  const bool keep = a.pass > 0 ? !(x < a.threshold) : a.pass < 0 ? !(x > a.threshold) : !(map_one(x, a) <= 0.0f);
  return keep ? dy : 0.0f;
}

void shifted_sums(const float* x, size_t n, double shift, double* sums) {
  const __m512d k = _mm512_set1_pd(shift);
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd(), b0 = _mm512_setzero_pd(), b1 = _mm512_setzero_pd();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512d d0 = _mm512_sub_pd(widen_lo(v), k), d1 = _mm512_sub_pd(widen_hi(v), k);
    a0 = _mm512_add_pd(a0, d0);
    a1 = _mm512_add_pd(a1, d1);
    b0 = _mm512_fmadd_pd(d0, d0, b0);
    b1 = _mm512_fmadd_pd(d1, d1, b1);
  }
  double ta = 0, tb = 0;
  for (; i < n; i++) {
    const double d = x[i] - shift;
    ta += d;
    tb += d * d;
  }
  sums[0] += _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + ta;
  sums[1] += _mm512_reduce_add_pd(_mm512_add_pd(b0, b1)) + tb;
}

void scale_shift(const float* x, const BnAffine& a, const float* residual, float* y, size_t n, bool stream,
                 bool relu) {
  // max(0, v) returns v when v is NaN: NaN stays NaN, as in the relu kernel.
  const __m256 low = relu ? _mm256_setzero_ps() : _mm256_set1_ps(-INFINITY);
  auto vec = [&](size_t i) {
    __m256 v = _mm512_cvtpd_ps(affine(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), a));
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
  const __m512 m = _mm512_set1_ps(mu);
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd(), b0 = _mm512_setzero_pd(), b1 = _mm512_setzero_pd();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    const __m512 g = masked(_mm512_loadu_ps(dy + i), xv, relu_of);
    const __m512 gx = _mm512_mul_ps(g, _mm512_sub_ps(xv, m));
    a0 = _mm512_add_pd(a0, widen_lo(g));
    a1 = _mm512_add_pd(a1, widen_hi(g));
    b0 = _mm512_add_pd(b0, widen_lo(gx));
    b1 = _mm512_add_pd(b1, widen_hi(gx));
  }
  double ta = 0, tb = 0;
  for (; i < n; i++) {
    const float g = masked(dy[i], x[i], relu_of);
    ta += g;
    tb += g * (x[i] - mu);
  }
  sums[0] += _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + ta;
  sums[1] += _mm512_reduce_add_pd(_mm512_add_pd(b0, b1)) + tb;
}

void input_gradient(const float* dy, const float* x, float scale, float mean_dy, float mu, float k,
                    const BnAffine* relu_of, float* dx, size_t n, bool stream) {
  const __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(mean_dy), vmu = _mm512_set1_ps(mu),
               vk = _mm512_set1_ps(k);
  auto one = [&](size_t i) { return scale * (masked(dy[i], x[i], relu_of) - mean_dy) - (x[i] - mu) * k; };
  auto vec = [&](size_t i) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    const __m512 g = masked(_mm512_loadu_ps(dy + i), xv, relu_of);
    return _mm512_sub_ps(_mm512_mul_ps(vs, _mm512_sub_ps(g, vm)), _mm512_mul_ps(_mm512_sub_ps(xv, vmu), vk));
  };
  size_t i = 0;
  if (stream) {  // one at a time until dx + i is 64-byte aligned, as streaming stores need
    for (; i < n && reinterpret_cast<uintptr_t>(dx + i) % 64 != 0; i++) dx[i] = one(i);
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(dx + i, vec(i));
    _mm_sfence();
  }
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dx + i, vec(i));
  for (; i < n; i++) dx[i] = one(i);
}

}  // namespace

const BnPlaneKernels kBnPlaneKernelsAvx512 = {shifted_sums, scale_shift, gradient_sums, input_gradient, map_one};

}  // namespace resnet

#endif
