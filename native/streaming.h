// When a kernel writes its output with non-temporal (streaming) stores: outputs too large to still be in cache when
// the next op reads them. A normal store first reads the line it writes into (write-allocate); a streaming store
// does not, which halves the memory traffic of such a write.
#pragma once

#include <cstddef>

namespace resnet {

// On the 2-core development VM (docs/ARCHITECTURE.md, Decisions), writing then reading back 100 MB took 20 ms
// with normal stores and 12 ms with streaming ones, 25 MB 3.6 against 3.1 ms, but 12 MB 0.9 against 1.5 ms: a
// small output is still in the last-level cache when it is read, and streaming it out loses that. In a resnet18
// training step at batch 32, a line at 16 MiB (layer1's 25.7 MB batch norms streamed too) took 8 ms off batch
// norm against a line at 32 MiB (the stem's 103 MB only), and 8 MiB no more.
constexpr size_t kStreamingStoreBytes = size_t{16} << 20;

inline bool stream_output(size_t floats) { return floats * sizeof(float) >= kStreamingStoreBytes; }

}  // namespace resnet
