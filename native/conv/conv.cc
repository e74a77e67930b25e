// Convolution drivers. Each (image, group) pair is one GEMM: W_g[OCg, K] · col[K, P], with col the im2col matrix (or
// the input planes themselves for pointwise convolutions). The forward pass never writes col: the GEMM gathers its
// panels from the image, padded once (TapColumns). The backward passes unfold col, or fold dcol, a band of output
// rows at a time so that it stays in L2. The weights are packed once per call for all images, and bias, residual and
// ReLU are applied by the GEMM to each finished tile. When there are enough images or pairs to keep every thread
// busy, threads take whole ones (each with its own buffers and serial GEMMs, no synchronisation); otherwise the
// threads share each padding, im2col, GEMM and col2im. Other paths, where they pay:
// - 3×3 padding-1 in training batches, with fewer than 64 channels (CIFAR ResNets) or output planes of at most 8×8:
//   direct with a group of images in the vector lanes (lanes.cc), in all three passes at stride 1 (forward and
//   input gradient by Winograd F(4×4, 3×3) on that layout with 16+ channels on planes of 7×7 and up), forward and
//   weight gradient at stride 2;
// - the same with 64+ channels and at least 48 output tiles (16 with packed weights: resnet50's 7×7 planes at batch
//   1): Winograd (winograd.cc), F(4×4, 3×3) or F(2×2, 3×3) for the forward pass and the input gradient, F(2×2, 3×3)
//   for the weight gradient;
// - the same with fewer channels and fewer images: direct, with no im2col (direct.cc), in all three passes;
// - stride 2 with at most 160 taps (the stems): direct over a list of taps (direct.cc), forward;
// - training on output planes of at most 64 pixels: several images per GEMM (batched_*, below);
// - inference (packed weights) on output planes that the GEMM's column panels would pad by 10% or more (7×7), where
//   none of the above runs: the GEMM the other way round, output pixels as its rows and the weights as B
//   (rows_forward_packed), so that pixels fill tiles of at most MR rows, not NR-wide panels;
// all direct paths on CPUs with AVX2 or AVX-512.
#include <algorithm>
#include <optional>

#include "../gemm/sgemm.h"
#include "../gemm/ukernel.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../short_copy.h"
#include "../threadpool.h"
#include "conv.h"
#include "direct.h"
#include "im2col.h"
#include "phases.h"
#include "winograd.h"

