// Batch norm over x viewed as [N, C, HW], threaded over channels: training statistics (one pass, sums in
// double), the eval-mode apply, and the backward pass (optionally through a ReLU applied in place after it). Same
// contracts as the Kernels table; the loops over each plane are batch_norm.h's, for the CPU's instruction set.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "../bindings.h"
#include "../cpu/features.h"
#include "../napi_args.h"
#include "../parallel.h"
#include "../streaming.h"
#include "batch_norm.h"

namespace resnet {
namespace {

struct BnShape {
  size_t n, c, hw;
};

// The scalar plane loops (the portable build's, and RESNET_ISA=scalar's), summing in blocked_sum's eight double lanes.
double affine_scalar(float x, const BnAffine& a) { return (static_cast<double>(x) - a.center) * a.scale + a.shift; }
float map_one_scalar(float x, const BnAffine& a) { return static_cast<float>(affine_scalar(x, a)); }
float masked_scalar(float dy, float x, const BnAffine* relu_of) {
  if (!relu_of) return dy;
  const BnAffine& a = *relu_of;
  const bool keep =
      a.pass > 0 ? !(x < a.threshold) : a.pass < 0 ? !(x > a.threshold) : !(map_one_scalar(x, a) <= 0.0f);
  return keep ? dy : 0.0f;
}

void shifted_sums_scalar(const float* x, size_t n, double shift, double* sums) {
  const auto [sum, squares] = blocked_sum_pair(n, [&](size_t i) {
    const double d = x[i] - shift;
    return std::pair<double, double>(d, d * d);
  });
  sums[0] += sum;
  sums[1] += squares;
}

// (No portable streaming store: the scalar loops ignore stream.)
void scale_shift_scalar(const float* __restrict x, const BnAffine& a, const float* __restrict residual,
                        float* __restrict y, size_t n, bool, bool relu) {
  for (size_t i = 0; i < n; i++) {
    float v = static_cast<float>(affine_scalar(x[i], a));
    if (residual) v += residual[i];
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

void gradient_sums_scalar(const float* dy, const float* x, float mu, const BnAffine* relu_of, size_t n,
                          double* sums) {
  const auto [sum_dy, sum_dy_xc] = blocked_sum_pair(n, [&](size_t i) {
    const float g = masked_scalar(dy[i], x[i], relu_of);
    return std::pair<float, float>(g, g * (x[i] - mu));
  });
  sums[0] += sum_dy;
  sums[1] += sum_dy_xc;
}

void input_gradient_scalar(const float* __restrict dy, const float* __restrict x, float scale, float mean_dy, float mu,
                           float k, const BnAffine* relu_of, float* __restrict dx, size_t n, bool) {
  for (size_t i = 0; i < n; i++) dx[i] = scale * (masked_scalar(dy[i], x[i], relu_of) - mean_dy) - (x[i] - mu) * k;
}

const BnPlaneKernels kBnPlaneKernelsScalar = {shifted_sums_scalar, scale_shift_scalar, gradient_sums_scalar,
                                              input_gradient_scalar, map_one_scalar};

const BnPlaneKernels& planes() {
  static const BnPlaneKernels& kernels = []() -> const BnPlaneKernels& {
    switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
      case Isa::kAvx512:
        return kBnPlaneKernelsAvx512;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
      case Isa::kAvx2Fma:
        return kBnPlaneKernelsAvx2Fma;
#endif
      default:
        return kBnPlaneKernelsScalar;
    }
  }();
  return kernels;
}

// The forward map of channel ch, from the stored (float) mean and invStd, which the backward pass reads back.
BnAffine affine_of(size_t ch, const float* mean, const float* inv_std, const float* gamma, const float* beta) {
  return {mean[ch], static_cast<double>(inv_std[ch]) * (gamma ? gamma[ch] : 1.0f), beta ? beta[ch] : 0.0f};
}

// a with the threshold of its fused ReLU's mask (batch_norm.h): the last x whose map, a(x) rounded to float as
// map_one computes it, is > 0, found from the real threshold center − shift/scale by stepping one float at a time.
// Recomputing a(x) in double for every element made the backward pass 30–45% slower (128×16×28×28: 1.35 against
// 0.95 ms without the mask). a unchanged (pass = 0) when the map has no such threshold or the steps do not settle.
BnAffine with_relu_threshold(BnAffine a, float (*map_one)(float, const BnAffine&)) {
  if (a.scale == 0.0 || !std::isfinite(a.scale) || !std::isfinite(a.center) || !std::isfinite(a.shift)) return a;
  const double real = a.center - a.shift / a.scale;
  if (!(std::fabs(real) < static_cast<double>(std::numeric_limits<float>::max()))) return a;
  auto passes = [&](float x) { return !(map_one(x, a) <= 0.0f); };
  const float toward = a.scale > 0 ? -INFINITY : INFINITY;  // the side on which x stops passing
  float t = static_cast<float>(real);
  for (int i = 0; i < 64 && !passes(t); i++) t = std::nextafter(t, -toward);
  for (int i = 0; i < 64 && passes(t) && passes(std::nextafter(t, toward)); i++) t = std::nextafter(t, toward);
  if (!passes(t) || passes(std::nextafter(t, toward))) return a;
  a.threshold = t;
  a.pass = a.scale > 0 ? 1 : -1;
  return a;
}

// Each pass reads a thread's channels in blocks, a block's planes in memory order: image by image, and within an
// image the block's channels, one contiguous run. Channel by channel, the runs were single planes C·HW floats apart,
// too short for the hardware prefetcher when images are small (7×7: 196 bytes): with its tensors out of cache, as
// they are in a training step, resnet20's 128×64×7×7 batch norm took 0.61 ms forward and 0.9 ms backward, and
// 0.35 and 0.5 ms in blocks; in its whole training step, batch norm went from 46 to 39 ms. A block holds as many
// channels as fit in 1 MiB, so that the second pass, which walks the block backwards, finds what the first pass read
// last still in L2. Planes of 2 KB and more (28×28 up) are runs long enough on their own, and there a block of one
// channel kept more of the second pass in L2: 32×128×28×28 forward 1.96-2.24 ms against 2.30-2.44 in 1 MiB blocks.
constexpr size_t kBlockBytes = size_t{1} << 20;
constexpr size_t kLongPlaneBytes = 2048;

size_t channel_block(const BnShape& s) {
  if (s.hw * sizeof(float) >= kLongPlaneBytes) return 1;
  return std::max<size_t>(1, kBlockBytes / std::max<size_t>(1, s.n * s.hw * sizeof(float)));
}

// fn(plane offset, channel) over the planes of channels [c0, c1): forwards in memory order, or backwards.
template <typename Fn>
void for_planes(const BnShape& s, size_t c0, size_t c1, bool backwards, Fn fn) {
  if (!backwards) {
    for (size_t b = 0; b < s.n; b++) {
      for (size_t ch = c0; ch < c1; ch++) fn((b * s.c + ch) * s.hw, ch);
    }
    return;
  }
  for (size_t b = s.n; b-- > 0;) {
    for (size_t ch = c1; ch-- > c0;) fn((b * s.c + ch) * s.hw, ch);
  }
}

// y = (x − center)·scale + shift in double and rounded once, as the reference does. Float arithmetic here was off by
// an ulp or two, enough to flip the sign of outputs near 0 and with it the ReLU masks downstream: resnet101's and
// dilated resnet50's bn1.weight gradients (sums that nearly cancel, since later BNs make the loss almost invariant
// to this scale) then moved by 2e-4 from float64 torch. With stream (an output too large to stay in cache for the
// next op, streaming.h) y goes out through streaming stores.
void batch_norm_train(const BnShape& s, const float* x, const float* gamma, const float* beta, double eps, bool relu,
                      const float* residual, float* y, float* mean, float* variance, float* inv_std) {
  const double count = static_cast<double>(s.n * s.hw);
  const BnPlaneKernels& k = planes();
  const bool stream = stream_output(s.n * s.c * s.hw);
  const size_t block = channel_block(s);
  parallel_ranges(s.c, grain_for(s.n * s.hw), [&](size_t c0, size_t c1) {
    std::vector<double> shifts, sums;
    std::vector<BnAffine> maps(c1 - c0);
    for (size_t b0 = c0; b0 < c1; b0 += block) {
      const size_t b1 = std::min(c1, b0 + block);
      // One pass over the block, each channel's sums taken about its first value K: var = E[(x − K)²] − E[x − K]²,
      // where the cancellation costs log2((μ − K)²/var) bits, and (μ − K)²/var is at most the element count (K is
      // one of the values): at most 19 of double's 53 bits for a batch of 32 at 112×112, more than float needs left.
      // (About 0 instead, a channel with mean 3 and std 1e-3 would lose 23 bits, and a larger mean more.)
      shifts.assign(b1 - b0, 0.0);
      sums.assign(2 * (b1 - b0), 0.0);
      for (size_t ch = b0; ch < b1; ch++) shifts[ch - b0] = x[ch * s.hw];
      for_planes(s, b0, b1, false, [&](size_t o, size_t ch) {
        k.shifted_sums(x + o, s.hw, shifts[ch - b0], &sums[2 * (ch - b0)]);
      });
      for (size_t ch = b0; ch < b1; ch++) {
        const double d_mean = sums[2 * (ch - b0)] / count;
        const double mu = shifts[ch - b0] + d_mean;
        const double var = std::max(0.0, sums[2 * (ch - b0) + 1] / count - d_mean * d_mean);
        mean[ch] = static_cast<float>(mu);
        variance[ch] = static_cast<float>(var);
        inv_std[ch] = static_cast<float>(1.0 / std::sqrt(var + eps));
        maps[ch - c0] = affine_of(ch, mean, inv_std, gamma, beta);
      }
      for_planes(s, b0, b1, true, [&](size_t o, size_t ch) {
        k.scale_shift(x + o, maps[ch - c0], residual ? residual + o : nullptr, y + o, s.hw, stream, relu);
      });
    }
  });
}

void batch_norm_apply(const BnShape& s, const float* x, const float* mean, const float* inv_std, const float* gamma,
                      const float* beta, bool relu, const float* residual, float* y) {
  const bool stream = stream_output(s.n * s.c * s.hw);
  parallel_ranges(s.c, grain_for(s.n * s.hw), [&](size_t c0, size_t c1) {
    std::vector<BnAffine> maps;
    for (size_t ch = c0; ch < c1; ch++) maps.push_back(affine_of(ch, mean, inv_std, gamma, beta));
    for_planes(s, c0, c1, false, [&](size_t o, size_t ch) {
      planes().scale_shift(x + o, maps[ch - c0], residual ? residual + o : nullptr, y + o, s.hw, stream, relu);
    });
  });
}

// With relu, dy is the gradient of relu(batch norm(x)), applied in place on the output: the mask comes from
// recomputing the forward map from x, which this pass reads anyway, so no separate ReLU backward pass is needed.
void batch_norm_backward(const BnShape& s, const float* dy, const float* x, const float* mean, const float* inv_std,
                         const float* gamma, const float* beta, bool batch_stats, bool relu, float* dx, float* dgamma,
                         float* dbeta) {
  const double count = static_cast<double>(s.n * s.hw);
  const BnPlaneKernels& k = planes();
  const bool stream = stream_output(s.n * s.c * s.hw);
  const size_t block = channel_block(s);
  parallel_ranges(s.c, grain_for(s.n * s.hw), [&](size_t c0, size_t c1) {
    std::vector<BnAffine> maps;
    for (size_t ch = c0; ch < c1; ch++) {
      const BnAffine a = affine_of(ch, mean, inv_std, gamma, beta);
      maps.push_back(relu ? with_relu_threshold(a, k.map_one) : a);
    }
    std::vector<double> sums;
    std::vector<float> coef(3 * (c1 - c0));  // per channel: scale, mean_dy, k
    for (size_t b0 = c0; b0 < c1; b0 += block) {
      const size_t b1 = std::min(c1, b0 + block);
      // Both sums in one pass over dy and x.
      sums.assign(2 * (b1 - b0), 0.0);
      for_planes(s, b0, b1, false, [&](size_t o, size_t ch) {
        k.gradient_sums(dy + o, x + o, mean[ch], relu ? &maps[ch - c0] : nullptr, s.hw, &sums[2 * (ch - b0)]);
      });
      for (size_t ch = b0; ch < b1; ch++) {
        const float is = inv_std[ch];
        const double sum_dy = sums[2 * (ch - b0)], sum_dy_xhat = sums[2 * (ch - b0) + 1] * is;
        if (dgamma) dgamma[ch] = static_cast<float>(sum_dy_xhat);
        if (dbeta) dbeta[ch] = static_cast<float>(sum_dy);
        // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) = scale·dy − scale·mean(dy) − (x − μ)·scale·σ⁻¹·mean(dy·x̂);
        // with fixed statistics (eval mode) only scale·dy.
        const float scale = (gamma ? gamma[ch] : 1.0f) * is;
        float* c = &coef[3 * (ch - c0)];
        c[0] = scale;
        c[1] = batch_stats ? static_cast<float>(sum_dy / count) : 0.0f;
        c[2] = batch_stats ? static_cast<float>(scale * is * (sum_dy_xhat / count)) : 0.0f;
      }
      if (!dx) continue;
      for_planes(s, b0, b1, true, [&](size_t o, size_t ch) {
        const float* c = &coef[3 * (ch - c0)];
        k.input_gradient(dy + o, x + o, c[0], c[1], mean[ch], c[2], relu ? &maps[ch - c0] : nullptr, dx + o, s.hw,
                         stream);
      });
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

// batchNormTrain(n, c, hw, x, gamma | null, beta | null, eps, y, mean, variance, invStd, relu, residual | null)
Napi::Value BatchNormTrainBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormTrain";
  Napi::Env env = info.Env();
  expect_args(info, 13, fn);
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
  const bool relu = arg_bool(info, 11, fn, "relu");
  const Float32Span residual = arg_float32_array_or_null(info, 12, fn, "residual");
  expect_length(env, x.length, total, fn, "x");
  expect_length(env, y.length, total, fn, "y");
  if (residual.data) expect_length(env, residual.length, total, fn, "residual");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, beta, s.c, fn, "beta");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, variance, s.c, fn, "variance");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  batch_norm_train(s, x.data, gamma.data, beta.data, eps, relu, residual.data, y.data, mean.data, variance.data,
                   inv_std.data);
  return env.Undefined();
}

// batchNormApply(n, c, hw, x, mean, invStd, gamma | null, beta | null, y, relu, residual | null)
Napi::Value BatchNormApplyBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormApply";
  Napi::Env env = info.Env();
  expect_args(info, 11, fn);
  const BnShape s = arg_bn_shape(info, fn);
  const size_t total = s.n * s.c * s.hw;
  const Float32Span x = arg_float32_array(info, 3, fn, "x");
  const Float32Span mean = arg_float32_array(info, 4, fn, "mean");
  const Float32Span inv_std = arg_float32_array(info, 5, fn, "invStd");
  const Float32Span gamma = arg_float32_array_or_null(info, 6, fn, "gamma");
  const Float32Span beta = arg_float32_array_or_null(info, 7, fn, "beta");
  const Float32Span y = arg_float32_array(info, 8, fn, "y");
  const bool relu = arg_bool(info, 9, fn, "relu");
  const Float32Span residual = arg_float32_array_or_null(info, 10, fn, "residual");
  expect_length(env, x.length, total, fn, "x");
  expect_length(env, y.length, total, fn, "y");
  if (residual.data) expect_length(env, residual.length, total, fn, "residual");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, beta, s.c, fn, "beta");
  batch_norm_apply(s, x.data, mean.data, inv_std.data, gamma.data, beta.data, relu, residual.data, y.data);
  return env.Undefined();
}

// batchNormBackward(n, c, hw, dy, x, mean, invStd, gamma | null, beta | null, batchStats, reluAfter, dx | null,
//                   dgamma | null, dbeta | null)
Napi::Value BatchNormBackwardBinding(const Napi::CallbackInfo& info) {
  const char* fn = "batchNormBackward";
  Napi::Env env = info.Env();
  expect_args(info, 14, fn);
  const BnShape s = arg_bn_shape(info, fn);
  const size_t total = s.n * s.c * s.hw;
  const Float32Span dy = arg_float32_array(info, 3, fn, "dy");
  const Float32Span x = arg_float32_array(info, 4, fn, "x");
  const Float32Span mean = arg_float32_array(info, 5, fn, "mean");
  const Float32Span inv_std = arg_float32_array(info, 6, fn, "invStd");
  const Float32Span gamma = arg_float32_array_or_null(info, 7, fn, "gamma");
  const Float32Span beta = arg_float32_array_or_null(info, 8, fn, "beta");
  const bool batch_stats = arg_bool(info, 9, fn, "batchStats");
  const bool relu_after = arg_bool(info, 10, fn, "reluAfter");
  const Float32Span dx = arg_float32_array_or_null(info, 11, fn, "dx");
  const Float32Span dgamma = arg_float32_array_or_null(info, 12, fn, "dgamma");
  const Float32Span dbeta = arg_float32_array_or_null(info, 13, fn, "dbeta");
  expect_length(env, dy.length, total, fn, "dy");
  expect_length(env, x.length, total, fn, "x");
  if (dx.data) expect_length(env, dx.length, total, fn, "dx");
  expect_channels(env, mean, s.c, fn, "mean");
  expect_channels(env, inv_std, s.c, fn, "invStd");
  expect_channels(env, gamma, s.c, fn, "gamma");
  expect_channels(env, beta, s.c, fn, "beta");
  expect_channels(env, dgamma, s.c, fn, "dgamma");
  expect_channels(env, dbeta, s.c, fn, "dbeta");
  batch_norm_backward(s, dy.data, x.data, mean.data, inv_std.data, gamma.data, beta.data, batch_stats, relu_after,
                      dx.data, dgamma.data, dbeta.data);
  return env.Undefined();
}

}  // namespace resnet
