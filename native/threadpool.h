// A persistent worker pool shared by every kernel of the addon: one pool per process, sized to the cores.
#pragma once

#include <cstddef>
#include <functional>

namespace resnet {

// Runs fn(i) for every i in [0, n), spread over the pool; the calling thread takes part and the call returns when
// all n are done. Indices are handed out dynamically, so fn must not assume which thread runs which index.
// Nested calls (fn calling parallel_for) and calls made while another thread holds the pool run serially on the
// caller instead of deadlocking. An exception thrown by fn is rethrown on the caller after all indices finish.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

// True inside fn of a running parallel_for, where a nested parallel_for would run serially.
bool in_parallel_for();

// Threads that parallel_for uses, the caller included. Starts as RESNET_NUM_THREADS when set to a positive
// integer, else std::thread::hardware_concurrency().
size_t num_threads();

// Resizes the pool (n >= 1); waits for a running parallel_for to finish first.
void set_num_threads(size_t n);

}  // namespace resnet
