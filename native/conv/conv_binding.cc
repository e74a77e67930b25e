// conv2d / conv2dBackwardInput / conv2dBackwardWeight for JS: reads the geometry object, checks that it is
// consistent and that every array is long enough, then runs the kernels in conv.cc on the arrays in place.
#include <string>
#include <vector>

#include "../bindings.h"
#include "../napi_args.h"
#include "conv.h"
#include "conv_args.h"

namespace resnet {
namespace {

size_t window_output(size_t in, size_t kernel, size_t stride, size_t pad, size_t dilation) {
  const long long span = static_cast<long long>(dilation) * (static_cast<long long>(kernel) - 1) + 1;
  const long long room = static_cast<long long>(in) + 2 * static_cast<long long>(pad) - span;
  return room < 0 ? 0 : static_cast<size_t>(room / static_cast<long long>(stride) + 1);
}

}  // namespace

ConvShape arg_conv_shape(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[i].IsObject()) throw Napi::TypeError::New(env, std::string(fn) + ": geometry must be an object");
  const Napi::Object g = info[i].As<Napi::Object>();
  ConvShape s{};
  s.n = object_size(env, g, "n", fn);
  s.c = object_size(env, g, "c", fn, 1);
  s.h = object_size(env, g, "h", fn, 1);
  s.w = object_size(env, g, "w", fn, 1);
  s.oc = object_size(env, g, "oc", fn, 1);
  s.kh = object_size(env, g, "kh", fn, 1);
  s.kw = object_size(env, g, "kw", fn, 1);
  s.oh = object_size(env, g, "oh", fn, 1);
  s.ow = object_size(env, g, "ow", fn, 1);
  s.stride_h = object_size(env, g, "strideH", fn, 1);
  s.stride_w = object_size(env, g, "strideW", fn, 1);
  s.pad_h = object_size(env, g, "padH", fn);
  s.pad_w = object_size(env, g, "padW", fn);
  s.dilation_h = object_size(env, g, "dilationH", fn, 1);
  s.dilation_w = object_size(env, g, "dilationW", fn, 1);
  s.groups = object_size(env, g, "groups", fn, 1);
  if (s.c % s.groups != 0 || s.oc % s.groups != 0) {
    throw Napi::RangeError::New(env, std::string(fn) + ": groups must divide c and oc");
  }
  if (s.oh != window_output(s.h, s.kh, s.stride_h, s.pad_h, s.dilation_h) ||
      s.ow != window_output(s.w, s.kw, s.stride_w, s.pad_w, s.dilation_w)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": oh/ow do not match the input size, kernel, stride, "
                                                         "padding and dilation");
  }
  return s;
}

namespace {

size_t input_size(const ConvShape& s) { return s.n * s.c * s.h * s.w; }
size_t output_size(const ConvShape& s) { return s.n * s.oc * s.oh * s.ow; }
size_t weight_size(const ConvShape& s) { return s.oc * s.k(); }

}  // namespace

void expect_epilogue_arrays(Napi::Env env, const ConvShape& s, const Float32Span& bias, const Float32Span& residual,
                            const Float32Span& y, const char* fn) {
  if (bias.data) expect_length(env, bias.length, s.oc, fn, "bias");
  if (residual.data) expect_length(env, residual.length, output_size(s), fn, "residual");
  expect_length(env, y.length, output_size(s), fn, "y");
  if (residual.data && residual.data != y.data && ranges_overlap(residual.data, residual.length, y.data, y.length)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": residual overlaps y; it must be y itself or apart from it");
  }
}

