// The blocked-layout inference kernels (nchwc.h) for JS: Kernels.blocked in src/backend/native/index.ts.
#include <string>

#include "../bindings.h"
#include "../conv/conv_args.h"
#include "../napi_args.h"
#include "nchwc.h"

namespace resnet {
namespace {

bool use_winograd(const ConvShape& s) { return nchwc::winograd_eligible(s) && nchwc::winograd_pays(s); }

size_t packed_size(const ConvShape& s) {
  return use_winograd(s) ? nchwc::winograd_packed_size(s) : nchwc::conv_packed_size(s);
}

ConvShape blocked_shape(const Napi::CallbackInfo& info, const char* fn) {
  const ConvShape s = arg_conv_shape(info, 0, fn);
  if (!nchwc::conv_eligible(s)) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": the blocked layout needs one group, no dilation "
                                                              "and channel counts that are multiples of 16");
  }
  return s;
}

}  // namespace

// blockedConvLayout(g) → 'winograd', 'direct', or null where g cannot run on blocked tensors.
Napi::Value BlockedConvLayoutBinding(const Napi::CallbackInfo& info) {
  const char* fn = "blockedConvLayout";
  expect_args(info, 1, fn);
  const ConvShape s = arg_conv_shape(info, 0, fn);
  if (!nchwc::conv_eligible(s)) return info.Env().Null();
  return Napi::String::New(info.Env(), use_winograd(s) ? "winograd" : "direct");
}

// packBlockedConv(g, w) → w [OC, C, KH, KW] in the layout of blockedConvLayout(g).
Napi::Value PackBlockedConvBinding(const Napi::CallbackInfo& info) {
  const char* fn = "packBlockedConv";
  Napi::Env env = info.Env();
  expect_args(info, 2, fn);
  const ConvShape s = blocked_shape(info, fn);
  const Float32Span w = arg_float32_array(info, 1, fn, "w");
  expect_length(env, w.length, s.oc * s.c * s.kh * s.kw, fn, "w");
  Napi::Float32Array packed = Napi::Float32Array::New(env, packed_size(s));
  if (use_winograd(s)) {
    nchwc::winograd_pack(s, w.data, packed.Data());
  } else {
    nchwc::conv_pack(s, w.data, packed.Data());
  }
  return packed;
}

// blockedConv(g, x, packedW, bias | null, residual | null, relu, y): y = act(conv(x) + bias + residual) with x, y and
// the residual (which may be y) blocked.
Napi::Value BlockedConvBinding(const Napi::CallbackInfo& info) {
  const char* fn = "blockedConv";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const ConvShape s = blocked_shape(info, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span packed = arg_float32_array(info, 2, fn, "packedW");
  const Float32Span bias = arg_float32_array_or_null(info, 3, fn, "bias");
  const Float32Span residual = arg_float32_array_or_null(info, 4, fn, "residual");
  const bool relu = arg_bool(info, 5, fn, "relu");
  const Float32Span y = arg_float32_array(info, 6, fn, "y");
  expect_length(env, x.length, s.n * s.c * s.h * s.w, fn, "x");
  if (packed.length != packed_size(s)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": packedW has " + std::to_string(packed.length) +
                                         " elements; pack it with packBlockedConv for this geometry (" +
                                         std::to_string(packed_size(s)) + ")");
  }
  expect_epilogue_arrays(env, s, bias, residual, y, fn);
  if (ranges_overlap(x.data, x.length, y.data, y.length)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": x overlaps y");
  }
  const ConvEpilogue ep{bias.data, residual.data, relu};
  if (use_winograd(s)) {
    nchwc::winograd_forward(s, x.data, packed.data, ep, y.data);
  } else {
    nchwc::conv_forward(s, x.data, packed.data, ep, y.data);
  }
  return env.Undefined();
}

namespace {

// (n, c, h, w, x, y) with c a multiple of 16 and both arrays n·c·h·w long, apart.
template <typename Fn>
Napi::Value layout_call(const Napi::CallbackInfo& info, const char* fn, size_t y_per_image_channel, Fn run) {
  Napi::Env env = info.Env();
  expect_args(info, 6, fn);
  const size_t n = arg_size(info, 0, fn, "n"), c = arg_size(info, 1, fn, "c", 1);
  const size_t h = arg_size(info, 2, fn, "h", 1), w = arg_size(info, 3, fn, "w", 1);
  if (c % nchwc::kBlock != 0) throw Napi::RangeError::New(env, std::string(fn) + ": c must be a multiple of 16");
  const Float32Span x = arg_float32_array(info, 4, fn, "x");
  const Float32Span y = arg_float32_array(info, 5, fn, "y");
  expect_length(env, x.length, n * c * h * w, fn, "x");
  expect_length(env, y.length, y_per_image_channel ? n * c * y_per_image_channel : n * c * h * w, fn, "y");
  if (ranges_overlap(x.data, x.length, y.data, y.length)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": x overlaps y");
  }
  run(n, c, h, w, x.data, y.data);
  return env.Undefined();
}

}  // namespace

// toBlocked(n, c, h, w, x, y): NCHW x into blocked y.
Napi::Value ToBlockedBinding(const Napi::CallbackInfo& info) {
  return layout_call(info, "toBlocked", 0, nchwc::to_blocked);
}

// fromBlocked(n, c, h, w, x, y): blocked x into NCHW y.
Napi::Value FromBlockedBinding(const Napi::CallbackInfo& info) {
  return layout_call(info, "fromBlocked", 0, nchwc::from_blocked);
}

// blockedGlobalAvgPool(n, c, h, w, x, y): blocked x [N, C, H, W] → y [N, C], the mean of each plane.
Napi::Value BlockedGlobalAvgPoolBinding(const Napi::CallbackInfo& info) {
  return layout_call(info, "blockedGlobalAvgPool", 1, nchwc::global_avg_pool);
}

}  // namespace resnet
