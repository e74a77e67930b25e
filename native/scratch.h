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

// One growing, 64-byte aligned buffer. Each use keeps its own thread_local instance, e.g.
//   float* col_scratch(size_t n) { thread_local ScratchBuffer b; return b.get(n); }
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

}  // namespace resnet
