// Splitting memory-bound loops over the pool: contiguous chunks big enough that waking a thread pays off.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include "threadpool.h"

namespace resnet {

// How many blocks of b cover a: the count of tiles, panels or chunks over a dimension.
inline size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Runs fn(begin, end) over [0, count) in at most one chunk per thread, each of at least `grain` items (so small
// loops stay on the calling thread).
template <typename Fn>
void parallel_ranges(size_t count, size_t grain, Fn fn) {
  if (count == 0) return;
  const size_t by_grain = std::max<size_t>(1, count / std::max<size_t>(1, grain));
  const size_t chunks = std::min(by_grain, in_parallel_for() ? size_t{1} : num_threads());
  if (chunks == 1) {
    fn(size_t{0}, count);
    return;
  }
  parallel_for(chunks, [&](size_t t) { fn(count * t / chunks, count * (t + 1) / chunks); });
}

// parallel_ranges(count, grain, fn) when `parallel`, else fn(0, count) on the calling thread: for loops that the
// threads share only when they are not each running whole items of their own.
template <typename Fn>
void parallel_ranges_if(bool parallel, size_t count, size_t grain, Fn fn) {
  if (parallel) {
    parallel_ranges(count, grain, fn);
  } else {
    fn(size_t{0}, count);
  }
}

// Whether the pool's threads each take whole items ((image, group) pairs, images) rather than sharing every item:
// when the items divide evenly over the threads, or are plentiful enough that an uneven split costs little.
inline bool whole_items_per_thread(size_t items) {
  const size_t threads = in_parallel_for() ? 1 : num_threads();
  return threads > 1 && items >= threads && (items % threads == 0 || items >= 4 * threads);
}

// For a sum over items (a weight gradient over images) that each thread adds into its own partial: how many parts
// to split the items into, by the rule above but letting fewer items than threads take one each; 1 when the
// threads should instead share every item.
inline size_t summing_parts(size_t items) {
  const size_t parts = std::min(in_parallel_for() ? size_t{1} : num_threads(), items);
  return parts <= 1 || (items % parts != 0 && items < 4 * parts) ? 1 : parts;
}

// Elements per chunk below which an elementwise pass is not worth a second thread.
constexpr size_t kElementGrain = 1 << 15;

// The grain, in items (planes, rows, channels) of `item_elements` elements each, that makes about kElementGrain
// elements a chunk.
inline size_t grain_for(size_t item_elements) {
  return std::max<size_t>(1, kElementGrain / std::max<size_t>(1, item_elements));
}

// Runs fn(first, count, shared) over [0, n) in chunks of `size` (the last one shorter): whole chunks per thread when
// there are enough, otherwise chunk after chunk with the threads sharing each (shared: fn splits its loops over the
// pool).
template <typename Fn>
void for_chunks(size_t n, size_t size, Fn fn) {
  const size_t chunks = ceil_div(n, size);
  auto one = [&](size_t c, bool shared) { fn(c * size, std::min(size, n - c * size), shared); };
  if (whole_items_per_thread(chunks)) {
    parallel_for(chunks, [&](size_t c) { one(c, false); });
  } else {
    for (size_t c = 0; c < chunks; c++) one(c, true);
  }
}

// Σ op(i) for i in [0, count) in double, over 8 independent lanes so that the loop vectorises (two doubles per SSE2
// add). Float lanes were faster but summed 32 terms per lane in float: a few ulp of error in a BN channel's mean,
// which cancellation in Σ dy·x̂ turned into 2e-4 of resnet50's bn1.weight gradient.
template <typename Op>
double blocked_sum(size_t count, Op op) {
  double lanes[8] = {};
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (size_t j = 0; j < 8; j++) lanes[j] += static_cast<double>(op(i + j));
  }
  for (; i < count; i++) lanes[0] += static_cast<double>(op(i));
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

// Two sums at once, {Σ op(i).first, Σ op(i).second}, each in exactly blocked_sum's order: one pass over memory
// for two reductions, with the same bits as two blocked_sum calls.
template <typename Op>
std::pair<double, double> blocked_sum_pair(size_t count, Op op) {
  double a[8] = {}, b[8] = {};
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (size_t j = 0; j < 8; j++) {
      const auto [u, v] = op(i + j);
      a[j] += static_cast<double>(u);
      b[j] += static_cast<double>(v);
    }
  }
  for (; i < count; i++) {
    const auto [u, v] = op(i);
    a[0] += static_cast<double>(u);
    b[0] += static_cast<double>(v);
  }
  return {((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])),
          ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]))};
}

}  // namespace resnet
