// Max pooling with argmax indices and adaptive average pooling, forward and backward, threaded over planes.
// Same contracts (and NaN rule) as the js reference in src/backend/js/pool.ts.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../bindings.h"
#include "../napi_args.h"
#include "../nchwc/nchwc.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../streaming.h"

namespace resnet {
namespace {

struct PoolShape {
  size_t n, c, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

PoolShape arg_pool_shape(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[i].IsObject()) throw Napi::TypeError::New(env, std::string(fn) + ": geometry must be an object");
  const Napi::Object g = info[i].As<Napi::Object>();
  return {object_size(env, g, "n", fn),         object_size(env, g, "c", fn),
          object_size(env, g, "h", fn, 1),      object_size(env, g, "w", fn, 1),
          object_size(env, g, "oh", fn, 1),     object_size(env, g, "ow", fn, 1),
          object_size(env, g, "kh", fn, 1),     object_size(env, g, "kw", fn, 1),
          object_size(env, g, "strideH", fn, 1), object_size(env, g, "strideW", fn, 1),
          object_size(env, g, "padH", fn),      object_size(env, g, "padW", fn),
          object_size(env, g, "dilationH", fn, 1), object_size(env, g, "dilationW", fn, 1)};
}

// The in-bounds taps of each output column, [k0, k1), so the inner loops need no bounds checks. The valid taps of a
// window form one run because ix = o·stride + k·dilation − pad grows with k.
struct TapRange {
  uint32_t k0, k1;
};

TapRange tap_range(size_t o, size_t stride, size_t dilation, size_t pad, size_t k, size_t in) {
  const long long base = static_cast<long long>(o * stride) - static_cast<long long>(pad);
  uint32_t k0 = 0, k1 = static_cast<uint32_t>(k);
  while (k0 < k1 && base + static_cast<long long>(k0 * dilation) < 0) k0++;
  while (k1 > k0 && base + static_cast<long long>((k1 - 1) * dilation) >= static_cast<long long>(in)) k1--;
  return {k0, k1};
}

// Scans each window in row-major tap order: the first maximum wins, and the first NaN wins over everything (as in
// PyTorch, so a diverged activation is not silently dropped). Branch-free per tap: `take` replaces the best when v is
// larger, or when v is the window's first NaN (once the best is NaN nothing replaces it).
inline bool max_pool_take(float v, float best) { return (v > best) | ((v != v) & (best == best)); }

// One output row. Columns [lo, hi) have every tap inside the input; there the scan runs tap by tap across the row, a
// loop the compiler vectorises (STRIDE a constant for the common strides, 0 for "use stride_w"). The edge columns
// take the scalar path. best/best_index are per-thread row scratch of ow entries.
template <size_t STRIDE>
void max_pool_row(const PoolShape& g, const TapRange* cols, size_t lo, size_t hi, TapRange rows, long long iy0,
                  const float* __restrict x, float* __restrict yrow, int32_t* __restrict irow) {
  const size_t sw = STRIDE ? STRIDE : g.stride_w;
  const long long w = static_cast<long long>(g.w);
  const long long pad_w = static_cast<long long>(g.pad_w);
  if (rows.k0 >= rows.k1) {
    for (size_t ox = 0; ox < g.ow; ox++) {
      yrow[ox] = -INFINITY;
      irow[ox] = -1;
    }
    return;
  }
  if (lo < hi) {
    const int32_t first = static_cast<int32_t>((iy0 + rows.k0 * g.dilation_h) * w - pad_w);
    for (size_t ox = lo; ox < hi; ox++) {
      const int32_t at = first + static_cast<int32_t>(ox * sw);
      yrow[ox] = x[at];
      irow[ox] = at;
    }
    for (uint32_t ky = rows.k0; ky < rows.k1; ky++) {
      for (size_t kx = 0; kx < g.kw; kx++) {
        const int32_t tap = static_cast<int32_t>((iy0 + ky * g.dilation_h) * w - pad_w + kx * g.dilation_w);
        const float* __restrict src = x + tap;
        for (size_t ox = lo; ox < hi; ox++) {
          const float v = src[ox * sw];
          const float best = yrow[ox];
          const bool take = max_pool_take(v, best);
          yrow[ox] = take ? v : best;
          irow[ox] = take ? tap + static_cast<int32_t>(ox * sw) : irow[ox];
        }
      }
    }
  }
  for (size_t ox = 0; ox < g.ow; ox++) {
    if (ox == lo && lo < hi) ox = hi;
    if (ox >= g.ow) break;
    const TapRange c = cols[ox];
    if (c.k0 >= c.k1) {
      yrow[ox] = -INFINITY;
      irow[ox] = -1;
      continue;
    }
    const long long ix0 = static_cast<long long>(ox * sw) - pad_w;
    int32_t best_index = static_cast<int32_t>((iy0 + rows.k0 * g.dilation_h) * w + ix0 + c.k0 * g.dilation_w);
    float best = x[best_index];
    for (uint32_t ky = rows.k0; ky < rows.k1; ky++) {
      const int32_t row = static_cast<int32_t>((iy0 + ky * g.dilation_h) * w + ix0);
      for (uint32_t kx = c.k0; kx < c.k1; kx++) {
        const int32_t at = row + static_cast<int32_t>(kx * g.dilation_w);
        const float v = x[at];
        const bool take = max_pool_take(v, best);
        best = take ? v : best;
        best_index = take ? at : best_index;
      }
    }
    yrow[ox] = best;
    irow[ox] = best_index;
  }
}

// x is one (H, W) plane; cols[ox] are its columns' in-bounds taps, [lo, hi) the columns where all kw are in bounds.
void max_pool_plane(const PoolShape& g, const TapRange* cols, size_t lo, size_t hi, const float* x, float* y,
                    int32_t* indices) {
  for (size_t oy = 0; oy < g.oh; oy++) {
    const TapRange rows = tap_range(oy, g.stride_h, g.dilation_h, g.pad_h, g.kh, g.h);
    const long long iy0 = static_cast<long long>(oy * g.stride_h) - static_cast<long long>(g.pad_h);
    float* yrow = y + oy * g.ow;
    int32_t* irow = indices + oy * g.ow;
    if (g.stride_w == 1) {
      max_pool_row<1>(g, cols, lo, hi, rows, iy0, x, yrow, irow);
    } else if (g.stride_w == 2) {
      max_pool_row<2>(g, cols, lo, hi, rows, iy0, x, yrow, irow);
    } else {
      max_pool_row<0>(g, cols, lo, hi, rows, iy0, x, yrow, irow);
    }
  }
}

// The value a window's scan keeps (max_pool_take's rule), whatever the order of its taps: NaN if any is NaN; a window
// holding both +0 and −0 may keep either.
inline float max_keep_nan(float v, float best) { return max_pool_take(v, best) ? v : best; }

#if defined(__SSE2__)
// Four lanes of max_keep_nan: maxps returns its second operand when either is NaN, which keeps b's NaN; a's is put
// back by the select.
inline __m128 max_keep_nan4(__m128 a, __m128 b) {
  const __m128 a_nan = _mm_cmpunord_ps(a, a);
  return _mm_or_ps(_mm_and_ps(a_nan, a), _mm_andnot_ps(a_nan, _mm_max_ps(a, b)));
}
#endif

// t[i] = max_keep_nan(src[i], t[i]) for i < n.
void max_into(const float* __restrict src, float* __restrict t, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(t + i, max_keep_nan4(_mm_loadu_ps(src + i), _mm_loadu_ps(t + i)));
#endif
  for (; i < n; i++) t[i] = max_keep_nan(src[i], t[i]);
}

// y[o] = max over the 3 columns r[2o], r[2o + 1], r[2o + 2], for o < n (the stems' 3×3 stride-2 pooling).
void max3_stride2(const float* __restrict r, float* __restrict y, size_t n) {
  size_t o = 0;
#if defined(__SSE2__)
  for (; o + 4 <= n; o += 4) {
    const float* q = r + 2 * o;
    const __m128 a = _mm_loadu_ps(q), b = _mm_loadu_ps(q + 4);
    const __m128 a2 = _mm_loadu_ps(q + 2), b2 = _mm_loadu_ps(q + 6);
    const __m128 even = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));   // r[2o], r[2o + 2], ...
    const __m128 odd = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));    // r[2o + 1], ...
    const __m128 next = _mm_shuffle_ps(a2, b2, _MM_SHUFFLE(2, 0, 2, 0)); // r[2o + 2], ...
    _mm_storeu_ps(y + o, max_keep_nan4(next, max_keep_nan4(odd, even)));
  }
