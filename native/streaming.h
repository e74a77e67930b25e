// When a kernel writes its output with non-temporal (streaming) stores: outputs too large to still be in cache when
// the next op reads them. A normal store first reads the line it writes into (write-allocate); a streaming store
// does not, which halves the memory traffic of such a write.
#pragma once

#include <cstddef>

namespace resnet {

// On the 2-core development VM (docs/ARCHITECTURE.md, Decisions), writing then reading back 100 MB took 20 ms
// with normal stores and 12 ms with streaming ones, 50 MB 8.3 against 6.2 ms, but 12 MB 0.9 against 1.5 ms: below
// a few tens of MB the output is still in the last-level cache when it is read, and streaming it out loses that.
constexpr size_t kStreamingStoreBytes = size_t{32} << 20;

inline bool stream_output(size_t floats) { return floats * sizeof(float) >= kStreamingStoreBytes; }

}  // namespace resnet
