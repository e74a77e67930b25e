// relu, reluBackward, add (also fused with ReLU) and row-wise logSoftmax for JS: memory-bound loops split over the pool in large chunks.
#include <cmath>

#include "../bindings.h"
#include "../napi_args.h"
#include "../parallel.h"

namespace resnet {
namespace {

// The first `count` arguments, all Float32Arrays of one length (the first one's).
struct Same {
  float* a[3];
  size_t length;
};

Same same_length_arrays(const Napi::CallbackInfo& info, const char* fn, const char* const names[], size_t count) {
  expect_args(info, count, fn);
  Same out{};
  for (size_t i = 0; i < count; i++) {
    const Float32Span span = arg_float32_array(info, i, fn, names[i]);
    if (i == 0) out.length = span.length;
    if (span.length != out.length) {
      throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + names[i] + " has " +
                                                  std::to_string(span.length) + " elements, " + names[0] + " has " +
                                                  std::to_string(out.length));
    }
    out.a[i] = span.data;
  }
  return out;
}

// The loops, on restrict pointers and without branches so that they vectorise (through the captured span
// fields, the compiler reloaded each pointer per element and kept a scalar, mispredicting loop).
void relu_range(const float* __restrict x, float* __restrict y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void relu_backward_range(const float* __restrict dy, const float* __restrict y, float* __restrict dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float g = dy[i];  // loaded unconditionally: a conditional load would keep the loop scalar
    dx[i] = y[i] <= 0.0f ? 0.0f : g;
  }
}

// a + b, or relu(a + b) for the residual block's end (relu(out + identity) in one pass).
template <bool Relu>
float sum_of(float a, float b) {
  const float v = a + b;
  return Relu && v < 0.0f ? 0.0f : v;
}

template <bool Relu>
void add_range(const float* __restrict a, const float* __restrict b, float* __restrict y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = sum_of<Relu>(a[i], b[i]);
}

// y += b: add with y being one of its inputs (autograd sums gradients in place), without aliasing restrict pointers.
template <bool Relu>
void add_in_place(float* __restrict y, const float* __restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = sum_of<Relu>(y[i], b[i]);
}

// y = a + b, or relu(a + b), over a range; y may be a or b (or both, with a == b).
template <bool Relu>
void add_into(const float* a, const float* b, float* y, size_t n) {
  if (y == a && a != b) {
    add_in_place<Relu>(y, b, n);
  } else if (y == b && a != b) {
    add_in_place<Relu>(y, a, n);
  } else if (y == a) {  // y = y + y
    for (size_t i = 0; i < n; i++) y[i] = sum_of<Relu>(y[i], y[i]);
  } else {
    add_range<Relu>(a, b, y, n);
  }
}

template <bool Relu>
Napi::Value add_binding(const Napi::CallbackInfo& info, const char* fn) {
  static const char* const names[] = {"a", "b", "y"};
  const Same s = same_length_arrays(info, fn, names, 3);
  parallel_ranges(s.length, kElementGrain, [&](size_t i0, size_t i1) {
    add_into<Relu>(s.a[0] + i0, s.a[1] + i0, s.a[2] + i0, i1 - i0);
  });
  return info.Env().Undefined();
}

}  // namespace

// relu(x, y): NaN stays NaN, as in torch (only values known to be negative become 0).
Napi::Value ReluBinding(const Napi::CallbackInfo& info) {
  static const char* const names[] = {"x", "y"};
  const Same s = same_length_arrays(info, "relu", names, 2);
  const float* x = s.a[0];
  float* y = s.a[1];
  parallel_ranges(s.length, kElementGrain, [&](size_t i0, size_t i1) {
    relu_range(x + i0, y + i0, i1 - i0);
  });
  return info.Env().Undefined();
}

// reluBackward(dy, y, dx): dx = dy where y > 0 (or NaN), else 0.
Napi::Value ReluBackwardBinding(const Napi::CallbackInfo& info) {
  static const char* const names[] = {"dy", "y", "dx"};
  const Same s = same_length_arrays(info, "reluBackward", names, 3);
  const float* dy = s.a[0];
  const float* y = s.a[1];
  float* dx = s.a[2];
  parallel_ranges(s.length, kElementGrain, [&](size_t i0, size_t i1) {
    relu_backward_range(dy + i0, y + i0, dx + i0, i1 - i0);
  });
  return info.Env().Undefined();
}

// add(a, b, y): y = a + b.
Napi::Value AddBinding(const Napi::CallbackInfo& info) { return add_binding<false>(info, "add"); }

// addRelu(a, b, y): y = relu(a + b), NaN staying NaN.
Napi::Value AddReluBinding(const Napi::CallbackInfo& info) { return add_binding<true>(info, "addRelu"); }

// logSoftmax(rows, cols, x, y): each row shifted by its maximum so exp() cannot overflow; sums in double.
Napi::Value LogSoftmaxBinding(const Napi::CallbackInfo& info) {
  const char* fn = "logSoftmax";
  Napi::Env env = info.Env();
  expect_args(info, 4, fn);
  const size_t rows = arg_size(info, 0, fn, "rows");
  const size_t cols = arg_size(info, 1, fn, "cols");
  const Float32Span x = arg_float32_array(info, 2, fn, "x");
  const Float32Span y = arg_float32_array(info, 3, fn, "y");
  expect_length(env, x.length, rows * cols, fn, "x");
  expect_length(env, y.length, rows * cols, fn, "y");
  parallel_ranges(rows, grain_for(cols), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* xr = x.data + r * cols;
      float* yr = y.data + r * cols;
      double max = -INFINITY;
      for (size_t j = 0; j < cols; j++) max = xr[j] > max ? xr[j] : max;
      double sum = 0;
      for (size_t j = 0; j < cols; j++) sum += std::exp(xr[j] - max);
      const double log_z = max + std::log(sum);
      for (size_t j = 0; j < cols; j++) yr[j] = static_cast<float>(xr[j] - log_z);
    }
  });
  return env.Undefined();
}

}  // namespace resnet
