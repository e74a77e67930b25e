// Into and out of the blocked layout, and the global average pool that ends a ResNet on it.
#include <algorithm>

#include "../parallel.h"
#include "nchwc.h"

namespace resnet::nchwc {

namespace {

// Pixels per piece of a plane: 16 channels of this many pixels in, or out, stay in L1.
constexpr size_t kPiece = 256;

}  // namespace

// Pixel by pixel, so that the blocked plane is written in order (it usually goes out to memory): the stem's max pool
// at batch 8 took 1.47-1.52 ms a forward so, and 1.80-1.88 channel by channel.
void interleave_block(const float* planes, size_t p, size_t p0, size_t p1, float* block) {
  for (size_t q = p0; q < p1; q++) {
    for (size_t i = 0; i < kBlock; i++) block[q * kBlock + i] = planes[i * p + q];
  }
}

void to_blocked(size_t n, size_t c, size_t h, size_t w, const float* x, float* y) {
  const size_t p = h * w, blocks = c / kBlock, pieces = ceil_div(p, kPiece);
  parallel_ranges(n * blocks * pieces, 4, [&](size_t i0, size_t i1) {
    for (size_t item = i0; item < i1; item++) {
      const size_t plane = item / pieces, p0 = item % pieces * kPiece, p1 = std::min(p, p0 + kPiece);
      // plane = image·blocks + block: its 16 channels are consecutive
      interleave_block(x + plane * kBlock * p, p, p0, p1, y + plane * kBlock * p);
    }
  });
}

void from_blocked(size_t n, size_t c, size_t h, size_t w, const float* x, float* y) {
  const size_t p = h * w, blocks = c / kBlock, pieces = ceil_div(p, kPiece);
  parallel_ranges(n * blocks * pieces, 4, [&](size_t i0, size_t i1) {
    for (size_t item = i0; item < i1; item++) {
      const size_t plane = item / pieces, p0 = item % pieces * kPiece, p1 = std::min(p, p0 + kPiece);
      const float* src = x + plane * kBlock * p;
      float* dst = y + plane * kBlock * p;
      for (size_t i = 0; i < kBlock; i++) {
        for (size_t q = p0; q < p1; q++) dst[i * p + q] = src[q * kBlock + i];
      }
    }
  });
}

// Summed in double, pixel after pixel, as the NCHW kernel sums a plane.
void global_avg_pool(size_t n, size_t c, size_t h, size_t w, const float* x, float* y) {
  const size_t p = h * w, blocks = c / kBlock;
  parallel_ranges(n * blocks, grain_for(kBlock * p), [&](size_t i0, size_t i1) {
    for (size_t plane = i0; plane < i1; plane++) {
      double sum[kBlock] = {};
      const float* src = x + plane * kBlock * p;
      for (size_t q = 0; q < p; q++) {
        for (size_t i = 0; i < kBlock; i++) sum[i] += src[q * kBlock + i];
      }
      for (size_t i = 0; i < kBlock; i++) y[plane * kBlock + i] = static_cast<float>(sum[i] / static_cast<double>(p));
    }
  });
}

}  // namespace resnet::nchwc
