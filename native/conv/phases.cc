// The padded phase layout (phases.h).
#include "phases.h"

#include <algorithm>

#include "../parallel.h"

namespace resnet {

PhasePlan::PhasePlan(const ConvShape& s, size_t lanes) {
  phase_w = ceil_div(s.ow, lanes) * lanes + (s.kw - 1) * s.dilation_w / s.stride_w;
  rows = std::max(s.h + 2 * s.pad_h, s.stride_h * (s.oh - 1) + (s.kh - 1) * s.dilation_h + 1);
  plane = rows * phase_w;
  channel = s.stride_w * plane;
  row_read.assign(rows, false);
  phase_read.assign(s.stride_w, false);
  for (size_t oy = 0; oy < s.oh; oy++) {
    for (size_t ky = 0; ky < s.kh; ky++) row_read[oy * s.stride_h + ky * s.dilation_h] = true;
  }
  for (size_t kx = 0; kx < s.kw; kx++) phase_read[kx * s.dilation_w % s.stride_w] = true;
  for (size_t ci = 0; ci < s.c; ci++) {
    for (size_t ky = 0; ky < s.kh; ky++) {
      for (size_t kx = 0; kx < s.kw; kx++) {
        const size_t shift = kx * s.dilation_w;
        offsets.push_back(static_cast<int32_t>(ci * channel + shift % s.stride_w * plane +
                                               ky * s.dilation_h * phase_w + shift / s.stride_w));
      }
    }
  }
}

namespace {

// Phase q of one padded row: out[j] = input column sw·j + q − pad_w, zero outside [0, W).
void phase_row(const ConvShape& s, const PhasePlan& p, const float* src, size_t q, float* out) {
  const size_t sw = s.stride_w;
  size_t j0 = 0, j1 = 0;  // the phase columns inside the row
  if (src) {
    j0 = q >= s.pad_w ? 0 : ceil_div(s.pad_w - q, sw);
    j1 = s.w + s.pad_w > q ? std::min(p.phase_w, ceil_div(s.w + s.pad_w - q, sw)) : 0;
    j0 = std::min(j0, j1);
  }
  std::fill(out, out + j0, 0.0f);
  const float* __restrict from = src ? src + (sw * j0 + q - s.pad_w) : nullptr;
  float* __restrict to = out + j0;
  if (sw == 1) {
    std::copy(from, from + (j1 - j0), to);
  } else {
    for (size_t j = 0; j < j1 - j0; j++) to[j] = from[j * sw];
  }
  std::fill(out + j1, out + p.phase_w, 0.0f);
}

}  // namespace

void pad_phases(const ConvShape& s, const PhasePlan& p, const float* x, float* dst, size_t c0, size_t c1) {
  const size_t sw = s.stride_w;
  // Stride 2 with both phases read (every 3×3 and 7×7 stride-2 layer): one pass splits the row's inner columns,
  // even and odd together, which the compiler vectorises with shuffles; the generic strided copy per phase ran
  // scalar and took a seventh of a 3×3 stride-2 convolution's time.
  const bool split_pairs = sw == 2 && p.phase_read[0] && p.phase_read[1];
  for (size_t ci = c0; ci < c1; ci++) {
    for (size_t r = 0; r < p.rows; r++) {
      if (!p.row_read[r]) continue;
      const long long iy = static_cast<long long>(r) - static_cast<long long>(s.pad_h);
      const bool inside = iy >= 0 && iy < static_cast<long long>(s.h);
      const float* src = inside ? x + (ci * s.h + static_cast<size_t>(iy)) * s.w : nullptr;
      float* row = dst + ci * p.channel + r * p.phase_w;
      if (split_pairs && src) {
        // Padded column c = 2j + q holds input column c − pad_w. Phase-0 column j0 pairs with phase-1 column
        // j0 on the input's columns [2·j0 − pad_w, 2·j0 − pad_w + 2): pairs whose two columns are both inside
        // are split in the loop, the rest (edges) element by element.
        float* __restrict even = row;
        float* __restrict odd = row + p.plane;
        const long long w = static_cast<long long>(s.w), pad = static_cast<long long>(s.pad_w);
        const long long n = static_cast<long long>(p.phase_w);
        const long long lo = std::min(n, (pad + 1) / 2);                    // first j with 2j − pad ≥ 0
        const long long hi = std::max(lo, std::min(n, (w + pad) / 2));  // 2j + 1 − pad < w for j < hi
        auto at = [&](long long col) { return col >= 0 && col < w ? src[col] : 0.0f; };
        for (long long j = 0; j < lo; j++) even[j] = at(2 * j - pad), odd[j] = at(2 * j + 1 - pad);
        const float* __restrict in = src + (2 * lo - pad);
        for (long long j = 0; j < hi - lo; j++) {
          even[lo + j] = in[2 * j];
          odd[lo + j] = in[2 * j + 1];
        }
        for (long long j = hi; j < n; j++) even[j] = at(2 * j - pad), odd[j] = at(2 * j + 1 - pad);
        continue;
      }
      for (size_t q = 0; q < sw; q++) {
        if (p.phase_read[q]) phase_row(s, p, src, q, row + q * p.plane);
      }
    }
  }
}

}  // namespace resnet
