// Copies and fills of a few dozen floats (image rows of 7 to 56), inlined: a memmove or memset call per 28-float
// row cost a fifth of the direct convolution's forward pass. Baseline code (SSE2 on x86-64) for baseline files;
// the per-ISA files must not include it (see ukernel_avx2_fma.cc).
#pragma once

#include <cstddef>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace resnet {

inline void copy_short(const float* src, size_t n, float* dst) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
  if (i + 2 <= n) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst + i), _mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(src + i)));
    i += 2;
  }
  if (i < n) dst[i] = src[i];
#else
  for (; i < n; i++) dst[i] = src[i];
#endif
}

// dst[i] = src[2·i] for i < n: the even columns of a row (a stride-2 convolution's input).
inline void copy_even_short(const float* src, size_t n, float* dst) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) {
    const __m128 lo = _mm_loadu_ps(src + 2 * i), hi = _mm_loadu_ps(src + 2 * i + 4);
    _mm_storeu_ps(dst + i, _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
  }
#endif
  for (; i < n; i++) dst[i] = src[2 * i];
}

inline void zero_short(float* dst, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, zero);
  if (i + 2 <= n) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst + i), zero);
    i += 2;
  }
  if (i < n) dst[i] = 0.0f;
#else
  for (; i < n; i++) dst[i] = 0.0f;
#endif
}

}  // namespace resnet
