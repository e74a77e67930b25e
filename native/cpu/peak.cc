// Measuring the FMA peak: a portable loop, the ISA-specific one when the CPU has it, timed on one and all threads.
#include "peak.h"

#include <atomic>
#include <chrono>

#include "../threadpool.h"
#include "features.h"

namespace resnet {

float fma_burst_scalar(size_t iterations) {
  // GCC/Clang vector extensions: SSE2 on baseline x86-64, NEON on arm64, without an ISA-specific file.
  typedef float v4 __attribute__((vector_size(16)));
  const v4 x = {0.999999f, 0.999999f, 0.999999f, 0.999999f};
  const v4 y = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
  v4 a[8];
  for (int j = 0; j < 8; j++) a[j] = v4{0.1f, 0.2f, 0.3f, 0.4f} * static_cast<float>(j);
  for (size_t i = 0; i < iterations; i++) {
    for (int j = 0; j < 8; j++) a[j] = a[j] * x + y;
  }
  v4 s = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  return s[0] + s[1] + s[2] + s[3];
}

namespace {

using Clock = std::chrono::steady_clock;

// Enough trips per burst that reading the clock costs nothing, few enough to stop close to the deadline.
constexpr size_t kBurstIterations = 1 << 16;

struct Burst {
  float (*run)(size_t);
  double flops_per_iteration;
};

Burst select_burst() {
#if defined(RESNET_HAVE_AVX512)
  if (kernel_isa() == Isa::kAvx512) return {fma_burst_avx512, kFmaBurstAvx512Flops};
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
  if (kernel_isa() == Isa::kAvx2Fma) return {fma_burst_avx2_fma, kFmaBurstAvx2FmaFlops};
#endif
  return {fma_burst_scalar, kFmaBurstScalarFlops};
}

volatile float g_sink;

// Bursts until the deadline; returns the flops done.
double run_until(const Burst& burst, Clock::time_point deadline) {
  double bursts = 0;
  float keep = 0;
  do {
    keep += burst.run(kBurstIterations);
    bursts += 1;
  } while (Clock::now() < deadline);
  g_sink = keep;
  return bursts * kBurstIterations * burst.flops_per_iteration;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

PeakGflops measure_peak_gflops(double seconds) {
  const Burst burst = select_burst();
  const auto span = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  PeakGflops result{};
  result.threads = num_threads();

  run_until(burst, Clock::now() + span / 10);  // let the core reach its AVX frequency before timing
  auto start = Clock::now();
  double flops = run_until(burst, start + span);
  result.single_thread = flops / seconds_since(start) / 1e9;

  // One shared deadline: a thread that picks up two indices gets nothing for the second, so a late worker
  // lowers the figure instead of inflating it.
  std::atomic<double> total{0};
  start = Clock::now();
  const auto deadline = start + span;
  parallel_for(result.threads, [&](size_t) {
    double mine = run_until(burst, deadline);
    double seen = total.load();
    while (!total.compare_exchange_weak(seen, seen + mine)) {
    }
  });
  result.all_threads = total.load() / seconds_since(start) / 1e9;
  return result;
}

}  // namespace resnet