namespace resnet {
namespace {

// Packs each group's op(W_g) once per call (every image reuses it); returns the packed groups, `stride` apart.
const float* pack_weights(const ConvShape& s, const float* w, bool transpose, size_t& stride) {
  const size_t ocg = s.ocg(), k = s.k();
  const size_t m = transpose ? k : ocg, depth = transpose ? ocg : k;
  stride = sgemm_packed_a_size(m, depth);
  float* packed = thread_scratch<kPackedWeight>(stride * s.groups);
  parallel_ranges(s.groups, 1, [&](size_t g0, size_t g1) {
    for (size_t grp = g0; grp < g1; grp++) sgemm_pack_a(transpose, m, depth, w + grp * ocg * k, k, packed + grp * stride);
  });
  return packed;
}

// The B operand of one (image, group) weight-gradient GEMM for output rows [oy0, oy1): the input planes themselves
// (row stride OH·OW), or their im2col in `col` (row stride (oy1 − oy0)·OW).
const float* unfold(const ConvShape& s, const float* xg, float* col, size_t oy0, size_t oy1, bool shared) {
  if (s.pointwise()) return xg + oy0 * s.ow;
  parallel_ranges_if(shared, s.cg(), 1, [&](size_t c0, size_t c1) { im2col(s, xg, c0, c1, oy0, oy1, col); });
  return col;
}

// The backward passes unfold a band of output rows at a time, so that col (written by im2col, read back by the
// GEMM's packing, or the other way for col2im) stays in L2: about this many floats, but at least kMinBandColumns
// output pixels wide.
constexpr size_t kColBandFloats = 128 * 1024;
constexpr size_t kMinBandColumns = 256;

size_t band_rows(const ConvShape& s) {
  if (s.pointwise()) return s.oh;  // B is x itself: nothing to keep in cache
  const size_t by_cache = kColBandFloats / (s.k() * s.ow);
  const size_t by_width = (kMinBandColumns + s.ow - 1) / s.ow;
  return std::min(s.oh, std::max<size_t>(1, std::max(by_cache, by_width)));
}

// Several images side by side. With small output planes (7×7) each image's GEMM has a few dozen columns, less than
// two of the microkernel's panels, and Winograd's 2×2 tiles pad 7×7 to 8×8; G images' im2col side by side make one
// GEMM [OC × K]·[K × G·P] wide enough to run at the GEMM's speed. Its product is [OC, G·P], images side by side in
// each row, and a copy puts it back in NCHW order (applying bias, residual and ReLU); dy goes through the same
// layout the other way in the backward passes. resnet20's 64-channel 7×7 convolutions at batch 128: forward, dx and
// dw 8.2 ms against Winograd's 9.1-10.2 (its step: 43 ms in them instead of 47-49). Not for deep ones: with 512
// channels (K = 4608) Winograd's savings win (resnet18's layer4: 74 ms against 100), so up to K = 2304.
constexpr size_t kBatchedMaxPixels = 64;   // output planes up to 8×8
constexpr size_t kBatchedMaxDepth = 2304;  // K = C·KH·KW
constexpr size_t kBatchedColumns = 256;    // columns per GEMM: G = ⌈256 / P⌉ images

bool batched_eligible(const ConvShape& s) {
  return s.groups == 1 && s.n > 1 && s.p() <= kBatchedMaxPixels && s.k() <= kBatchedMaxDepth && !s.pointwise();
}

size_t batched_images(const ConvShape& s) { return std::min(s.n, ceil_div(kBatchedColumns, s.p())); }

// The chunk's im2col, images side by side: col [K, count·P].
void unfold_images(const ConvShape& s, const float* x, size_t count, float* col, bool shared) {
  const size_t p = s.p(), in_image = s.c * s.h * s.w, ld = count * p;
  auto channels = [&](size_t c0, size_t c1) {
    for (size_t i = 0; i < count; i++) im2col(s, x + i * in_image, c0, c1, 0, s.oh, col + i * p, ld);
  };
  parallel_ranges_if(shared, s.c, 1, channels);
}

void batched_forward(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep, float* y) {
  const size_t p = s.p(), k = s.k(), in_image = s.c * s.h * s.w, out_image = s.oc * p;
  for_chunks(s.n, batched_images(s), [&](size_t i0, size_t count, bool shared) {
    const size_t cols = count * p;
    float* col = thread_scratch<kIm2col>(k * cols);
    float* out = thread_scratch<kImageColumns>(s.oc * cols);
    unfold_images(s, x + i0 * in_image, count, col, shared);
    sgemm_packed_a(s.oc, cols, k, 1.0f, packed_w, false, col, cols, 0.0f, out, cols);
    // Back to NCHW, then bias, residual and ReLU as the GEMM applies them to a finished row.
    auto rows = [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; r++) {
        const size_t i = r / s.oc, oc = r % s.oc, at = (i0 + i) * out_image + oc * p;
        copy_short(out + oc * cols + i * p, p, y + at);
        const TileEpilogue row{ep.bias ? ep.bias + oc : nullptr, ep.residual ? ep.residual + at : nullptr, 0, ep.relu};
        tile_epilogue_row(row, 0, y + at, p);
      }
    };
    parallel_ranges_if(shared, count * s.oc, 1, rows);
  });
}

// dy of the chunk's images in the batched layout: out [OC, count·P].
void gather_images(const ConvShape& s, const float* dy, size_t count, float* out) {
  const size_t p = s.p(), cols = count * p;
  for (size_t i = 0; i < count; i++) {
    for (size_t oc = 0; oc < s.oc; oc++) {
      copy_short(dy + (i * s.oc + oc) * p, p, out + oc * cols + i * p);
    }
  }
}

void batched_backward_input(const ConvShape& s, const float* dy, const float* packed_wt, float* dx, bool accumulate) {
  const size_t p = s.p(), k = s.k(), in_image = s.c * s.h * s.w, out_image = s.oc * p;
  for_chunks(s.n, batched_images(s), [&](size_t i0, size_t count, bool shared) {
    const size_t cols = count * p;
    float* dyb = thread_scratch<kImageColumns>(s.oc * cols);
    float* dcol = thread_scratch<kIm2col>(k * cols);
    gather_images(s, dy + i0 * out_image, count, dyb);
    sgemm_packed_a(k, cols, s.oc, 1.0f, packed_wt, false, dyb, cols, 0.0f, dcol, cols);
    float* dxc = dx + i0 * in_image;
    auto channels = [&](size_t c0, size_t c1) {
      for (size_t i = 0; i < count; i++) {
        float* dxi = dxc + i * in_image;
        if (!accumulate) std::fill(dxi + c0 * s.h * s.w, dxi + c1 * s.h * s.w, 0.0f);
        col2im(s, dcol + i * p, c0, c1, 0, s.oh, dxi, cols);
      }
    };
    parallel_ranges_if(shared, s.c, 1, channels);
  });
}

// dw = Σ over `items` (images, or chunks of them) of run(i0, i1, out, shared), which writes the sum over items
// [i0, i1) into out. Whole items per thread when each thread gets at least one: each thread sums its items into its
// own copy of dw (the first thread straight into dw), then the copies are added in a fixed order. Otherwise one
// call over all items, whose threads share each item.
template <typename Run>
void sum_over_parts(size_t items, size_t dw_size, float* dw, Run run) {
  const size_t parts = summing_parts(items);
  if (parts == 1) {
    run(0, items, dw, true);
    return;
  }
  float* partials = thread_scratch<kWeightGradPartials>((parts - 1) * dw_size);
  parallel_for(parts, [&](size_t t) {
    run(items * t / parts, items * (t + 1) / parts, t == 0 ? dw : partials + (t - 1) * dw_size, false);
  });
  parallel_ranges(dw_size, kElementGrain, [&](size_t e0, size_t e1) {
    for (size_t t = 1; t < parts; t++) {
      const float* part = partials + (t - 1) * dw_size;
      for (size_t e = e0; e < e1; e++) dw[e] += part[e];
    }
  });
}

void batched_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  const size_t p = s.p(), k = s.k(), g = batched_images(s), chunks = ceil_div(s.n, g);
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * p;
  sum_over_parts(chunks, s.oc * k, dw, [&](size_t c0, size_t c1, float* out, bool shared) {
    float* col = thread_scratch<kIm2col>(k * g * p);
    float* dyb = thread_scratch<kImageColumns>(s.oc * g * p);
    for (size_t c = c0; c < c1; c++) {
      const size_t i0 = c * g, count = std::min(g, s.n - i0), cols = count * p;
      unfold_images(s, x + i0 * in_image, count, col, shared);
      gather_images(s, dy + i0 * out_image, count, dyb);
      sgemm(false, true, s.oc, k, cols, 1.0f, dyb, cols, col, cols, c == c0 ? 0.0f : 1.0f, out, k);
    }
  });
}