#endif
  for (; o < n; o++) y[o] = max_keep_nan(r[2 * o + 2], max_keep_nan(r[2 * o + 1], r[2 * o]));
}

// Values only, no argmax (inference): each output row is the max over its window's rows, then over the columns of
// that row max. row has room for the padded input row: pad_w cells of −∞ on the left, the input columns, and −∞ out
// to the last window's right edge (row_size, plus 8 for max3_stride2's loads). A window with no tap in bounds gives
// −∞, as the indexed path does.
void max_pool_values_plane(const PoolShape& g, const float* x, float* y, float* row, size_t row_size) {
  for (size_t i = 0; i < g.pad_w; i++) row[i] = -INFINITY;
  for (size_t i = g.pad_w + g.w; i < row_size + 8; i++) row[i] = -INFINITY;
  for (size_t oy = 0; oy < g.oh; oy++) {
    const TapRange rows = tap_range(oy, g.stride_h, g.dilation_h, g.pad_h, g.kh, g.h);
    float* __restrict yrow = y + oy * g.ow;
    if (rows.k0 >= rows.k1) {
      for (size_t ox = 0; ox < g.ow; ox++) yrow[ox] = -INFINITY;
      continue;
    }
    float* t = row + g.pad_w;
    std::memcpy(t, x + (oy * g.stride_h + rows.k0 * g.dilation_h - g.pad_h) * g.w, g.w * sizeof(float));
    for (uint32_t ky = rows.k0 + 1; ky < rows.k1; ky++) {
      max_into(x + (oy * g.stride_h + ky * g.dilation_h - g.pad_h) * g.w, t, g.w);
    }
    if (g.kw == 3 && g.stride_w == 2 && g.dilation_w == 1) {
      max3_stride2(row, yrow, g.ow);
      continue;
    }
    for (size_t ox = 0; ox < g.ow; ox++) {
      float best = row[ox * g.stride_w];
      for (size_t kx = 1; kx < g.kw; kx++) best = max_keep_nan(row[ox * g.stride_w + kx * g.dilation_w], best);
      yrow[ox] = best;
    }
  }
}

