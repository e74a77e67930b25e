// What the CPU we run on can do, detected once at load; kernels pick their implementation from this.
#pragma once

namespace resnet {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
};

const CpuFeatures& cpu_features();

// The instruction set the kernels dispatch to: "avx512", "avx2_fma" or "scalar" (room for "neon").
enum class Isa { kScalar, kAvx2Fma, kAvx512 };
Isa kernel_isa();
const char* isa_name(Isa isa);

}  // namespace resnet