// Winograd only with enough tiles (winograd_worth_it), fewer with packed weights than with per-call ones.
bool winograd_pays(const ConvShape& s, bool prepacked) {
  return winograd_eligible(s) && winograd_worth_it(s, prepacked);
}

// Output pixels as the GEMM's rows (rows_forward_packed, below) where padding them to the microkernel's column
// panels as the GEMM's columns would waste 10% of the products or more (sgemm_padded_columns: NR-wide panels, the
// last one rounded up to 16 columns on AVX-512 and AVX2): a 7×7 plane (49) pads to 64, 31% wasted. As rows they fill
// tiles of at most MR (8 or 6) rows, of even heights (a 7×7 plane as 7 × 7), and a pointwise convolution puts the
// images of the batch one after the other, padding nothing. The weights are then B, in NR-wide panels of output
// channels. A 14×14 plane (196) pads to 208 columns, 6%, and stays in the GEMM layout, whose B packing reads each
// image as one sequential stream where the rows' packing reads 32 bytes of every plane: resnet50's layer3 1×1
// convolutions at batch 8, 33.5-37.9 -> 29.6-31.0 ms (conv1) and 27.3-30.0 -> 25.2-26.4 ms (conv3) a forward; at
// batch 1 within 0.1 ms. (Before the AVX-512 microkernel's 16-column form, 196 columns padded to 224, and layer3
// at batch 8 ran 3-15% faster as rows.)
constexpr size_t kRowsMinWastePercent = 10;

