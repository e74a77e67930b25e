// The SGEMM dispatch table: one row per microkernel and ISA; the row for the ISA that features.cc picked wins.
#include "../cpu/features.h"
#include "pack.h"
#include "ukernel.h"

namespace resnet {
namespace {

struct Candidate {
  Isa isa;
  SgemmKernel kernel;
};

// Room for more rows: NEON (8×12) for arm64. The scalar row stays last, as the fallback.
const Candidate kCandidates[] = {
#if defined(RESNET_HAVE_AVX512)
    {Isa::kAvx512,
     {"sgemm_ukernel_8x32_avx512", 8, 32, 256, 192, 4096, sgemm_ukernel_8x32_avx512, sgemm_pack_panels<8>,
      sgemm_pack_panels<32>}},
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    {Isa::kAvx2Fma,
     {"sgemm_ukernel_6x16_avx2_fma", 6, 16, 144, 256, 4096, sgemm_ukernel_6x16_avx2_fma, sgemm_pack_panels<6>,
      sgemm_pack_panels<16>}},
#endif
    {Isa::kScalar,
     {"sgemm_ukernel_4x8_scalar", 4, 8, 128, 256, 4096, sgemm_ukernel_4x8_scalar, sgemm_pack_panels<4>,
      sgemm_pack_panels<8>}},
};

const SgemmKernel& select() {
  const Isa isa = kernel_isa();
  for (const Candidate& c : kCandidates) {
    if (c.isa == isa) return c.kernel;
  }
  return kCandidates[sizeof(kCandidates) / sizeof(kCandidates[0]) - 1].kernel;
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel& kernel = select();
  return kernel;
}

}  // namespace resnet
