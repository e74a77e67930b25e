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

// Room for more rows: NEON (8×12) for arm64. The scalar row stays last, as the fallback. kc is 256 on every row: on
// the AVX-512 one a B panel is then 32 KiB, all of a Zen 4's L1, and 192 (within three quarters of it, as this table
// had) measured 2-5% slower on bench/gemm.ts's problems and 2% on resnet50 at batch 8 (308.7 -> 302.0 ms, median of
// 5 alternating runs): with K = 256 or 512 in one or two blocks, C is read back less often.
const Candidate kCandidates[] = {
#if defined(RESNET_HAVE_AVX512)
    {Isa::kAvx512,
     {"sgemm_ukernel_8x32_avx512", 8, 32, 16, 256, 256, 4096, sgemm_ukernel_8x32_avx512, sgemm_pack_panels<8>,
      sgemm_pack_panels<32>, sgemm_store_columns_avx2_fma}},
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    {Isa::kAvx2Fma,
     {"sgemm_ukernel_6x16_avx2_fma", 6, 16, 16, 144, 256, 4096, sgemm_ukernel_6x16_avx2_fma, sgemm_pack_panels<6>,
      sgemm_pack_panels<16>, sgemm_store_columns_avx2_fma}},
#endif
    {Isa::kScalar,
     {"sgemm_ukernel_4x8_scalar", 4, 8, 8, 128, 256, 4096, sgemm_ukernel_4x8_scalar, sgemm_pack_panels<4>,
      sgemm_pack_panels<8>, sgemm_store_columns_scalar}},
};

SgemmKernel select() {
  const Isa isa = kernel_isa();
  for (const Candidate& c : kCandidates) {
    if (c.isa == isa) return c.kernel;
  }
  return kCandidates[sizeof(kCandidates) / sizeof(kCandidates[0]) - 1].kernel;
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel kernel = select();
  return kernel;
}

}  // namespace resnet