bool rows_eligible(const ConvShape& s) {
  const size_t padded = sgemm_padded_columns(s.p());
  return s.groups == 1 && padded * 100 >= s.p() * (100 + kRowsMinWastePercent) && !direct_eligible(s) &&
         !direct_strided_eligible(s);
}

// The packing ends with MR·K zeros, so that its length tells it from the other GEMM layout's: that one pads OC to a
// multiple of MR, less than MR rows of K, where this one pads it to a multiple of NR (at least OC).
size_t rows_tag_size(const ConvShape& s) { return sgemm_tile_rows() * s.k(); }

size_t rows_packed_weight_size(const ConvShape& s) { return sgemm_packed_b_size(s.k(), s.oc) + rows_tag_size(s); }

}  // namespace

const char* conv2d_packed_layout(const ConvShape& s) {
  if (winograd_pays(s, true)) return winograd_packed_variant(s);
  if (direct_eligible(s)) return "direct";
  if (direct_strided_eligible(s)) return "direct-strided";
  if (rows_eligible(s)) return "gemm-rows";
  return "gemm";
}

size_t conv2d_packed_weight_size(const ConvShape& s) {
  if (winograd_pays(s, true)) return winograd_packed_weight_size(s);
  if (direct_eligible(s)) return direct_packed_weight_size(s);
  if (direct_strided_eligible(s)) return direct_strided_packed_weight_size(s);
  if (rows_eligible(s)) return rows_packed_weight_size(s);
  return sgemm_packed_a_size(s.ocg(), s.k()) * s.groups;
}

// The direct layouts can have the GEMM's size (8-row panels, 8-channel blocks): they are told apart by the geometry,
// which alone decides whether a direct path runs.
bool conv2d_packed_weight_size_ok(const ConvShape& s, size_t size) {
  if (winograd_eligible(s) && winograd_packed_size_ok(s, size)) return true;
  if (direct_eligible(s)) return size == direct_packed_weight_size(s);
  if (direct_strided_eligible(s)) return size == direct_strided_packed_weight_size(s);
  if (s.groups == 1 && size == rows_packed_weight_size(s)) return true;
  return size == sgemm_packed_a_size(s.ocg(), s.k()) * s.groups;
}

void conv2d_pack_weight(const ConvShape& s, const float* w, float* packed) {
  if (winograd_pays(s, true)) {
    winograd_pack_weight(s, w, packed);
    return;
  }
  if (direct_eligible(s)) {
    direct_pack_weight(s, w, packed);
    return;
  }
  if (direct_strided_eligible(s)) {
    direct_strided_pack_weight(s, w, packed);
    return;
  }
  if (rows_eligible(s)) {
    // B[k][oc] = w[oc][k]
    const size_t size = sgemm_packed_b_size(s.k(), s.oc);
    sgemm_pack_b(true, s.k(), s.oc, w, s.k(), packed);
    std::fill(packed + size, packed + size + rows_tag_size(s), 0.0f);
    return;
  }
  const size_t stride = sgemm_packed_a_size(s.ocg(), s.k());
  for (size_t grp = 0; grp < s.groups; grp++) {
    sgemm_pack_a(false, s.ocg(), s.k(), w + grp * s.ocg() * s.k(), s.k(), packed + grp * stride);
  }
}

namespace {

// The im2col matrix of one (image, group), never written out: B[k][j] for tap k = (ci, ky, kx) of the group and output
// pixel j = oy·OW + ox is the image's padded phase layout (phases.h) at taps[k] + row_base(oy) + ox. The GEMM asks
// for panels as it goes, and each is gathered from the image, a run of pixels within an output row per tap: the
// copies that im2col and then the B packing made, less the col matrix written and read back between them. That
// matrix is KH·KW times the image (9 MB for 256 channels at 28×28), where the phase layout is about its size.
class TapColumns final : public BPanelSource {
 public:
  static constexpr size_t kMaxPanelColumns = 32;  // the widest NR in the microkernel table (gemm/dispatch.cc)

