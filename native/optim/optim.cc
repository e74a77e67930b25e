// In-place optimizer updates for JS, with torch.optim's exact formulas: SGD (momentum, dampening, Nesterov,
// L2 weight decay) and AdamW (decoupled weight decay, bias-corrected moments). Split over the pool in chunks.
#include <cmath>
#include <type_traits>

#include "../bindings.h"
#include "../parallel.h"
#include "../napi_args.h"

namespace resnet {
namespace {

void expect_same(Napi::Env env, const Float32Span& a, size_t length, const char* fn, const char* name) {
  if (a.length != length) {
    throw Napi::RangeError::New(env, std::string(fn) + ": " + name + " has " + std::to_string(a.length) +
                                         " elements, param has " + std::to_string(length));
  }
}

}  // namespace

// sgdUpdate(param, grad, momentumBuf | null, lr, momentum, dampening, weightDecay, nesterov, firstStep)
Napi::Value SgdUpdateBinding(const Napi::CallbackInfo& info) {
  const char* fn = "sgdUpdate";
  Napi::Env env = info.Env();
  expect_args(info, 9, fn);
  const Float32Span param = arg_float32_array(info, 0, fn, "param");
  const Float32Span grad = arg_float32_array(info, 1, fn, "grad");
  const Float32Span buf = arg_float32_array_or_null(info, 2, fn, "momentumBuf");
  const float lr = static_cast<float>(arg_number(info, 3, fn, "lr"));
  const float momentum = static_cast<float>(arg_number(info, 4, fn, "momentum"));
  const float weight_decay = static_cast<float>(arg_number(info, 6, fn, "weightDecay"));
  const bool nesterov = arg_bool(info, 7, fn, "nesterov");
  const bool first_step = arg_bool(info, 8, fn, "firstStep");
  expect_same(env, grad, param.length, fn, "grad");
  if (momentum != 0.0f) {
    if (!buf.data) throw Napi::TypeError::New(env, std::string(fn) + ": momentumBuf is required when momentum != 0");
    expect_same(env, buf, param.length, fn, "momentumBuf");
  }
  const float one_minus_dampening = static_cast<float>(1.0 - arg_number(info, 5, fn, "dampening"));
  float* p = param.data;
  const float* g = grad.data;
  float* b = buf.data;
  // One loop per case, chosen outside it: with the tests inside, the compiler kept the loop scalar.
  auto update = [&](auto with_momentum, auto first, auto use_nesterov) {
    parallel_ranges(param.length, kElementGrain, [&](size_t i0, size_t i1) {
      float* __restrict pp = p;
      const float* __restrict gg = g;
      float* __restrict bb = b;
      for (size_t i = i0; i < i1; i++) {
        float d = gg[i] + weight_decay * pp[i];
        if constexpr (decltype(with_momentum)::value) {
          // torch starts the buffer at the first gradient itself, undamped.
          const float next = decltype(first)::value ? d : momentum * bb[i] + one_minus_dampening * d;
          bb[i] = next;
          d = decltype(use_nesterov)::value ? d + momentum * next : next;
        }
        pp[i] -= lr * d;
      }
    });
  };
  using yes = std::true_type;
  using no = std::false_type;
  if (momentum == 0.0f) {
    update(no{}, no{}, no{});
  } else if (first_step) {
    nesterov ? update(yes{}, yes{}, yes{}) : update(yes{}, yes{}, no{});
  } else {
    nesterov ? update(yes{}, no{}, yes{}) : update(yes{}, no{}, no{});
  }
  return env.Undefined();
}

// adamwUpdate(param, grad, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, step); step counts from 1.
Napi::Value AdamwUpdateBinding(const Napi::CallbackInfo& info) {
  const char* fn = "adamwUpdate";
  Napi::Env env = info.Env();
  expect_args(info, 10, fn);
  const Float32Span param = arg_float32_array(info, 0, fn, "param");
  const Float32Span grad = arg_float32_array(info, 1, fn, "grad");
  const Float32Span m = arg_float32_array(info, 2, fn, "expAvg");
  const Float32Span v = arg_float32_array(info, 3, fn, "expAvgSq");
  const double lr = arg_number(info, 4, fn, "lr");
  const double beta1 = arg_number(info, 5, fn, "beta1");
  const double beta2 = arg_number(info, 6, fn, "beta2");
  const float eps = static_cast<float>(arg_number(info, 7, fn, "eps"));
  const double weight_decay = arg_number(info, 8, fn, "weightDecay");
  const double step = static_cast<double>(arg_size(info, 9, fn, "step", 1));
  expect_same(env, grad, param.length, fn, "grad");
  expect_same(env, m, param.length, fn, "expAvg");
  expect_same(env, v, param.length, fn, "expAvgSq");
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  // 1 − β in double, then rounded once: 1.0f − float(0.999) would be off by 1e-5 relative.
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - beta1), one_minus_b2 = static_cast<float>(1.0 - beta2);
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, step)));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step)));
  float* p = param.data;
  const float* g = grad.data;
  parallel_ranges(param.length, kElementGrain, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) {
      p[i] *= decay;
      m.data[i] = b1 * m.data[i] + one_minus_b1 * g[i];
      v.data[i] = b2 * v.data[i] + one_minus_b2 * g[i] * g[i];
      const float denom = std::sqrt(v.data[i]) / bias_correction2_sqrt + eps;
      p[i] -= step_size * m.data[i] / denom;
    }
  });
  return env.Undefined();
}

}  // namespace resnet
