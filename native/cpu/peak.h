// The machine's measured FMA peak: the yardstick that GEMM throughput is reported against.
#pragma once

#include <cstddef>

namespace resnet {

struct PeakGflops {
  double single_thread;  // GFLOP/s of one thread
  double all_threads;    // GFLOP/s of the whole pool running together
  size_t threads;
};

// Runs independent-accumulator FMA loops for about `seconds` on one thread, then as long on every pool thread.
PeakGflops measure_peak_gflops(double seconds);

// One burst of `iterations` loop trips; returns a value the caller must keep so the loop is not optimised away.
// Each ISA's burst does a fixed number of flops per iteration, given beside it.
float fma_burst_scalar(size_t iterations);
constexpr double kFmaBurstScalarFlops = 8 * 4 * 2;
#if defined(RESNET_HAVE_AVX2_FMA)
float fma_burst_avx2_fma(size_t iterations);
constexpr double kFmaBurstAvx2FmaFlops = 12 * 8 * 2;
#endif
#if defined(RESNET_HAVE_AVX512)
float fma_burst_avx512(size_t iterations);
constexpr double kFmaBurstAvx512Flops = 12 * 16 * 2;
#endif

}  // namespace resnet