  TapColumns(const ConvShape& s, const PhasePlan& plan, const float* phases, const int32_t* taps)
      : s_(s), plan_(plan), phases_(phases), taps_(taps) {}

  void pack(size_t k0, size_t kc, size_t j0, size_t cols, size_t nr, float* dst) const override {
    struct Run {
      size_t from, at, count;  // input floats [from, from + count) of a tap go to panel columns [at, at + count)
    };
    Run runs[kMaxPanelColumns];  // a panel's columns, each run at least one
    for (size_t q0 = 0; q0 < cols; q0 += nr) {
      const size_t n = std::min(nr, cols - q0), first = j0 + q0;
      size_t count = 0;
      for (size_t j = first; j < first + n;) {
        const size_t oy = j / s_.ow, ox = j % s_.ow, length = std::min(s_.ow - ox, first + n - j);
        runs[count++] = {plan_.row_base(s_, oy) + ox, j - first, length};
        j += length;
      }
      float* panel = dst + q0 * kc;
      for (size_t kk = 0; kk < kc; kk++) {
        const float* tap = phases_ + taps_[k0 + kk];
        float* out = panel + kk * nr;
        for (size_t r = 0; r < count; r++) copy_short(tap + runs[r].from, runs[r].count, out + runs[r].at);
        if (n < nr) zero_short(out + n, nr - n);
      }
    }
  }

 private:
  const ConvShape& s_;
  const PhasePlan& plan_;
  const float* phases_;
  const int32_t* taps_;
};

// Image img of x in the phase layout of `plan`, in this thread's scratch; with `shared`, the threads share the copy.
float* padded_image(const ConvShape& s, const PhasePlan& plan, const float* x, size_t img, bool shared) {
  float* phases = thread_scratch<kIm2col>(plan.image_floats(s));
  const float* xi = x + img * s.c * s.h * s.w;
  parallel_ranges_if(shared, s.c, 1, [&](size_t c0, size_t c1) { pad_phases(s, plan, xi, phases, c0, c1); });
  return phases;
}

// A 1×1 convolution's input (stride 1, or a shortcut's stride) as a GEMM operand whose panels run along its pixels:
// pixel r is output pixel r of the images one after the other (image r / P, pixel r % P), channel k its k-th input
// plane, read at (oy·stride, ox·stride). A panel copies, per channel, its pixels' run of the plane, split where it
// crosses from one image into the next, and for a strided input at every output row. As B (NR-wide panels) in the
// GEMM layout, where a downsample shortcut then reads its input itself rather than a padded copy of the pixels it
// reads (phases.h): resnet50's layer2 downsample at batch 1, 1.10 -> 1.03 ms. As A (MR-wide) in the gemm-rows layout
// for stride 1 only: panels of 8 strided pieces ran 5% slower at batch 8 than the padded copy (TapColumns).
class PixelRows final : public BPanelSource {
 public:
  static constexpr size_t kMaxPanel = 32;  // the widest MR or NR in the microkernel table (gemm/dispatch.cc)

  PixelRows(const ConvShape& s, const float* x) : s_(s), x_(x) {}

  void pack(size_t k0, size_t kc, size_t j0, size_t cols, size_t nr, float* dst) const override {
    struct Run {
      size_t from, at, count;  // plane floats from `from` (every stride-th) go to panel positions [at, at + count)
    };
    const size_t p = s_.p(), plane = s_.h * s_.w, stride = s_.stride_w;
    const bool contiguous = s_.pointwise();  // runs may then cross output rows
    Run runs[kMaxPanel];
    for (size_t q0 = 0; q0 < cols; q0 += nr) {
      const size_t n = std::min(nr, cols - q0);
      size_t count = 0;
      for (size_t at = 0; at < n;) {
        const size_t r = j0 + q0 + at, img = r / p, px = r % p;
        size_t length = std::min(n - at, p - px), from = (img * s_.c + k0) * plane + px;
        if (!contiguous) {
          const size_t oy = px / s_.ow, ox = px % s_.ow;
          length = std::min(length, s_.ow - ox);
          from = (img * s_.c + k0) * plane + oy * s_.stride_h * s_.w + ox * stride;
        }
        runs[count++] = {from, at, length};
        at += length;
      }
      float* panel = dst + q0 * kc;
      for (size_t kk = 0; kk < kc; kk++) {
        const float* src = x_ + kk * plane;
        float* out = panel + kk * nr;
        for (size_t i = 0; i < count; i++) {
          const Run& run = runs[i];
          if (stride == 1) {
            copy_short(src + run.from, run.count, out + run.at);
          } else if (stride == 2) {
            copy_even_short(src + run.from, run.count, out + run.at);
          } else {
            for (size_t j = 0; j < run.count; j++) out[run.at + j] = src[run.from + j * stride];
          }
        }
        if (n < nr) zero_short(out + n, nr - n);
      }
    }
  }

