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

// Whether [a, a + na) and [b, b + nb) share an element (an empty range shares none).
inline bool ranges_overlap(const float* a, size_t na, const float* b, size_t nb) {
  return na != 0 && nb != 0 && a < b + nb && b < a + na;
}

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

// A Float32Array, or null (an optional operand): {nullptr, 0} for null.
inline Float32Span arg_float32_array_or_null(const Napi::CallbackInfo& info, size_t i, const char* fn,
                                             const char* name) {
  if (info[i].IsNull()) return {nullptr, 0};
  return arg_float32_array(info, i, fn, name);
}

// An Int32Array's own memory, without copying.
inline Napi::Int32Array arg_int32_array(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(info.Env(), arg_label(fn, name) + " must be an Int32Array");
  }
  return info[i].As<Napi::Int32Array>();
}

// Throws unless the array holds at least `needed` elements (shorter would let the kernel run off its end).
inline void expect_length(Napi::Env env, size_t length, size_t needed, const char* fn, const char* name) {
  if (length < needed) {
    throw Napi::RangeError::New(env, arg_label(fn, name) + " has " + std::to_string(length) + " elements, needs " +
                                         std::to_string(needed));
  }
}

// A size field of an options object (a geometry), checked like arg_size.
inline size_t object_size(Napi::Env env, const Napi::Object& obj, const char* key, const char* fn, double min = 0) {
  Napi::Value v = obj.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= min && d <= 2147483647.0) || std::floor(d) != d) {
    throw Napi::RangeError::New(env, std::string(fn) + ": geometry." + key + " must be an integer >= " +
                                         std::to_string(static_cast<long long>(min)));
  }
  return static_cast<size_t>(d);
}

inline void expect_args(const Napi::CallbackInfo& info, size_t count, const char* fn) {
  if (info.Length() != count) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected " + std::to_string(count) +
                                               " arguments, got " + std::to_string(info.Length()));
  }
}

}  // namespace resnet
