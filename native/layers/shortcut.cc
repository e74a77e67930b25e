// The option-A shortcut of the CIFAR ResNets (He et al. 2015, §4.2), forward and backward: a strided copy into the
// middle channels of a zero-padded output, and back. Same contract as the js reference in src/backend/js/shortcut.ts.
#include <cstring>

#include "../bindings.h"
#include "../napi_args.h"
#include "../parallel.h"

namespace resnet {
namespace {

struct ShortcutShape {
  size_t n, c, h, w, stride, pad, oc, oh, ow;
};

ShortcutShape arg_shortcut_shape(const Napi::CallbackInfo& info, const char* fn) {
  ShortcutShape s{};
  s.n = arg_size(info, 0, fn, "n");
  s.c = arg_size(info, 1, fn, "c");
  s.h = arg_size(info, 2, fn, "h", 1);
  s.w = arg_size(info, 3, fn, "w", 1);
  s.stride = arg_size(info, 4, fn, "stride", 1);
  s.pad = arg_size(info, 5, fn, "padChannels");
  s.oc = s.c + 2 * s.pad;
  s.oh = (s.h + s.stride - 1) / s.stride;
  s.ow = (s.w + s.stride - 1) / s.stride;
  return s;
}

}  // namespace

// shortcutA(n, c, h, w, stride, padChannels, x, y): y overwritten, a plane at a time.
Napi::Value ShortcutABinding(const Napi::CallbackInfo& info) {
  const char* fn = "shortcutA";
  Napi::Env env = info.Env();
  expect_args(info, 8, fn);
  const ShortcutShape s = arg_shortcut_shape(info, fn);
  const Float32Span x = arg_float32_array(info, 6, fn, "x");
  const Float32Span y = arg_float32_array(info, 7, fn, "y");
  expect_length(env, x.length, s.n * s.c * s.h * s.w, fn, "x");
  expect_length(env, y.length, s.n * s.oc * s.oh * s.ow, fn, "y");
  const size_t out_plane = s.oh * s.ow;
  parallel_ranges(s.n * s.oc, grain_for(out_plane), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      float* dst = y.data + p * out_plane;
      const size_t b = p / s.oc, o = p % s.oc;
      if (o < s.pad || o >= s.pad + s.c) {
        std::memset(dst, 0, out_plane * sizeof(float));
        continue;
      }
      const float* src = x.data + (b * s.c + o - s.pad) * s.h * s.w;
      for (size_t oy = 0; oy < s.oh; oy++) {
        const float* row = src + oy * s.stride * s.w;
        for (size_t ox = 0; ox < s.ow; ox++) dst[oy * s.ow + ox] = row[ox * s.stride];
      }
    }
  });
  return env.Undefined();
}

// shortcutABackward(n, c, h, w, stride, padChannels, dy, dx): dx overwritten, a plane at a time: zeroed, then the
// kept positions from dy. (A division per element to tell kept columns apart took 2.5 ms of a resnet20 step.)
Napi::Value ShortcutABackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "shortcutABackward";
  Napi::Env env = info.Env();
  expect_args(info, 8, fn);
  const ShortcutShape s = arg_shortcut_shape(info, fn);
  const Float32Span dy = arg_float32_array(info, 6, fn, "dy");
  const Float32Span dx = arg_float32_array(info, 7, fn, "dx");
  expect_length(env, dy.length, s.n * s.oc * s.oh * s.ow, fn, "dy");
  expect_length(env, dx.length, s.n * s.c * s.h * s.w, fn, "dx");
  const size_t in_plane = s.h * s.w;
  parallel_ranges(s.n * s.c, grain_for(in_plane), [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
      float* dst = dx.data + p * in_plane;
      const size_t b = p / s.c, ch = p % s.c;
      const float* src = dy.data + (b * s.oc + ch + s.pad) * s.oh * s.ow;
      std::memset(dst, 0, in_plane * sizeof(float));
      for (size_t oy = 0; oy < s.oh; oy++) {
        float* row = dst + oy * s.stride * s.w;
        const float* from = src + oy * s.ow;
        for (size_t ox = 0; ox < s.ow; ox++) row[ox * s.stride] = from[ox];
      }
    }
  });
  return env.Undefined();
}

}  // namespace resnet
