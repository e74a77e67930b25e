// Batch norm over x viewed as [N, C, HW], threaded over channels: training statistics (two passes, sums in
// double), the eval-mode apply, and the backward pass. Same contracts as the Kernels table.
#include <cmath>
#include <utility>

#include "../bindings.h"
#include "../napi_args.h"
#include "../parallel.h"

namespace resnet {
namespace {

struct BnShape {
  size_t n, c, hw;
};

// y = (x − center)·scale + shift over the channel's N planes, in double and rounded once, as the reference does.
// Float arithmetic here was off by an ulp or two, enough to flip the sign of outputs near 0 and with it the ReLU
// masks downstream: resnet101's and dilated resnet50's bn1.weight gradients (sums that nearly cancel, since later
// BNs make the loss almost invariant to this scale) then moved by 2e-4 from float64 torch. Still memory-bound.
void scale_shift_plane(const float* __restrict x, double center, double scale, double shift, float* __restrict y,
                       size_t hw) {
  for (size_t i = 0; i < hw; i++) y[i] = static_cast<float>((static_cast<double>(x[i]) - center) * scale + shift);
}

void scale_shift(const BnShape& s, size_t ch, const float* x, double center, double scale, double shift, float* y) {
  for (size_t b = 0; b < s.n; b++) {
    const size_t o = (b * s.c + ch) * s.hw;
    scale_shift_plane(x + o, center, scale, shift, y + o, s.hw);
  }
}

// dx = scale·(dy − mean_dy) − (x − μ)·k over one plane: batch norm's input gradient with batch statistics.
void bn_dx_plane(const float* __restrict dy, const float* __restrict x, float scale, float mean_dy, float mu, float k,
                 float* __restrict dx, size_t hw) {
  for (size_t i = 0; i < hw; i++) dx[i] = scale * (dy[i] - mean_dy) - (x[i] - mu) * k;
}

// Σ over the channel's N planes of op(plane offset, i).
template <typename Op>
double channel_sum(const BnShape& s, size_t ch, Op op) {
  double total = 0;
  for (size_t b = 0; b < s.n; b++) {
    const size_t o = (b * s.c + ch) * s.hw;
    total += blocked_sum(s.hw, [&](size_t i) { return op(o + i); });
  }
  return total;
}

size_t channel_grain(const BnShape& s) { return std::max<size_t>(1, kElementGrain / std::max<size_t>(1, s.n * s.hw)); }

void batch_norm_train(const BnShape& s, const float* x, const float* gamma, const float* beta, double eps, float* y,
                      float* mean, float* variance, float* inv_std) {
  const double count = static_cast<double>(s.n * s.hw);
  parallel_ranges(s.c, channel_grain(s), [&](size_t c0, size_t c1) {
    for (size_t ch = c0; ch < c1; ch++) {
      const double mu = channel_sum(s, ch, [&](size_t i) { return x[i]; }) / count;
      // Two passes: the centred sum of squares avoids the cancellation of E[x²] − E[x]².
      const double var = channel_sum(s, ch, [&](size_t i) {
                           const double d = x[i] - mu;
                           return d * d;
                         }) / count;
      const double is = 1.0 / std::sqrt(var + eps);
      mean[ch] = static_cast<float>(mu);
      variance[ch] = static_cast<float>(var);
      inv_std[ch] = static_cast<float>(is);
      // With the stored (float) mean and invStd, which backward reads back, as the reference does.
      const double scale = static_cast<double>(inv_std[ch]) * (gamma ? gamma[ch] : 1.0f);
      scale_shift(s, ch, x, mean[ch], scale, beta ? beta[ch] : 0.0f, y);
    }
  });
}

void batch_norm_apply(const BnShape& s, const float* x, const float* mean, const float* inv_std, const float* gamma,
                      const float* beta, float* y) {
  parallel_ranges(s.c, channel_grain(s), [&](size_t c0, size_t c1) {
    for (size_t ch = c0; ch < c1; ch++) {
      const double scale = static_cast<double>(inv_std[ch]) * (gamma ? gamma[ch] : 1.0f);
      scale_shift(s, ch, x, mean[ch], scale, beta ? beta[ch] : 0.0f, y);
    }
  });
}

void batch_norm_backward(const BnShape& s, const float* dy, const float* x, const float* mean, const float* inv_std,
                         const float* gamma, bool batch_stats, float* dx, float* dgamma, float* dbeta) {
  const double count = static_cast<double>(s.n * s.hw);
  parallel_ranges(s.c, channel_grain(s), [&](size_t c0, size_t c1) {
    for (size_t ch = c0; ch < c1; ch++) {
      const float mu = mean[ch], is = inv_std[ch];
      // Both sums in one pass over dy and x, each summed in blocked_sum's order (the same bits as two passes).
      double sum_dy = 0, sum_dy_xc = 0;
      for (size_t b = 0; b < s.n; b++) {
        const size_t o = (b * s.c + ch) * s.hw;
        const auto [plane_dy, plane_dy_xc] = blocked_sum_pair(s.hw, [&](size_t i) {
          const float d = dy[o + i];
          return std::pair<float, float>(d, d * (x[o + i] - mu));
        });
        sum_dy += plane_dy;
        sum_dy_xc += plane_dy_xc;
      }
      const double sum_dy_xhat = sum_dy_xc * is;
      if (dgamma) dgamma[ch] = static_cast<float>(sum_dy_xhat);
      if (dbeta) dbeta[ch] = static_cast<float>(sum_dy);
      if (!dx) continue;
      const float scale = (gamma ? gamma[ch] : 1.0f) * is;
      if (!batch_stats) {
        scale_shift(s, ch, dy, 0.0, scale, 0.0, dx);
        continue;
      }
      // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) = scale·dy − scale·mean(dy) − (x − μ)·scale·σ⁻¹·mean(dy·x̂)
      const float mean_dy = static_cast<float>(sum_dy / count);
      const float k = static_cast<float>(scale * is * (sum_dy_xhat / count));
      for (size_t b = 0; b < s.n; b++) {
        const size_t o = (b * s.c + ch) * s.hw;
        bn_dx_plane(dy + o, x + o, scale, mean_dy, mu, k, dx + o, s.hw);
      }
    }
  });
}

BnShape arg_bn_shape(const Napi::CallbackInfo& info, const char* fn) {
  return {arg_size(info, 0, fn, "n"), arg_size(info, 1, fn, "c"), arg_size(info, 2, fn, "hw")};
}

void expect_channels(Napi::Env env, const Float32Span& a, size_t c, const char* fn, const char* name) {
  if (a.data) expect_length(env, a.length, c, fn, name);
}

}  // namespace

// batchNormTrain(n, c, hw, x, gamma | null, beta | null, eps, y, mean, variance, invStd)
Napi::Value BatchNormTrainBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormTrain";
  Napi::Env env = info.Env();
  expect_args(info, 11, fn);
  const BnShape s = arg_bn_shape(info, fn);
  const size_t total = s.n * s.c * s.hw;
  const Float32Span x = arg_float32_array(info, 3, fn, "x");
  const Float32Span gamma = arg_float32_array_or_null(info, 4, fn, "gamma");
  const Float32Span beta = arg_float32_array_or_null(info, 5, fn, "beta");
  const double eps = arg_number(info, 6, fn, "eps");
  const Float32Span y = arg_float32_array(info, 7, fn, "y");
  const Float32Span mean = arg_float32_array(info, 8, fn, "mean");
  const Float32Span variance = arg_float32_array(info, 9, fn, "variance");
  const Float32Span inv_std = arg_float32_array(info, 10, fn, "invStd");
  expect_length(env, x.length, total, fn, "x");
  expect_length(env, y.length, total, fn, "y");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, beta, s.c, fn, "beta");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, variance, s.c, fn, "variance");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  batch_norm_train(s, x.data, gamma.data, beta.data, eps, y.data, mean.data, variance.data, inv_std.data);
  return env.Undefined();
}

