// The blocked microkernel (tile.h) compiled with -mavx512f -mfma: one zmm per 16-channel vector.
#include "nchwc.h"

#if defined(__AVX512F__)
namespace resnet::nchwc {
namespace avx512 {
#include "tile.h"
}  // namespace avx512

void run_avx512(const Run& r) { avx512::run_tiles(r); }
}  // namespace resnet::nchwc
#endif
