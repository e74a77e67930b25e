// Max pooling with argmax indices and adaptive average pooling, forward and backward, threaded over planes.
// Same contracts (and NaN rule) as the js reference in src/backend/js/pool.ts.
#include <cmath>
#include <cstring>

#include "../bindings.h"
#include "../napi_args.h"
#include "../parallel.h"

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

size_t plane_grain(size_t plane) { return std::max<size_t>(1, kElementGrain / std::max<size_t>(1, plane)); }

void max_pool_plane(const PoolShape& g, const float* x, float* y, int32_t* indices) {
  for (size_t oy = 0; oy < g.oh; oy++) {
    for (size_t ox = 0; ox < g.ow; ox++) {
      float best = -INFINITY;
      long long best_index = -1;
      bool nan = false;
      for (size_t ky = 0; ky < g.kh && !nan; ky++) {
        const long long iy = static_cast<long long>(oy * g.stride_h + ky * g.dilation_h) - static_cast<long long>(g.pad_h);
        if (iy < 0 || iy >= static_cast<long long>(g.h)) continue;
        for (size_t kx = 0; kx < g.kw; kx++) {
          const long long ix =
              static_cast<long long>(ox * g.stride_w + kx * g.dilation_w) - static_cast<long long>(g.pad_w);
          if (ix < 0 || ix >= static_cast<long long>(g.w)) continue;
          const float v = x[iy * g.w + ix];
          // NaN wins, as in PyTorch, so a diverged activation is not silently dropped.
          if (best_index < 0 || v > best || std::isnan(v)) {
            best = v;
            best_index = iy * static_cast<long long>(g.w) + ix;
            if (std::isnan(v)) {
              nan = true;
              break;
            }
          }
        }
      }
      y[oy * g.ow + ox] = best;
      indices[oy * g.ow + ox] = static_cast<int32_t>(best_index);
    }
  }
}

// PyTorch's adaptive window: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
size_t window_start(size_t i, size_t in, size_t out) { return i * in / out; }
size_t window_end(size_t i, size_t in, size_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

// maxPool2d(g, x, y, indices)
Napi::Value MaxPool2dBinding(const Napi::CallbackInfo& info) {
  const char* fn = "maxPool2d";
  Napi::Env env = info.Env();
  expect_args(info, 4, fn);
  const PoolShape g = arg_pool_shape(info, 0, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span y = arg_float32_array(info, 2, fn, "y");
  Napi::Int32Array indices = arg_int32_array(info, 3, fn, "indices");
  const size_t planes = g.n * g.c, in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  expect_length(env, x.length, planes * in_plane, fn, "x");
  expect_length(env, y.length, planes * out_plane, fn, "y");
  expect_length(env, indices.ElementLength(), planes * out_plane, fn, "indices");
  int32_t* idx = indices.Data();
  parallel_ranges(planes, plane_grain(in_plane), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) max_pool_plane(g, x.data + p * in_plane, y.data + p * out_plane, idx + p * out_plane);
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
  for (size_t i = 0; i < planes * out_plane; i++) {
    if (idx[i] < 0 || static_cast<size_t>(idx[i]) >= in_plane) {
      throw Napi::RangeError::New(env, std::string(fn) + ": index " + std::to_string(idx[i]) + " at " +
                                           std::to_string(i) + " is outside the input plane");
    }
  }
  parallel_ranges(planes, plane_grain(in_plane), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      float* d = dx.data + p * in_plane;
      std::memset(d, 0, in_plane * sizeof(float));
      for (size_t i = 0; i < out_plane; i++) d[idx[p * out_plane + i]] += dy.data[p * out_plane + i];
    }
  });
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
  parallel_ranges(nc, plane_grain(h * w), [&](size_t p0, size_t p1) {
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
  parallel_ranges(nc, plane_grain(h * w), [&](size_t p0, size_t p1) {
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