// conv2d(g, x, w, bias | null, residual | null, relu, y): y = act(conv(x, w) + bias + residual)
Napi::Value Conv2dBinding(const Napi::CallbackInfo& info) {
  const char* fn = "conv2d";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const ConvShape s = arg_conv_shape(info, 0, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span w = arg_float32_array(info, 2, fn, "w");
  const Float32Span bias = arg_float32_array_or_null(info, 3, fn, "bias");
  const Float32Span residual = arg_float32_array_or_null(info, 4, fn, "residual");
  const bool relu = arg_bool(info, 5, fn, "relu");
  const Float32Span y = arg_float32_array(info, 6, fn, "y");
  expect_length(env, x.length, input_size(s), fn, "x");
  expect_length(env, w.length, weight_size(s), fn, "w");
  expect_epilogue_arrays(env, s, bias, residual, y, fn);
  // Not every unpacked path reads each residual just before storing its output (the packed ones do): a residual
  // that is y is copied first. Inference, which writes over its residuals, runs packed weights.
  std::vector<float> kept;
  if (residual.data == y.data) kept.assign(residual.data, residual.data + residual.length);
  conv2d_forward(s, x.data, w.data, {bias.data, kept.empty() ? residual.data : kept.data(), relu}, y.data);
  return env.Undefined();
}

// conv2dPackedLayout(g) → the name of the layout packConv2dWeight(g, w) would produce.
Napi::Value Conv2dPackedLayoutBinding(const Napi::CallbackInfo& info) {
  const char* fn = "conv2dPackedLayout";
  expect_args(info, 1, fn);
  return Napi::String::New(info.Env(), conv2d_packed_layout(arg_conv_shape(info, 0, fn)));
}

// packConv2dWeight(g, w) → a new Float32Array with w in the layout conv2dPacked reads.
Napi::Value PackConv2dWeightBinding(const Napi::CallbackInfo& info) {
  const char* fn = "packConv2dWeight";
  Napi::Env env = info.Env();
  expect_args(info, 2, fn);
  const ConvShape s = arg_conv_shape(info, 0, fn);
  const Float32Span w = arg_float32_array(info, 1, fn, "w");
  expect_length(env, w.length, weight_size(s), fn, "w");
  Napi::Float32Array packed = Napi::Float32Array::New(env, conv2d_packed_weight_size(s));
  conv2d_pack_weight(s, w.data, packed.Data());
  return packed;
}

// conv2dPacked(g, x, packedW, bias | null, residual | null, relu, y): conv2d with weights from packConv2dWeight.
Napi::Value Conv2dPackedBinding(const Napi::CallbackInfo& info) {
  const char* fn = "conv2dPacked";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const ConvShape s = arg_conv_shape(info, 0, fn);
  const Float32Span x = arg_float32_array(info, 1, fn, "x");
  const Float32Span packed = arg_float32_array(info, 2, fn, "packedW");
  const Float32Span bias = arg_float32_array_or_null(info, 3, fn, "bias");
  const Float32Span residual = arg_float32_array_or_null(info, 4, fn, "residual");
  const bool relu = arg_bool(info, 5, fn, "relu");
  const Float32Span y = arg_float32_array(info, 6, fn, "y");
  expect_length(env, x.length, input_size(s), fn, "x");
  // Exact length: a packing made for another geometry (or another ISA's kernel) must not be read.
  if (!conv2d_packed_weight_size_ok(s, packed.length)) {
    throw Napi::RangeError::New(env, std::string(fn) + ": packedW has " + std::to_string(packed.length) +
                                         " elements; pack it with packConv2dWeight for this geometry (" +
                                         std::to_string(conv2d_packed_weight_size(s)) + ")");
  }
  expect_epilogue_arrays(env, s, bias, residual, y, fn);
  conv2d_forward_packed(s, x.data, packed.data, packed.length, {bias.data, residual.data, relu}, y.data);
  return env.Undefined();
}

// conv2dBackward(g, dy, x, w, dx | null, accumulate, dw | null)
Napi::Value Conv2dBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "conv2dBackward";
  Napi::Env env = info.Env();
  expect_args(info, 7, fn);
  const ConvShape s = arg_conv_shape(info, 0, fn);
  const Float32Span dy = arg_float32_array(info, 1, fn, "dy");
  const Float32Span x = arg_float32_array(info, 2, fn, "x");
  const Float32Span w = arg_float32_array(info, 3, fn, "w");
  const Float32Span dx = arg_float32_array_or_null(info, 4, fn, "dx");
  const bool accumulate = arg_bool(info, 5, fn, "accumulate");
  const Float32Span dw = arg_float32_array_or_null(info, 6, fn, "dw");
  expect_length(env, dy.length, output_size(s), fn, "dy");
  expect_length(env, x.length, input_size(s), fn, "x");
  expect_length(env, w.length, weight_size(s), fn, "w");
  if (dx.data) expect_length(env, dx.length, input_size(s), fn, "dx");
  if (dw.data) expect_length(env, dw.length, weight_size(s), fn, "dw");
  conv2d_backward(s, dy.data, x.data, w.data, dx.data, accumulate, dw.data);
  return env.Undefined();
}

}  // namespace resnet