 private:
  const ConvShape& s_;
  const float* x_;
};

// A 1×1 convolution that PixelRows can read: unpadded, at one stride both ways, in one group.
bool pixel_rows_eligible(const ConvShape& s) {
  return s.kh == 1 && s.kw == 1 && s.pad_h == 0 && s.pad_w == 0 && s.stride_h == s.stride_w && s.groups == 1;
}

// The GEMM forward pass with weights packed by pack_weights / the GEMM branch of conv2d_pack_weight. Pointwise
// convolutions multiply the input planes themselves; the others gather their im2col from the image (TapColumns).
// Whole images per thread when there are enough (each pads its image, serial GEMMs); otherwise image after image,
// the threads sharing its padding and its GEMMs.
void gemm_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep, float* y) {
  const size_t cg = s.cg(), ocg = s.ocg(), k = s.k(), p = s.p();
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * p, w_stride = sgemm_packed_a_size(ocg, k);
  const bool any = ep.bias || ep.residual || ep.relu;
  const bool strided_pointwise = !s.pointwise() && pixel_rows_eligible(s);
  std::optional<PhasePlan> plan;
  if (!s.pointwise() && !strided_pointwise) plan.emplace(s, 1);
  for_chunks(s.n, 1, [&](size_t img, size_t, bool shared) {
    const float* xi = x + img * in_image;
    float* phases = plan ? padded_image(s, *plan, x, img, shared) : nullptr;
    for (size_t grp = 0; grp < s.groups; grp++) {
      const size_t y_offset = img * out_image + grp * ocg * p;
      // Bias, residual and ReLU are applied by the GEMM to each finished tile while it is still in L1.
      const GemmEpilogue epilogue{ep.bias ? ep.bias + grp * ocg : nullptr,
                                  ep.residual ? ep.residual + y_offset : nullptr, p, ep.relu};
      const float* wg = packed_w + grp * w_stride;
      if (plan) {
        const TapColumns columns(s, *plan, phases, plan->offsets.data() + grp * k);
        sgemm_packed_a_source(ocg, p, k, wg, columns, y + y_offset, p, any ? &epilogue : nullptr);
      } else if (strided_pointwise) {
        sgemm_packed_a_source(ocg, p, k, wg, PixelRows(s, xi), y + y_offset, p, any ? &epilogue : nullptr);
      } else {
        sgemm_packed_a(ocg, p, k, 1.0f, wg, false, xi + grp * cg * p, p, 0.0f, y + y_offset, p,
                       any ? &epilogue : nullptr);
      }
    }
  });
}

// Tiles of the transposed product (rows: output pixels of consecutive images from image `img0`, columns: output
// channels) into y in NCHW order, with bias, residual and ReLU on the way.
class NchwTiles final : public TileSink {
 public:
  NchwTiles(const ConvShape& s, const ConvEpilogue& ep, float* y, size_t img0) : s_(s), ep_(ep), y_(y), img0_(img0) {}

  void store(size_t i0, size_t j0, size_t m, size_t n, const float* tile, size_t ld) const override {
    const size_t p = s_.p();
    const bool any = ep_.bias || ep_.residual || ep_.relu;
    for (size_t i = 0; i < m;) {  // a run of rows within one image
      const size_t r = i0 + i, img = img0_ + r / p, px = r % p, length = std::min(m - i, p - px);
      const size_t at = (img * s_.oc + j0) * p + px;
      const TileEpilogue ep{ep_.bias ? ep_.bias + j0 : nullptr, ep_.residual ? ep_.residual + at : nullptr, p,
                            ep_.relu};
      sgemm_store_columns(tile + i * ld, ld, length, n, y_ + at, p, any ? &ep : nullptr);
      i += length;
    }
  }

