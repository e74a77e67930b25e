// The blocked microkernel (tile.h) for any CPU, the dispatch to the AVX-512 and AVX2 builds, and the tile width.
#include "../cpu/features.h"
#include "nchwc.h"

namespace resnet::nchwc {
namespace generic {
#include "tile.h"
}  // namespace generic

void run_generic(const Run& r) { generic::run_blocks<1>(r); }  // group_width() is 1 here

size_t group_width() {
  static const size_t width = kernel_isa() == Isa::kAvx512 ? kMaxGroupBlocks : 1;
  return width;
}

void run(const Run& r) {
  switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
    case Isa::kAvx512: run_avx512(r); return;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    case Isa::kAvx2Fma: run_avx2_fma(r); return;
#endif
    default: run_generic(r); return;
  }
}

}  // namespace resnet::nchwc
