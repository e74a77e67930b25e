// The blocked microkernel (tile.h) compiled with -mavx2 -mfma: a 16-channel vector is two ymm, and tiles are one
// block wide (group_width), 12 accumulators of the 16 registers.
#include "nchwc.h"

#if defined(__AVX2__) && defined(__FMA__)
namespace resnet::nchwc {
namespace avx2_fma {
#include "tile.h"
}  // namespace avx2_fma

void run_avx2_fma(const Run& r) { avx2_fma::run_blocks<1>(r); }  // group_width() is 1 here
}  // namespace resnet::nchwc
#endif