 private:
  const ConvShape& s_;
  const ConvEpilogue& ep_;
  float* y_;
  size_t img0_;
};

// The forward pass with the weights packed as B (rows_eligible): one GEMM over the whole batch for pointwise
// convolutions; otherwise one per image, its rows gathered from the padded image (TapColumns with MR-wide panels),
// whole images per thread when there are enough.
void rows_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep, float* y) {
  const size_t k = s.k(), p = s.p();
  if (s.pointwise()) {
    sgemm_source_a_packed_b(s.n * p, s.oc, k, PixelRows(s, x), packed_w, NchwTiles(s, ep, y, 0));
    return;
  }
  const PhasePlan plan(s, 1);
  for_chunks(s.n, 1, [&](size_t img, size_t, bool shared) {
    const TapColumns rows(s, plan, padded_image(s, plan, x, img, shared), plan.offsets.data());
    sgemm_source_a_packed_b(p, s.oc, k, rows, packed_w, NchwTiles(s, ep, y, img));
  });
}

}  // namespace

// Without prepacked weights (training) the paths go: direct with images in lanes (3×3, narrow or on small planes),
// direct (narrow 3×3), strided direct (stems), several images per GEMM (small planes), Winograd (3×3 with 64+
// channels and enough tiles), im2col + GEMM.
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  size_t w_stride = 0;
  if (direct_lanes_eligible(s)) {
    direct_lanes_forward(s, x, w, ep, y);
  } else if (direct_eligible(s)) {
    direct_forward(s, x, w, ep, y);
  } else if (direct_strided_eligible(s)) {
    direct_strided_forward(s, x, w, ep, y);
  } else if (batched_eligible(s)) {
    batched_forward(s, x, pack_weights(s, w, false, w_stride), ep, y);
  } else if (winograd_pays(s, false)) {
    winograd_forward(s, x, w, ep, y);
  } else {
    gemm_forward_packed(s, x, pack_weights(s, w, false, w_stride), ep, y);
  }
}

void conv2d_forward_packed(const ConvShape& s, const float* x, const float* packed_w, size_t packed_size,
                           const ConvEpilogue& ep, float* y) {
  if (winograd_eligible(s) && winograd_packed_size_ok(s, packed_size)) {
    winograd_forward_packed(s, x, packed_w, packed_size, ep, y);
  } else if (direct_eligible(s)) {
    direct_forward_packed(s, x, packed_w, ep, y);
  } else if (direct_strided_eligible(s)) {
    direct_strided_forward_packed(s, x, packed_w, ep, y);
  } else if (s.groups == 1 && packed_size == rows_packed_weight_size(s)) {
    rows_forward_packed(s, x, packed_w, ep, y);
  } else {
    gemm_forward_packed(s, x, packed_w, ep, y);
  }
}