// max_pool_values_plane's row: the left padding, the input, and up to the last window's right edge.
size_t values_row_size(const PoolShape& g) {
  const size_t reach = (g.ow - 1) * g.stride_w + (g.kw - 1) * g.dilation_w + 1;
  return std::max(g.pad_w + g.w, reach);
}

// dst[0, n) = src[0, n), with streaming stores where the ISA has them (SSE2 is part of x86-64).
void stream_copy(const float* src, float* dst, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % 16 != 0; i++) dst[i] = src[i];
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
  _mm_sfence();
#endif
  std::memcpy(dst + i, src + i, (n - i) * sizeof(float));
}

// PyTorch's adaptive window: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
size_t window_start(size_t i, size_t in, size_t out) { return i * in / out; }
size_t window_end(size_t i, size_t in, size_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

// maxPool2d(g, x, y, indices | null): without indices, the values only (inference).
Napi::Value MaxPool2dBinding(const Napi::CallbackInfo& info) {
  const char* fn = "maxPool2d";
  Napi::Env env = info.Env();
  expect_args(info, 4, fn);
  const PoolShape g = arg_pool_shape(info, 0, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span y = arg_float32_array(info, 2, fn, "y");
  const bool with_indices = !info[3].IsNull();
  const size_t planes = g.n * g.c, in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  expect_length(env, x.length, planes * in_plane, fn, "x");
  expect_length(env, y.length, planes * out_plane, fn, "y");
  if (!with_indices) {
    const size_t row_size = values_row_size(g);
    parallel_ranges(planes, grain_for(in_plane), [&](size_t p0, size_t p1) {
      float* row = thread_scratch<kPoolPlane>(row_size + 8);
      for (size_t p = p0; p < p1; p++) {
        max_pool_values_plane(g, x.data + p * in_plane, y.data + p * out_plane, row, row_size);
      }
    });
    return env.Undefined();
  }
  Napi::Int32Array indices = arg_int32_array(info, 3, fn, "indices");
  expect_length(env, indices.ElementLength(), planes * out_plane, fn, "indices");
  if (in_plane > static_cast<size_t>(INT32_MAX)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": x plane " + std::to_string(g.h) + "×" + std::to_string(g.w) +
                                         " is too large for int32 indices");
  }
  int32_t* idx = indices.Data();
  std::vector<TapRange> cols(g.ow);
  size_t lo = g.ow, hi = g.ow;  // the run of columns whose taps are all in bounds
  for (size_t ox = 0; ox < g.ow; ox++) {
    cols[ox] = tap_range(ox, g.stride_w, g.dilation_w, g.pad_w, g.kw, g.w);
    const bool full = cols[ox].k0 == 0 && cols[ox].k1 == g.kw;
    if (full && lo == g.ow) lo = ox;
    if (full) hi = ox + 1;
  }
  if (lo == g.ow) hi = lo;
  parallel_ranges(planes, grain_for(in_plane), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      max_pool_plane(g, cols.data(), lo, hi, x.data + p * in_plane, y.data + p * out_plane, idx + p * out_plane);
    }
  });
  return env.Undefined();
}

