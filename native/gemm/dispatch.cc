// The SGEMM dispatch table: one row per microkernel and ISA; the row for the ISA that features.cc picked wins.
#include <algorithm>

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf
#endif

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
      sgemm_pack_panels<32>, sgemm_store_columns_avx2_fma}},
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    {Isa::kAvx2Fma,
     {"sgemm_ukernel_6x16_avx2_fma", 6, 16, 144, 256, 4096, sgemm_ukernel_6x16_avx2_fma, sgemm_pack_panels<6>,
      sgemm_pack_panels<16>, sgemm_store_columns_avx2_fma}},
#endif
    {Isa::kScalar,
     {"sgemm_ukernel_4x8_scalar", 4, 8, 128, 256, 4096, sgemm_ukernel_4x8_scalar, sgemm_pack_panels<4>,
      sgemm_pack_panels<8>, sgemm_store_columns_scalar}},
};

// This core's L1 data cache in bytes (32 KiB where the system does not say).
size_t l1d_bytes() {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (l1 > 0) return static_cast<size_t>(l1);
#endif
  return size_t{32} << 10;
}

// The table's kc keeps a kc×NR panel of B within three quarters of a 32 KiB L1. Where the L1 holds more, kc grows
// (up to 256) while the panel stays within two thirds of it: the AVX-512 kernel on a 48 KiB L1 (Ice Lake and later)
// then takes 256 steps, and K = 256 or 512 needs one or two blocks instead of two or three, so C is read back less
// often. resnet50 at batch 8: 3% faster; batch 1 and the training steps unchanged within noise.
constexpr size_t kMaxKc = 256;

SgemmKernel with_cache_blocking(SgemmKernel k) {
  const size_t fits = l1d_bytes() * 2 / 3 / (k.nr * sizeof(float)) / 64 * 64;
  k.kc = std::max(k.kc, std::min(kMaxKc, fits));
  return k;
}

SgemmKernel select() {
  const Isa isa = kernel_isa();
  for (const Candidate& c : kCandidates) {
    if (c.isa == isa) return with_cache_blocking(c.kernel);
  }
  return with_cache_blocking(kCandidates[sizeof(kCandidates) / sizeof(kCandidates[0]) - 1].kernel);
}

}  // namespace

const SgemmKernel& sgemm_kernel() {
  static const SgemmKernel kernel = select();
  return kernel;
}

}  // namespace resnet