namespace {

// dx (overwritten, or with accumulate added to) by every path but the images-in-lanes one: the direct and Winograd
// paths take dx as its own residual, the GEMM ones add through beta or by not zeroing before col2im.
void backward_input(const ConvShape& s, const float* dy, const float* w, float* dx, bool accumulate) {
  if (direct_eligible(s)) {
    direct_backward_input(s, dy, w, dx, accumulate);
    return;
  }
  if (batched_eligible(s)) {
    size_t w_stride = 0;
    batched_backward_input(s, dy, pack_weights(s, w, true, w_stride), dx, accumulate);
    return;
  }
  if (winograd_pays(s, false)) {
    winograd_backward_input(s, dy, w, dx, accumulate);
    return;
  }
  const size_t cg = s.cg(), ocg = s.ocg(), k = s.k(), p = s.p(), pairs = s.n * s.groups;
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * p;
  size_t w_stride = 0;
  const float* packed_wt = pack_weights(s, w, true, w_stride);
  const size_t rows = band_rows(s);
  auto run_pair = [&](size_t pair, bool shared) {
    const size_t img = pair / s.groups, grp = pair % s.groups;
    const float* dyg = dy + img * out_image + grp * ocg * p;
    const float* wtg = packed_wt + grp * w_stride;
    float* dxg = dx + img * in_image + grp * cg * s.h * s.w;
    if (s.pointwise()) {
      sgemm_packed_a(k, p, ocg, 1.0f, wtg, false, dyg, p, accumulate ? 1.0f : 0.0f, dxg, p);
      return;
    }
    // Band by band as in the forward pass, so that dcol stays in L2 between the GEMM and col2im.
    float* dcol = thread_scratch<kIm2col>(k * rows * s.ow);
    if (!accumulate) std::fill(dxg, dxg + cg * s.h * s.w, 0.0f);
    for (size_t oy0 = 0; oy0 < s.oh; oy0 += rows) {
      const size_t oy1 = std::min(s.oh, oy0 + rows), columns = (oy1 - oy0) * s.ow;
      sgemm_packed_a(k, columns, ocg, 1.0f, wtg, false, dyg + oy0 * s.ow, p, 0.0f, dcol, columns);
      parallel_ranges_if(shared, cg, 1, [&](size_t c0, size_t c1) { col2im(s, dcol, c0, c1, oy0, oy1, dxg); });
    }
  };
  if (whole_items_per_thread(pairs)) {
    parallel_for(pairs, [&](size_t pair) { run_pair(pair, false); });
  } else {
    for (size_t pair = 0; pair < pairs; pair++) run_pair(pair, true);
  }
}

void backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  const size_t cg = s.cg(), ocg = s.ocg(), k = s.k(), p = s.p();
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * p, dw_size = s.oc * k;
  if (s.n == 0) {
    std::fill(dw, dw + dw_size, 0.0f);
    return;
  }
  if (direct_eligible(s)) {
    direct_backward_weight(s, dy, x, dw);
    return;
  }
  if (batched_eligible(s)) {
    batched_backward_weight(s, dy, x, dw);
    return;
  }
  if (winograd_pays(s, false)) {
    winograd_backward_weight(s, dy, x, dw);
    return;
  }
  // Images [i0, i1), all groups, summed into out (overwritten).
  // Bands of output rows as in the forward pass: each adds dy[:, band]·col_bandᵀ, a slice of the GEMM's depth.
  const size_t rows = band_rows(s);
  auto run_images = [&](size_t i0, size_t i1, float* out, bool shared) {
    float* col = s.pointwise() ? nullptr : thread_scratch<kIm2col>(k * rows * s.ow);
    for (size_t img = i0; img < i1; img++) {
      for (size_t grp = 0; grp < s.groups; grp++) {
        const float* xg = x + img * in_image + grp * cg * s.h * s.w;
        for (size_t oy0 = 0; oy0 < s.oh; oy0 += rows) {
          const size_t oy1 = std::min(s.oh, oy0 + rows), columns = (oy1 - oy0) * s.ow;
          const float* b = unfold(s, xg, col, oy0, oy1, shared);
          const float beta = img == i0 && oy0 == 0 ? 0.0f : 1.0f;
          sgemm(false, true, ocg, k, columns, 1.0f, dy + img * out_image + grp * ocg * p + oy0 * s.ow, p, b,
                s.pointwise() ? p : columns, beta, out + grp * ocg * k, k);
        }
      }
    }
  };
  sum_over_parts(s.n, dw_size, dw, run_images);
}

}  // namespace

// The lanes path takes both gradients at once (direct_lanes_backward), but for dx at stride 2, which goes the
// im2col way.
void conv2d_backward(const ConvShape& s, const float* dy, const float* x, const float* w, float* dx, bool accumulate,
                     float* dw) {
  if (s.n > 0 && direct_lanes_eligible(s)) {
    const bool dx_in_lanes = s.stride_h == 1;
    if (dx && !dx_in_lanes) backward_input(s, dy, w, dx, accumulate);
    direct_lanes_backward(s, dy, x, w, dx_in_lanes ? dx : nullptr, accumulate, dw);
    return;
  }
  if (dx) backward_input(s, dy, w, dx, accumulate);
  if (dw) backward_weight(s, dy, x, dw);
}

}  // namespace resnet
