// What the CPU we run on can do, detected once at load; kernels pick their implementation from this.
#pragma once

namespace resnet {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
};

const CpuFeatures& cpu_features();

// The instruction set the kernels dispatch to: "avx2_fma" or "scalar" (room for "avx512" and "neon").
enum class Isa { kScalar, kAvx2Fma };
Isa kernel_isa();
const char* isa_name(Isa isa);

}  // namespace resnet