// maxPool2dToBlocked(g, x, y): maxPool2d's values into the blocked layout of src/backend/kernels.ts's BlockedKernels
// (16 channels a pixel), for the stem of a forward that runs blocked: each 16 planes are pooled into scratch and
// interleaved from there, so the pooled NCHW tensor is never written out and read back.
Napi::Value MaxPool2dToBlockedBinding(const Napi::CallbackInfo& info) {
  const char* fn = "maxPool2dToBlocked";
  Napi::Env env = info.Env();
  expect_args(info, 3, fn);
  const PoolShape g = arg_pool_shape(info, 0, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span y = arg_float32_array(info, 2, fn, "y");
  constexpr size_t kBlock = nchwc::kBlock;
  if (g.c % kBlock != 0) throw Napi::RangeError::New(env, std::string(fn) + ": c must be a multiple of 16");
  const size_t in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  expect_length(env, x.length, g.n * g.c * in_plane, fn, "x");
  expect_length(env, y.length, g.n * g.c * out_plane, fn, "y");
  if (ranges_overlap(x.data, x.length, y.data, y.length)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": x overlaps y");
  }
  const size_t row_size = values_row_size(g);
  parallel_ranges(g.n * g.c / kBlock, 1, [&](size_t b0, size_t b1) {
    float* row = thread_scratch<kPoolPlane>(row_size + 8);
    float* pooled = thread_scratch<kImageColumns>(kBlock * out_plane);
    for (size_t b = b0; b < b1; b++) {
      for (size_t i = 0; i < kBlock; i++) {
        max_pool_values_plane(g, x.data + (b * kBlock + i) * in_plane, pooled + i * out_plane, row, row_size);
      }
      nchwc::interleave_block(pooled, out_plane, 0, out_plane, y.data + b * kBlock * out_plane);
    }
  });
  return env.Undefined();
}

// maxPool2dBackward(g, dy, indices, dx): dx (overwritten) receives dy at each recorded index.
Napi::Value MaxPool2dBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "maxPool2dBackward";
  Napi::Env env = info.Env();
  expect_args(info, 4, fn);
  const PoolShape g = arg_pool_shape(info, 0, fn);
  const Float32Span dy = arg_float32_array(info, 1, fn, "dy");
  Napi::Int32Array indices = arg_int32_array(info, 2, fn, "indices");
  const Float32Span dx = arg_float32_array(info, 3, fn, "dx");
  const size_t planes = g.n * g.c, in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  expect_length(env, dy.length, planes * out_plane, fn, "dy");
  expect_length(env, indices.ElementLength(), planes * out_plane, fn, "indices");
  expect_length(env, dx.length, planes * in_plane, fn, "dx");
  const int32_t* idx = indices.Data();
  // Indices are checked as they are used, on the pool's threads: a plane stops at its first bad one, and the first
  // bad position of the whole array (the least of the planes') is reported once every thread is done.
  std::atomic<size_t> first_bad{SIZE_MAX};
  // A dx too large to stay in cache (the stem's) is built a plane at a time in scratch and streamed out, so that its
  // lines are not read from memory only to be overwritten.
  const bool stream = stream_output(planes * in_plane);
  parallel_ranges(planes, grain_for(in_plane), [&](size_t p0, size_t p1) {
    float* scratch = stream ? thread_scratch<kPoolPlane>(in_plane) : nullptr;
    for (size_t p = p0; p < p1; p++) {
      float* d = stream ? scratch : dx.data + p * in_plane;
      const int32_t* pi = idx + p * out_plane;
      const float* pd = dy.data + p * out_plane;
      std::memset(d, 0, in_plane * sizeof(float));
      for (size_t i = 0; i < out_plane; i++) {
        if (pi[i] < 0 || static_cast<size_t>(pi[i]) >= in_plane) {
          size_t seen = first_bad.load();
          while (p * out_plane + i < seen && !first_bad.compare_exchange_weak(seen, p * out_plane + i)) {
          }
          break;
        }
        d[pi[i]] += pd[i];
      }
      if (stream) stream_copy(scratch, dx.data + p * in_plane, in_plane);
    }
  });
  if (const size_t bad = first_bad.load(); bad != SIZE_MAX) {
    throw Napi::RangeError::New(env, std::string(fn) + ": index " + std::to_string(idx[bad]) + " at " +
                                         std::to_string(bad) + " is outside the input plane");
  }
  return env.Undefined();
}

