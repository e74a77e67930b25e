// The AVX-512 peak loop, compiled with -mavx512f: only called after the CPU has been checked.
#include "peak.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace resnet {

float fma_burst_avx512(size_t iterations) {
  // 12 independent chains cover FMA latency (4 cycles) times two 512-bit FMA ports with room to spare.
  const __m512 x = _mm512_set1_ps(0.999999f);
  const __m512 y = _mm512_set1_ps(1e-6f);
  __m512 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(0.1f * static_cast<float>(i));
  for (size_t it = 0; it < iterations; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0];
}

}  // namespace resnet
#endif
