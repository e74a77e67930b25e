// im2col and col2im with the padding handled per row segment: for each kernel tap the valid output columns form
// one range, computed once, so the inner loops are branch-free copies (contiguous at stride 1).
#include "im2col.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../short_copy.h"

namespace resnet {
namespace {

using ptrdiff = std::ptrdiff_t;

// The output columns [lo, hi) whose input column ox·stride − pad + offset lies inside [0, size).
struct Range {
  size_t lo, hi;
};

Range valid_range(size_t out, size_t size, size_t stride, size_t pad, size_t offset) {
  const ptrdiff shift = static_cast<ptrdiff>(offset) - static_cast<ptrdiff>(pad);  // input col = ox·stride + shift
  ptrdiff lo = shift >= 0 ? 0 : (-shift + static_cast<ptrdiff>(stride) - 1) / static_cast<ptrdiff>(stride);
  const ptrdiff last = static_cast<ptrdiff>(size) - 1 - shift;  // ox·stride <= last
  ptrdiff hi = last < 0 ? 0 : last / static_cast<ptrdiff>(stride) + 1;
  hi = std::min<ptrdiff>(hi, static_cast<ptrdiff>(out));
  lo = std::min(lo, hi);
  return {static_cast<size_t>(lo), static_cast<size_t>(hi)};
}

// Stride 1 with an output as wide as the input ("same" padding, the 3×3 convs of every ResNet): consecutive output
// rows of one kernel tap read consecutive input rows, so the tap's whole valid block is one contiguous span of the
// input plane, shifted by x_shift. Returns the span [begin, end) of output positions (oy·ow + ox) it covers, clipped
// to the plane; the columns outside [rx.lo, rx.hi) in it hold wrapped-around values that the caller fixes.
struct Span {
  size_t begin, end;
  ptrdiff shift;  // input position = output position + shift
};

bool contiguous_taps(const ConvShape& s) { return s.stride_h == 1 && s.stride_w == 1 && s.ow == s.w; }

Span tap_span(const ConvShape& s, const Range& ry, size_t ky, ptrdiff x_shift) {
  const ptrdiff shift = (static_cast<ptrdiff>(ky * s.dilation_h) - static_cast<ptrdiff>(s.pad_h)) *
                            static_cast<ptrdiff>(s.w) + x_shift;
  const ptrdiff plane = static_cast<ptrdiff>(s.h * s.w);
  const ptrdiff rows_begin = static_cast<ptrdiff>(ry.lo * s.ow);
  const ptrdiff begin = std::max(rows_begin, -shift);
  const ptrdiff end = std::min(static_cast<ptrdiff>(ry.hi * s.ow), plane - shift);
  // An empty span stays inside the output plane (a 1×1 input with padding 1 has taps that see nothing).
  if (end <= begin) return {static_cast<size_t>(rows_begin), static_cast<size_t>(rows_begin), shift};
  return {static_cast<size_t>(begin), static_cast<size_t>(end), shift};
}

// Kernel row ky's rows of the band (output rows [oy0, oy1), all kx) at column stride 2, the stems and the
// downsampling layers: each input row is split once into its even and odd columns, with zeros around them for the
// padding, and every tap kx is then a straight copy of OW values from one of them (tap kx + 2 is tap kx shifted by
// one column). Rows outside the image are zeros. out is the band's row for (channel, ky, kx = 0), taps ld apart.
void strided_rows(const ConvShape& s, const float* xc, size_t ky, size_t oy0, size_t oy1, float* out, size_t ld) {
  thread_local std::vector<float> phase_buf;
  const size_t margin = s.pad_w / 2 + 1, length = margin + std::max(s.ow + s.kw, (s.w + 1) / 2) + 1;
  phase_buf.assign(2 * length, 0.0f);
  float* even = phase_buf.data() + margin;  // even[j] = x[2j], odd[j] = x[2j + 1], zeros past the row's ends
  float* odd = even + length;
  const Range ry = valid_range(s.oh, s.h, s.stride_h, s.pad_h, ky * s.dilation_h);
  for (size_t oy = oy0; oy < oy1; oy++) {
    if (oy < ry.lo || oy >= ry.hi) {
      for (size_t kx = 0; kx < s.kw; kx++) std::fill_n(out + kx * ld + (oy - oy0) * s.ow, s.ow, 0.0f);
      continue;
    }
    const float* __restrict xr = xc + (oy * s.stride_h + ky * s.dilation_h - s.pad_h) * s.w;
    float* __restrict e = even;
    float* __restrict o = odd;
    for (size_t j = 0; j < s.w / 2; j++) {
      e[j] = xr[2 * j];
      o[j] = xr[2 * j + 1];
    }
    if (s.w % 2) e[s.w / 2] = xr[s.w - 1];
    for (size_t kx = 0; kx < s.kw; kx++) {
      // Output column ox reads input column 2·ox + kx − pad: phase (kx − pad) mod 2, index ox + ⌊(kx − pad) / 2⌋,
      // which stays within the zeros around the phase (margin ≥ ⌈pad / 2⌉ on the left, kw past OW on the right).
      const ptrdiff shift = static_cast<ptrdiff>(kx) - static_cast<ptrdiff>(s.pad_w);
      const ptrdiff floor_half = shift >= 0 ? shift / 2 : -((-shift + 1) / 2);
      const float* __restrict src = ((shift - 2 * floor_half) == 0 ? even : odd) + floor_half;
      float* __restrict dst = out + kx * ld + (oy - oy0) * s.ow;
      for (size_t ox = 0; ox < s.ow; ox++) dst[ox] = src[ox];
    }
  }
}

// Stride 1 on small planes (7×7, 14×14): each channel is copied once into a zero-bordered plane, and every tap row
// is then a short copy from it. The span path below costs a library call per tap and two fills per output row,
// which for 7-float rows took longer than the copies themselves.
constexpr size_t kPaddedMaxWidth = 16;

bool padded_taps(const ConvShape& s) { return s.stride_h == 1 && s.stride_w == 1 && s.ow <= kPaddedMaxWidth; }

void im2col_padded(const ConvShape& s, const float* x, size_t c0, size_t c1, size_t oy0, size_t oy1, float* col,
                   size_t ld) {
  const size_t pw = std::max(s.w + 2 * s.pad_w, s.ow + (s.kw - 1) * s.dilation_w);
  const size_t ph = std::max(s.h + 2 * s.pad_h, s.oh + (s.kh - 1) * s.dilation_h);
  thread_local std::vector<float> plane_buf;
  plane_buf.assign(pw * ph, 0.0f);  // borders stay zero; each channel overwrites the interior
  float* plane = plane_buf.data();
  for (size_t ci = c0; ci < c1; ci++) {
    const float* xc = x + ci * s.h * s.w;
    for (size_t iy = 0; iy < s.h; iy++) copy_short(xc + iy * s.w, s.w, plane + (iy + s.pad_h) * pw + s.pad_w);
    for (size_t ky = 0; ky < s.kh; ky++) {
      for (size_t kx = 0; kx < s.kw; kx++) {
        float* out = col + ((ci * s.kh + ky) * s.kw + kx) * ld;
        const float* src = plane + ky * s.dilation_h * pw + kx * s.dilation_w;
        for (size_t oy = oy0; oy < oy1; oy++) copy_short(src + oy * pw, s.ow, out + (oy - oy0) * s.ow);
      }
    }
  }
}

}  // namespace

void im2col(const ConvShape& s, const float* x, size_t c0, size_t c1, size_t oy0, size_t oy1, float* col, size_t ld) {
  const size_t block = (oy1 - oy0) * s.ow, first = oy0 * s.ow;  // output positions [first, first + block)
  if (ld == 0) ld = block;
  if (padded_taps(s)) {
    im2col_padded(s, x, c0, c1, oy0, oy1, col, ld);
    return;
  }
  const bool strided = s.stride_w == 2 && s.dilation_w == 1;
  for (size_t ci = c0; ci < c1; ci++) {
    const float* xc = x + ci * s.h * s.w;
    for (size_t ky = 0; ky < s.kh; ky++) {
      if (strided) {
        strided_rows(s, xc, ky, oy0, oy1, col + (ci * s.kh + ky) * s.kw * ld, ld);
        continue;
      }
      Range ry = valid_range(s.oh, s.h, s.stride_h, s.pad_h, ky * s.dilation_h);
      ry.hi = std::min(std::max(ry.hi, oy0), oy1);
      ry.lo = std::min(std::max(ry.lo, oy0), ry.hi);
      for (size_t kx = 0; kx < s.kw; kx++) {
        float* out = col + ((ci * s.kh + ky) * s.kw + kx) * ld;  // out[(oy − oy0)·ow + ox]
        const Range rx = valid_range(s.ow, s.w, s.stride_w, s.pad_w, kx * s.dilation_w);
        const ptrdiff x_shift = static_cast<ptrdiff>(kx * s.dilation_w) - static_cast<ptrdiff>(s.pad_w);
        if (contiguous_taps(s)) {
          const Span span = tap_span(s, ry, ky, x_shift);
          std::fill(out, out + (span.begin - first), 0.0f);
          std::memcpy(out + (span.begin - first), xc + static_cast<ptrdiff>(span.begin) + span.shift,
                      (span.end - span.begin) * sizeof(float));
          std::fill(out + (span.end - first), out + block, 0.0f);
          for (size_t oy = ry.lo; oy < ry.hi; oy++) {
            float* o = out + (oy - oy0) * s.ow;
            std::fill(o, o + rx.lo, 0.0f);
            std::fill(o + rx.hi, o + s.ow, 0.0f);
          }
          continue;
        }
        std::fill(out, out + (ry.lo - oy0) * s.ow, 0.0f);
        for (size_t oy = ry.lo; oy < ry.hi; oy++) {
          const size_t iy = oy * s.stride_h + ky * s.dilation_h - s.pad_h;
          float* o = out + (oy - oy0) * s.ow;
          std::fill(o, o + rx.lo, 0.0f);
          std::fill(o + rx.hi, o + s.ow, 0.0f);
          if (rx.lo == rx.hi) continue;
          // xr[j·stride] is the input for output column rx.lo + j
          const float* xr = xc + iy * s.w + static_cast<ptrdiff>(rx.lo * s.stride_w) + x_shift;
          if (s.stride_w == 1) {
            std::memcpy(o + rx.lo, xr, (rx.hi - rx.lo) * sizeof(float));
          } else {
            for (size_t j = 0; j < rx.hi - rx.lo; j++) o[rx.lo + j] = xr[j * s.stride_w];
          }
        }
        std::fill(out + (ry.hi - oy0) * s.ow, out + block, 0.0f);
      }
    }
  }
}

void col2im(const ConvShape& s, const float* col, size_t c0, size_t c1, size_t oy0, size_t oy1, float* dx, size_t ld) {
  const size_t block = (oy1 - oy0) * s.ow, first = oy0 * s.ow;  // output positions [first, first + block)
  if (ld == 0) ld = block;
  for (size_t ci = c0; ci < c1; ci++) {
    float* dc = dx + ci * s.h * s.w;
    for (size_t ky = 0; ky < s.kh; ky++) {
      Range ry = valid_range(s.oh, s.h, s.stride_h, s.pad_h, ky * s.dilation_h);
      ry.hi = std::min(std::max(ry.hi, oy0), oy1);
      ry.lo = std::min(std::max(ry.lo, oy0), ry.hi);
      for (size_t kx = 0; kx < s.kw; kx++) {
        const float* in = col + ((ci * s.kh + ky) * s.kw + kx) * ld;  // in[(oy − oy0)·ow + ox]
        const Range rx = valid_range(s.ow, s.w, s.stride_w, s.pad_w, kx * s.dilation_w);
        const ptrdiff x_shift = static_cast<ptrdiff>(kx * s.dilation_w) - static_cast<ptrdiff>(s.pad_w);
        if (contiguous_taps(s) && rx.lo == 0 && rx.hi == s.ow) {
          // No wrapped columns in this tap: its valid block adds onto dx as one span.
          const Span span = tap_span(s, ry, ky, x_shift);
          float* d = dc + static_cast<ptrdiff>(span.begin) + span.shift;
          const float* i = in + (span.begin - first);
          for (size_t j = 0; j < span.end - span.begin; j++) d[j] += i[j];
          continue;
        }
        if (rx.lo == rx.hi) continue;
        for (size_t oy = ry.lo; oy < ry.hi; oy++) {
          const size_t iy = oy * s.stride_h + ky * s.dilation_h - s.pad_h;
          float* dr = dc + iy * s.w + static_cast<ptrdiff>(rx.lo * s.stride_w) + x_shift;
          const float* i = in + (oy - oy0) * s.ow + rx.lo;
          if (s.stride_w == 1) {
            for (size_t j = 0; j < rx.hi - rx.lo; j++) dr[j] += i[j];
          } else {
            for (size_t j = 0; j < rx.hi - rx.lo; j++) dr[j * s.stride_w] += i[j];
          }
        }
      }
    }
  }
}

}  // namespace resnet