// adaptiveAvgPool2d(nc, h, w, oh, ow, x, y)
Napi::Value AdaptiveAvgPool2dBinding(const Napi::CallbackInfo& info) {
  const char* fn = "adaptiveAvgPool2d";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const size_t nc = arg_size(info, 0, fn, "nc"), h = arg_size(info, 1, fn, "h", 1), w = arg_size(info, 2, fn, "w", 1);
  const size_t oh = arg_size(info, 3, fn, "oh", 1), ow = arg_size(info, 4, fn, "ow", 1);
  const Float32Span x = arg_float32_array(info, 5, fn, "x");
  const Float32Span y = arg_float32_array(info, 6, fn, "y");
  expect_length(env, x.length, nc * h * w, fn, "x");
  expect_length(env, y.length, nc * oh * ow, fn, "y");
  parallel_ranges(nc, grain_for(h * w), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      const float* xp = x.data + p * h * w;
      for (size_t oy = 0; oy < oh; oy++) {
        const size_t y0 = window_start(oy, h, oh), y1 = window_end(oy, h, oh);
        for (size_t ox = 0; ox < ow; ox++) {
          const size_t x0 = window_start(ox, w, ow), x1 = window_end(ox, w, ow);
          double sum = 0;
          for (size_t iy = y0; iy < y1; iy++) {
            sum += blocked_sum(x1 - x0, [&](size_t i) { return xp[iy * w + x0 + i]; });
          }
          y.data[(p * oh + oy) * ow + ox] = static_cast<float>(sum / static_cast<double>((y1 - y0) * (x1 - x0)));
        }
      }
    }
  });
  return env.Undefined();
}

// adaptiveAvgPool2dBackward(nc, h, w, oh, ow, dy, dx): dx overwritten.
Napi::Value AdaptiveAvgPool2dBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "adaptiveAvgPool2dBackward";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const size_t nc = arg_size(info, 0, fn, "nc"), h = arg_size(info, 1, fn, "h", 1), w = arg_size(info, 2, fn, "w", 1);
  const size_t oh = arg_size(info, 3, fn, "oh", 1), ow = arg_size(info, 4, fn, "ow", 1);
  const Float32Span dy = arg_float32_array(info, 5, fn, "dy");
  const Float32Span dx = arg_float32_array(info, 6, fn, "dx");
  expect_length(env, dy.length, nc * oh * ow, fn, "dy");
  expect_length(env, dx.length, nc * h * w, fn, "dx");
  parallel_ranges(nc, grain_for(h * w), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      float* dp = dx.data + p * h * w;
      std::memset(dp, 0, h * w * sizeof(float));
      for (size_t oy = 0; oy < oh; oy++) {
        const size_t y0 = window_start(oy, h, oh), y1 = window_end(oy, h, oh);
        for (size_t ox = 0; ox < ow; ox++) {
          const size_t x0 = window_start(ox, w, ow), x1 = window_end(ox, w, ow);
          const float share = dy.data[(p * oh + oy) * ow + ox] / static_cast<float>((y1 - y0) * (x1 - x0));
          for (size_t iy = y0; iy < y1; iy++) {
            for (size_t ix = x0; ix < x1; ix++) dp[iy * w + ix] += share;
          }
        }
      }
    }
  });
  return env.Undefined();
}

}  // namespace resnet
