// Packing op(A) and op(B) into the panel layout the microkernels read, for any transpose and leading dimension.
#pragma once

#include <cstddef>

namespace resnet {

// See SgemmPack in ukernel.h. Instantiated for the tile widths that the dispatch table uses.
template <size_t Tile>
void sgemm_pack_panels(const float* src, size_t row_stride, size_t k_stride, size_t rows, size_t kc, float* dst);

}  // namespace resnet