// batchNormApply(n, c, hw, x, mean, invStd, gamma | null, beta | null, y)
Napi::Value BatchNormApplyBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormApply";
  Napi::Env env = info.Env();
  expect_args(info, 9, fn);
  const BnShape s = arg_bn_shape(info, fn);
  const size_t total = s.n * s.c * s.hw;
  const Float32Span x = arg_float32_array(info, 3, fn, "x");
  const Float32Span mean = arg_float32_array(info, 4, fn, "mean");
  const Float32Span inv_std = arg_float32_array(info, 5, fn, "invStd");
  const Float32Span gamma = arg_float32_array_or_null(info, 6, fn, "gamma");
  const Float32Span beta = arg_float32_array_or_null(info, 7, fn, "beta");
  const Float32Span y = arg_float32_array(info, 8, fn, "y");
  expect_length(env, x.length, total, fn, "x");
  expect_length(env, y.length, total, fn, "y");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, beta, s.c, fn, "beta");
  batch_norm_apply(s, x.data, mean.data, inv_std.data, gamma.data, beta.data, y.data);
  return env.Undefined();
}

// batchNormBackward(n, c, hw, dy, x, mean, invStd, gamma | null, batchStats, dx | null, dgamma | null, dbeta | null)
Napi::Value BatchNormBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormBackward";
  Napi::Env env = info.Env();
  expect_args(info, 12, fn);
  const BnShape s = arg_bn_shape(info, fn);
  const size_t total = s.n * s.c * s.hw;
  const Float32Span dy = arg_float32_array(info, 3, fn, "dy");
  const Float32Span x = arg_float32_array(info, 4, fn, "x");
  const Float32Span mean = arg_float32_array(info, 5, fn, "mean");
  const Float32Span inv_std = arg_float32_array(info, 6, fn, "invStd");
  const Float32Span gamma = arg_float32_array_or_null(info, 7, fn, "gamma");
  const bool batch_stats = arg_bool(info, 8, fn, "batchStats");
  const Float32Span dx = arg_float32_array_or_null(info, 9, fn, "dx");
  const Float32Span dgamma = arg_float32_array_or_null(info, 10, fn, "dgamma");
  const Float32Span dbeta = arg_float32_array_or_null(info, 11, fn, "dbeta");
  expect_length(env, dy.length, total, fn, "dy");
  expect_length(env, x.length, total, fn, "x");
  if (dx.data) expect_length(env, dx.length, total, fn, "dx");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, dgamma, s.c, fn, "dgamma");
  expect_channels(env, dbeta, s.c, fn, "dbeta");
  batch_norm_backward(s, dy.data, x.data, mean.data, inv_std.data, gamma.data, batch_stats, dx.data, dgamma.data,
                      dbeta.data);
  return env.Undefined();
}

}  // namespace resnet
