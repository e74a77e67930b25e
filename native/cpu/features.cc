// CPU feature detection. This file is compiled for baseline x86-64, so it may run on any CPU.
#include "features.h"

#include <cstdlib>
#include <cstring>

namespace resnet {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  // libgcc's check also asks the OS (XGETBV) whether it saves the YMM/ZMM state, not only CPUID.
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
#endif
  return f;
}

Isa detect_isa() {
  // RESNET_ISA=avx2_fma or scalar caps the path at that set, so each can be tested and timed on a bigger machine.
  const char* forced = std::getenv("RESNET_ISA");
  const bool cap_scalar = forced && std::strcmp(forced, "scalar") == 0;
  const bool cap_avx2 = forced && std::strcmp(forced, "avx2_fma") == 0;
  if (cap_scalar) return Isa::kScalar;
  const CpuFeatures& f = cpu_features();
#if defined(RESNET_HAVE_AVX512)
  if (!cap_avx2 && f.avx512f && f.fma) return Isa::kAvx512;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
  if (f.avx2 && f.fma) return Isa::kAvx2Fma;
#endif
  (void)cap_avx2;
  (void)f;
  return Isa::kScalar;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

Isa kernel_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2Fma:
      return "avx2_fma";
    case Isa::kScalar:
      return "scalar";
  }
  return "scalar";
}

}  // namespace resnet
