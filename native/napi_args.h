// Reading and checking JS arguments at the boundary, so bad calls throw a JS TypeError/RangeError with the
// argument's name instead of reaching a kernel.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstddef>
#include <string>

namespace resnet {

struct Float32Span {
  float* data;
  size_t length;
};

inline std::string arg_label(const char* fn, const char* name) { return std::string(fn) + ": " + name; }

inline bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), arg_label(fn, name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

inline double arg_number(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), arg_label(fn, name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// A size or count: an integer in [min, 2^31 - 1], so that products of two sizes cannot overflow size_t.
inline size_t arg_size(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name,
                       double min = 0) {
  double v = arg_number(info, i, fn, name);
  if (!(v >= min && v <= 2147483647.0) || std::floor(v) != v) {
    throw Napi::RangeError::New(info.Env(), arg_label(fn, name) + " must be an integer in [" +
                                                std::to_string(static_cast<long long>(min)) + ", 2^31 - 1], got " +
                                                info[i].ToString().Utf8Value());
  }
  return static_cast<size_t>(v);
}

// The typed array's own memory (byteOffset included), without copying.
inline Float32Span arg_float32_array(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), arg_label(fn, name) + " must be a Float32Array");
  }
  auto array = info[i].As<Napi::Float32Array>();
  return {array.Data(), array.ElementLength()};
}

inline void expect_args(const Napi::CallbackInfo& info, size_t count, const char* fn) {
  if (info.Length() != count) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected " + std::to_string(count) +
                                               " arguments, got " + std::to_string(info.Length()));
  }
}

}  // namespace resnet
