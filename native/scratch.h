// Per-thread scratch buffers that only grow: kernels reuse them from call to call without allocating.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace resnet {

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// One growing, 64-byte aligned buffer; thread_scratch<Use> below keeps one per thread and use.
struct ScratchBuffer {
  std::unique_ptr<float, AlignedFree> data;
  size_t capacity = 0;

  float* get(size_t floats) {
    if (floats > capacity) {
      const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data.reset(static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes)));
      if (!data) throw std::bad_alloc();
      capacity = floats;
    }
    return data.get();
  }
};

// What each scratch buffer holds: two uses that are live at the same time must not share one.
enum ScratchUse : int { kIm2col, kPackedWeight, kWeightGradPartials, kWinogradV, kWinogradM, kPackedA, kPackedB,
                       kPoolPlane, kImageColumns, kWinogradGatherV, kWinogradGatherG, kGemmAccumulator,
                       kNchwcV, kNchwcM, kNchwcGather };

// This thread's buffer for `Use`, grown to at least `floats`; contents are undefined.
template <ScratchUse Use>
float* thread_scratch(size_t floats) {
  thread_local ScratchBuffer buffer;
  return buffer.get(floats);
}

}  // namespace resnet
