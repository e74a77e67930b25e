// The blocked microkernel (tile.h) for any CPU, and the dispatch to the AVX-512 build where the kernels run AVX-512.
#include "../cpu/features.h"

// Vectors of 16 floats returned by inline helpers in SSE2 code: their ABI never crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"
#include "nchwc.h"

namespace resnet::nchwc {
namespace generic {
#include "tile.h"
}  // namespace generic

void run_generic(const Run& r) { generic::run_tiles(r); }

void run(const Run& r) {
#if defined(RESNET_HAVE_AVX512)
  if (kernel_isa() == Isa::kAvx512) {
    run_avx512(r);
    return;
  }
#endif
  run_generic(r);
}

}  // namespace resnet::nchwc
