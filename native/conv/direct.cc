// The direct 3×3 convolution's driver (direct.h): picks the tile kernel for the CPU, lays the weights out for it,
// pads each image once, and walks the output in tiles on the thread pool.
#include "direct.h"

#include <algorithm>
#include <vector>

#include "../cpu/features.h"
#include "../gemm/ukernel.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../short_copy.h"
#include "../threadpool.h"
#include "phases.h"
#include "winograd.h"

namespace resnet {
namespace {

struct DirectKernel {
  size_t ocb;    // output channels per tile
  size_t lanes;  // pixels per vector
  DirectTileFn tile;
  size_t dw_ocb;   // output channels per weight-gradient call
  size_t dw_rows;  // kernel rows per weight-gradient call: 1 or all 3
  DirectWeightGradFn dw;
  DirectTapsTileFn taps;  // the same tile over a list of taps (direct_strided_*)
  DirectTileFn lanes_tile;           // the tile with images in lanes (direct_lanes_*)
  DirectLanesWeightGradFn dw_lanes;  // the weight gradient with images in lanes
};

const DirectKernel* select() {
  switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
    case Isa::kAvx512: {
      static const DirectKernel k{8, 16, direct3x3_tile_8x2x16_avx512, 3, 3, direct3x3_dw_3x9_avx512,
                                    direct_taps_tile_8x2x16_avx512, direct3x3_lanes_tile_8x2x16_avx512,
                                    direct3x3_lanes_dw_3x9_avx512};
      return &k;
    }
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    case Isa::kAvx2Fma: {
      static const DirectKernel k{6, 8, direct3x3_tile_6x2x8_avx2_fma, 4, 1, direct3x3_dw_4x3_avx2_fma,
                                    direct_taps_tile_6x2x8_avx2_fma, direct3x3_lanes_tile_6x2x8_avx2_fma,
                                    direct3x3_lanes_dw_4x3_avx2_fma};
      return &k;
    }
#endif
    default:
      return nullptr;  // the portable build keeps im2col + GEMM
  }
}

const DirectKernel* kernel() {
  static const DirectKernel* k = select();
  return k;
}

// The same-size 3×3 convolution of `in_channels` planes of h×w into `out_channels` planes, with weights in
// the tile layout [block][in_channels][9][ocb]: what the forward pass and the input gradient both run.
struct Plan {
  size_t n, in_channels, out_channels, h, w;
  size_t chunks, padded_w, padded_plane, items;

  Plan(size_t n_, size_t cin, size_t cout, size_t h_, size_t w_, size_t lanes)
      : n(n_), in_channels(cin), out_channels(cout), h(h_), w(w_) {
    chunks = ceil_div(w, lanes);
    padded_w = chunks * lanes + 2;  // the last chunk's loads at kx = 2 end here
    padded_plane = (h + 2) * padded_w;
    items = h * chunks;  // (row, chunk) vectors of one image
  }
};

// Image `src` [in_channels, h, w] into `dst` with a zero border: one row and column of padding, and zeros to the
// right of each row for the lanes past the image's width.
void pad_image(const Plan& p, const float* src, float* dst, size_t c0, size_t c1) {
  for (size_t c = c0; c < c1; c++) {
    float* plane = dst + c * p.padded_plane;
    zero_short(plane, p.padded_w);
    for (size_t y = 0; y < p.h; y++) {
      float* row = plane + (y + 1) * p.padded_w;
      row[0] = 0.0f;
      copy_short(src + (c * p.h + y) * p.w, p.w, row + 1);
      zero_short(row + 1 + p.w, p.padded_w - 1 - p.w);
    }
    zero_short(plane + (p.h + 1) * p.padded_w, p.padded_w);
  }
}

// Tiles [t0, t1) of one padded image: tile t takes vectors 2t and 2t + 1 (rows and chunks in order) against every
// block of output channels.
void run_tiles(const DirectKernel& k, const Plan& p, const float* padded, const float* packed_w, const float* bias,
               const float* residual, bool relu, float* y, size_t t0, size_t t1) {
  const size_t out_plane = p.h * p.w, blocks = ceil_div(p.out_channels, k.ocb);
  for (size_t t = t0; t < t1; t++) {
    DirectTile tile{};
    size_t offsets[2] = {0, 0};
    for (size_t v = 0; v < 2; v++) {
      const size_t item = std::min(2 * t + v, p.items - 1);
      const size_t oy = item / p.chunks, ox = item % p.chunks * k.lanes;
      tile.in[v] = padded + oy * p.padded_w + ox;
      offsets[v] = oy * p.w + ox;
      tile.valid[v] = 2 * t + v < p.items ? std::min(k.lanes, p.w - ox) : 0;
    }
    for (size_t b = 0; b < blocks; b++) {
      const size_t oc0 = b * k.ocb;
      for (size_t v = 0; v < 2; v++) {
        tile.out[v] = y + oc0 * out_plane + offsets[v];
        tile.residual[v] = residual ? residual + oc0 * out_plane + offsets[v] : nullptr;
      }
      k.tile(p.in_channels, packed_w + b * p.in_channels * 9 * k.ocb, p.padded_plane, p.padded_w, tile, out_plane,
             std::min(k.ocb, p.out_channels - oc0), bias ? bias + oc0 : nullptr, relu);
    }
  }
}

// Runs image(img, padded, shared) over the batch, padded a scratch buffer of `padded_floats` for the image: whole
// images per thread when they divide evenly or are plentiful; otherwise image after image, the threads sharing each
// (shared: the image's loops split over the pool).
template <typename Image>
void for_images(size_t n, size_t padded_floats, Image image) {
  if (whole_items_per_thread(n)) {
    const size_t threads = num_threads();
    parallel_for(threads, [&](size_t t) {
      float* padded = thread_scratch<kIm2col>(padded_floats);
      for (size_t img = n * t / threads; img < n * (t + 1) / threads; img++) image(img, padded, false);
    });
  } else {
    float* padded = thread_scratch<kIm2col>(padded_floats);
    for (size_t img = 0; img < n; img++) image(img, padded, true);
  }
}

void run(const Plan& p, const float* x, const float* packed_w, const ConvEpilogue& ep, float* y) {
  const DirectKernel& k = *kernel();
  const size_t in_image = p.in_channels * p.h * p.w, out_image = p.out_channels * p.h * p.w;
  const size_t tiles = ceil_div(p.items, 2);
  for_images(p.n, p.in_channels * p.padded_plane, [&](size_t img, float* padded, bool shared) {
    const float* residual = ep.residual ? ep.residual + img * out_image : nullptr;
    parallel_ranges_if(shared, p.in_channels, 1, [&](size_t c0, size_t c1) {
      pad_image(p, x + img * in_image, padded, c0, c1);
    });
    parallel_ranges_if(shared, tiles, 1, [&](size_t t0, size_t t1) {
      run_tiles(k, p, padded, packed_w, ep.bias, residual, ep.relu, y + img * out_image, t0, t1);
    });
  });
}

// Weights into the tile layout: packed[b][ci][tap][i] = w(b·ocb + i, ci, tap), zero past the last output channel.
// For the input gradient the roles swap: output channel o of the convolution is input channel o of the layer, and
// the taps are flipped (the gradient of a correlation is a convolution).
void pack(const ConvShape& s, const float* w, float* packed, bool for_input_gradient) {
  const size_t ocb = kernel()->ocb;
  const size_t cout = for_input_gradient ? s.c : s.oc, cin = for_input_gradient ? s.oc : s.c;
  const size_t blocks = ceil_div(cout, ocb);
  parallel_ranges(blocks, 1, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; b++) {
      float* dst = packed + b * cin * 9 * ocb;
      for (size_t ci = 0; ci < cin; ci++) {
        for (size_t tap = 0; tap < 9; tap++) {
          for (size_t i = 0; i < ocb; i++) {
            const size_t o = b * ocb + i;
            float value = 0.0f;
            if (o < cout) value = for_input_gradient ? w[(ci * s.c + o) * 9 + 8 - tap] : w[(o * s.c + ci) * 9 + tap];
            *dst++ = value;
          }
        }
      }
    }
  });
}

// Per-lane partial sums of dw, [block][C][ky][dw_ocb][kx][lanes]: what the weight-gradient kernel adds to.
size_t lane_sums_size(const DirectKernel& k, const Plan& p) {
  return ceil_div(p.out_channels, k.dw_ocb) * p.in_channels * 3 * k.dw_ocb * 3 * k.lanes;
}

// `images` padded images' contribution (dy and padded images `out_image` and `in_channels·padded_plane` apart), for
// the (block, input channel) pairs [q0, q1) (disjoint parts of `lanes`).
void weight_grad_pairs(const DirectKernel& k, const Plan& p, size_t images, const float* dy, const float* padded,
                       float* lanes, size_t q0, size_t q1) {
  const size_t plane = p.h * p.w, row_sums = k.dw_ocb * 3 * k.lanes;
  for (size_t q = q0; q < q1; q++) {
    const size_t b = q / p.in_channels, c = q % p.in_channels, oc0 = b * k.dw_ocb;
    const size_t ocs = std::min(k.dw_ocb, p.out_channels - oc0);
    for (size_t ky = 0; ky < 3; ky += k.dw_rows) {
      k.dw(images, dy + oc0 * plane, p.out_channels * plane, plane, ocs, p.h, p.w,
           padded + c * p.padded_plane + ky * p.padded_w, p.in_channels * p.padded_plane, p.padded_w,
           lanes + (q * 3 + ky) * row_sums);
    }
  }
}

// dw[oc][c][ky][kx] = the sum over the lanes of each part's partial sums, in a fixed order.
void reduce_lanes(const DirectKernel& k, const Plan& p, const float* parts, size_t count, float* dw) {
  const size_t size = lane_sums_size(k, p), row_sums = k.dw_ocb * 3 * k.lanes;
  parallel_ranges(ceil_div(p.out_channels, k.dw_ocb) * p.in_channels, 1, [&](size_t q0, size_t q1) {
    for (size_t q = q0; q < q1; q++) {
      const size_t b = q / p.in_channels, c = q % p.in_channels, oc0 = b * k.dw_ocb;
      for (size_t ky = 0; ky < 3; ky++) {
        for (size_t i = 0; i < std::min(k.dw_ocb, p.out_channels - oc0); i++) {
          for (size_t kx = 0; kx < 3; kx++) {
            double sum = 0;
            for (size_t part = 0; part < count; part++) {
              const float* l = parts + part * size + (q * 3 + ky) * row_sums + (i * 3 + kx) * k.lanes;
              for (size_t lane = 0; lane < k.lanes; lane++) sum += l[lane];
            }
            dw[(((oc0 + i) * p.in_channels + c) * 3 + ky) * 3 + kx] = static_cast<float>(sum);
          }
        }
      }
    }
  });
}

// The strided direct convolution (direct_strided_*) reads the image in the padded phase layout (phases.h), whose
// rows hold whole vectors of `lanes` outputs: every tap of every input channel is one offset from the tile's base.
// Items are (output row, chunk) vectors, chunks = ⌈OW / lanes⌉ per row.

// Tiles [t0, t1) of one padded image: tile t takes vectors 2t and 2t + 1 (rows and chunks in order). Block by block
// of output channels, each over all the tiles: a block's weights (the stem's: 147 taps × 8 channels, 4.7 KB) stay in
// L1 while the tiles stream the padded image from L2. Tile by tile, all 8 blocks' weights (37 KB) and the tile's
// input rows did not fit L1 together, and the stem ran at 60% of im2col + GEMM's speed.
void run_strided_tiles(const DirectKernel& k, const ConvShape& s, const PhasePlan& p, const float* padded,
                       const float* packed_w, const float* bias, const float* residual, bool relu, float* y,
                       size_t t0, size_t t1) {
  const size_t out_plane = s.oh * s.ow, blocks = ceil_div(s.oc, k.ocb), taps = p.offsets.size();
  const size_t chunks = ceil_div(s.ow, k.lanes), items = s.oh * chunks;
  for (size_t b = 0; b < blocks; b++) {
    const size_t oc0 = b * k.ocb;
    for (size_t t = t0; t < t1; t++) {
      DirectTile tile{};
      for (size_t v = 0; v < 2; v++) {
        const size_t item = std::min(2 * t + v, items - 1);
        const size_t oy = item / chunks, ox = item % chunks * k.lanes, at = oc0 * out_plane + oy * s.ow + ox;
        tile.in[v] = padded + p.row_base(s, oy) + ox;
        tile.out[v] = y + at;
        tile.residual[v] = residual ? residual + at : nullptr;
        tile.valid[v] = 2 * t + v < items ? std::min(k.lanes, s.ow - ox) : 0;
      }
      k.taps(taps, p.offsets.data(), packed_w + b * taps * k.ocb, tile, out_plane, std::min(k.ocb, s.oc - oc0),
             bias ? bias + oc0 : nullptr, relu);
    }
  }
}

}  // namespace

bool direct_eligible(const ConvShape& s) {
  return kernel() != nullptr && s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && !winograd_eligible(s);
}

size_t direct_packed_weight_size(const ConvShape& s) { return ceil_div(s.oc, kernel()->ocb) * kernel()->ocb * s.c * 9; }

void direct_pack_weight(const ConvShape& s, const float* w, float* packed) { pack(s, w, packed, false); }

void direct_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep,
                           float* y) {
  run(Plan(s.n, s.c, s.oc, s.h, s.w, kernel()->lanes), x, packed_w, ep, y);
}

void direct_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  float* packed = thread_scratch<kPackedWeight>(direct_packed_weight_size(s));
  pack(s, w, packed, false);
  direct_forward_packed(s, x, packed, ep, y);
}

void direct_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx) {
  const size_t ocb = kernel()->ocb;
  float* packed = thread_scratch<kPackedWeight>(ceil_div(s.c, ocb) * ocb * s.oc * 9);
  pack(s, w, packed, true);
  run(Plan(s.n, s.oc, s.c, s.h, s.w, kernel()->lanes), dy, packed, ConvEpilogue{nullptr, nullptr, false}, dx);
}

void direct_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  const DirectKernel& k = *kernel();
  const Plan p(s.n, s.c, s.oc, s.h, s.w, k.lanes);
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * s.h * s.w, size = lane_sums_size(k, p);
  const size_t pairs = ceil_div(s.oc, k.dw_ocb) * s.c;
  // Images are taken a group at a time, so that each kernel call runs over some 512 output pixels: for small
  // images (14×14, 7×7) the per-call cost of adding the kernel's accumulators to `lanes` would otherwise rival the
  // products.
  const size_t group = std::min<size_t>(8, std::max<size_t>(1, 512 / (s.h * s.w)));
  const size_t padded_group = group * s.c * p.padded_plane;
  const size_t parts = summing_parts(s.n);
  float* lanes = thread_scratch<kWeightGradPartials>(parts * size);
  std::fill(lanes, lanes + parts * size, 0.0f);
  auto pad_images = [&](size_t img0, size_t images, float* padded, size_t c0, size_t c1) {
    for (size_t i = 0; i < images; i++) {
      pad_image(p, x + (img0 + i) * in_image, padded + i * s.c * p.padded_plane, c0, c1);
    }
  };
  if (parts == 1) {
    // A group at a time, the threads sharing each: they pad it together, then take (block, channel) pairs, whose
    // partial sums do not overlap.
    float* padded = thread_scratch<kIm2col>(padded_group);
    for (size_t img = 0; img < s.n; img += group) {
      const size_t images = std::min(group, s.n - img);
      parallel_ranges(s.c, 1, [&](size_t c0, size_t c1) { pad_images(img, images, padded, c0, c1); });
      parallel_ranges(pairs, 1, [&](size_t q0, size_t q1) {
        weight_grad_pairs(k, p, images, dy + img * out_image, padded, lanes, q0, q1);
      });
    }
    reduce_lanes(k, p, lanes, 1, dw);
    return;
  }
  // Whole images per thread, each into its own partial sums; the parts are added in a fixed order.
  parallel_for(parts, [&](size_t t) {
    float* padded = thread_scratch<kIm2col>(padded_group);
    const size_t end = s.n * (t + 1) / parts;
    for (size_t img = s.n * t / parts; img < end; img += group) {
      const size_t images = std::min(group, end - img);
      pad_images(img, images, padded, 0, s.c);
      weight_grad_pairs(k, p, images, dy + img * out_image, padded, lanes + t * size, 0, pairs);
    }
  });
  reduce_lanes(k, p, lanes, parts, dw);
}

// Strided convolutions with few taps: see direct.h.
constexpr size_t kMaxStridedTaps = 160;

bool direct_strided_eligible(const ConvShape& s) {
  return kernel() != nullptr && s.groups == 1 && s.stride_h == 2 && s.stride_w == 2 &&
         s.c * s.kh * s.kw <= kMaxStridedTaps;
}

size_t direct_strided_packed_weight_size(const ConvShape& s) {
  return ceil_div(s.oc, kernel()->ocb) * kernel()->ocb * s.k();
}

void direct_strided_pack_weight(const ConvShape& s, const float* w, float* packed) {
  // packed[b][tap][i] = w(b·ocb + i, tap), zero past the last output channel; taps in (ci, ky, kx) order, as w's.
  const size_t ocb = kernel()->ocb, taps = s.k(), blocks = ceil_div(s.oc, ocb);
  for (size_t b = 0; b < blocks; b++) {
    for (size_t t = 0; t < taps; t++) {
      for (size_t i = 0; i < ocb; i++) {
        const size_t o = b * ocb + i;
        packed[(b * taps + t) * ocb + i] = o < s.oc ? w[o * taps + t] : 0.0f;
      }
    }
  }
}

void direct_strided_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep,
                                   float* y) {
  const DirectKernel& k = *kernel();
  const PhasePlan p(s, k.lanes);
  const size_t in_image = s.c * s.h * s.w, out_image = s.oc * s.oh * s.ow;
  const size_t tiles = ceil_div(s.oh * ceil_div(s.ow, k.lanes), 2);
  for_images(s.n, p.image_floats(s), [&](size_t img, float* padded, bool shared) {
    const float* residual = ep.residual ? ep.residual + img * out_image : nullptr;
    parallel_ranges_if(shared, s.c, 1, [&](size_t c0, size_t c1) {
      pad_phases(s, p, x + img * in_image, padded, c0, c1);
    });
    parallel_ranges_if(shared, tiles, 1, [&](size_t t0, size_t t1) {
      run_strided_tiles(k, s, p, padded, packed_w, ep.bias, residual, ep.relu, y + img * out_image, t0, t1);
    });
  });
}

void direct_strided_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  float* packed = thread_scratch<kPackedWeight>(direct_strided_packed_weight_size(s));
  direct_strided_pack_weight(s, w, packed);
  direct_strided_forward_packed(s, x, packed, ep, y);
}

}  // namespace resnet

// Images in lanes (direct.h): the layout [C][rows][cols][L], one vector per pixel holding L images.
namespace resnet {
namespace {

struct LaneLayout {
  size_t lanes, h, w;
  size_t padded_w, padded_plane;  // in pixels, with a one-pixel zero border

  LaneLayout(size_t lanes_, size_t h_, size_t w_)
      : lanes(lanes_), h(h_), w(w_), padded_w(w_ + 2), padded_plane((h_ + 2) * (w_ + 2)) {}
  size_t plane() const { return h * w; }
};

// Channels [c0, c1) of `count` images (image i at src + i·image_stride, planes h×w) into dst: [C][h + 2][w + 2][L]
// with a zero border when `padded`, else [C][h·w][L]; lanes from count on are zero. Four images at a time go
// through 4×4 transposes of four pixels each.
void to_lanes(const LaneLayout& g, const float* src, size_t image_stride, size_t count, bool padded, float* dst,
              size_t c0, size_t c1) {
  const size_t L = g.lanes, b = padded ? 1 : 0, cols = g.w + 2 * b, plane = (g.h + 2 * b) * cols;
  for (size_t c = c0; c < c1; c++) {
    float* out = dst + c * plane * L;
    if (padded) {
      zero_short(out, cols * L);
      zero_short(out + (g.h + 1) * cols * L, cols * L);
    }
    for (size_t y = 0; y < g.h; y++) {
      float* row = out + ((y + b) * cols + b) * L;
      if (padded) {
        zero_short(row - L, L);
        zero_short(row + g.w * L, L);
      }
      const size_t in_row = (c * g.h + y) * g.w;
      for (size_t l0 = 0; l0 < L; l0 += 4) {
        size_t x = 0;
#if defined(__SSE2__)
        if (l0 + 4 <= count) {
          const float* s0 = src + l0 * image_stride + in_row;
          for (; x + 4 <= g.w; x += 4) {
            __m128 a0 = _mm_loadu_ps(s0 + x), a1 = _mm_loadu_ps(s0 + image_stride + x);
            __m128 a2 = _mm_loadu_ps(s0 + 2 * image_stride + x), a3 = _mm_loadu_ps(s0 + 3 * image_stride + x);
            _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
            _mm_storeu_ps(row + x * L + l0, a0);
            _mm_storeu_ps(row + (x + 1) * L + l0, a1);
            _mm_storeu_ps(row + (x + 2) * L + l0, a2);
            _mm_storeu_ps(row + (x + 3) * L + l0, a3);
          }
        }
#endif
        for (; x < g.w; x++) {
          for (size_t l = l0; l < l0 + 4; l++) row[x * L + l] = l < count ? src[l * image_stride + in_row + x] : 0.0f;
        }
      }
    }
  }
}

// The inverse of to_lanes (unpadded), for channels [c0, c1) of the first `count` lanes: dst image i at
// dst + i·image_stride.
void from_lanes(const LaneLayout& g, const float* src, size_t count, float* dst, size_t image_stride, size_t c0,
                size_t c1) {
  const size_t L = g.lanes, p = g.plane();
  for (size_t c = c0; c < c1; c++) {
    const float* in = src + c * p * L;
    for (size_t l0 = 0; l0 < count; l0 += 4) {
      float* d0 = dst + l0 * image_stride + c * p;
      size_t q = 0;
#if defined(__SSE2__)
      if (l0 + 4 <= count) {
        for (; q + 4 <= p; q += 4) {
          __m128 a0 = _mm_loadu_ps(in + q * L + l0), a1 = _mm_loadu_ps(in + (q + 1) * L + l0);
          __m128 a2 = _mm_loadu_ps(in + (q + 2) * L + l0), a3 = _mm_loadu_ps(in + (q + 3) * L + l0);
          _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
          _mm_storeu_ps(d0 + q, a0);
          _mm_storeu_ps(d0 + image_stride + q, a1);
          _mm_storeu_ps(d0 + 2 * image_stride + q, a2);
          _mm_storeu_ps(d0 + 3 * image_stride + q, a3);
        }
      }
#endif
      for (; q < p; q++) {
        for (size_t l = l0; l < std::min(count, l0 + 4); l++) d0[(l - l0) * image_stride + q] = in[q * L + l];
      }
    }
  }
}

// Runs group(first image, count, shared) over the batch in groups of L images: whole groups per thread when there
// are enough, otherwise group after group with the threads sharing each.
template <typename Group>
void for_lane_groups(size_t n, size_t lanes, Group group) {
  const size_t groups = ceil_div(n, lanes);
  auto one = [&](size_t gi, bool shared) { group(gi * lanes, std::min(lanes, n - gi * lanes), shared); };
  if (whole_items_per_thread(groups)) {
    parallel_for(groups, [&](size_t gi) { one(gi, false); });
  } else {
    for (size_t gi = 0; gi < groups; gi++) one(gi, true);
  }
}

// Tiles [t0, t1) of one group (tile t: output pixels 2t and 2t + 1 × OCB channels, over the cin·9 taps) of a
// convolution from the input `in` (padded) to the output `out` ([cout][P][L]) at `stride`: in bands whose input rows
// (about kLaneBandFloats) stay in L2, and in each band block by block of output channels, each block over all the
// band's tiles, so that its weights stay in L1.
constexpr size_t kLaneBandFloats = 128 * 1024;

void run_lane_tiles(const DirectKernel& k, const LaneLayout& in, const LaneLayout& out_layout, size_t stride,
                    size_t cin, size_t cout, const float* padded, const float* packed_w, float* out, size_t t0,
                    size_t t1) {
  const size_t L = in.lanes, p = out_layout.plane(), ow = out_layout.w, blocks = ceil_div(cout, k.ocb);
  const size_t rows = std::max<size_t>(3, kLaneBandFloats / (cin * in.padded_w * L)) - 2;
  const size_t band = std::max<size_t>(1, std::max<size_t>(1, rows / stride) * ow / 2);
  for (size_t band0 = t0; band0 < t1; band0 += band) {
    const size_t band1 = std::min(t1, band0 + band);
    for (size_t b = 0; b < blocks; b++) {
      const size_t oc0 = b * k.ocb;
      for (size_t t = band0; t < band1; t++) {
        DirectTile tile{};
        for (size_t v = 0; v < 2; v++) {
          const size_t q = std::min(2 * t + v, p - 1);
          tile.in[v] = padded + (q / ow * in.padded_w + q % ow) * stride * L;
          tile.out[v] = out + (oc0 * p + q) * L;
          tile.valid[v] = 2 * t + v < p ? L : 0;
        }
        k.lanes_tile(cin, packed_w + b * cin * 9 * k.ocb, in.padded_plane * L, in.padded_w * L, tile, p * L,
                     std::min(k.ocb, cout - oc0), nullptr, false);
      }
    }
  }
}

// The 3×3 convolution of `cin` channels into `cout` at `stride` (the forward pass, or at stride 1 the input
// gradient with dy in and the weights flipped), weights in the tile layout [block][cin][9][OCB]. Per group: x to
// lanes with its border, the tiles, the output back to NCHW with the epilogue.
void lanes_run(const ConvShape& s, size_t stride, size_t cin, size_t cout, const float* x, const float* packed_w,
               const ConvEpilogue& ep, float* y) {
  const DirectKernel& k = *kernel();
  const LaneLayout g(k.lanes, s.h, s.w), go(k.lanes, s.oh, s.ow);
  const size_t L = k.lanes, p = go.plane(), in_image = cin * g.plane(), out_image = cout * p;
  const size_t tiles = ceil_div(p, 2);
  const bool any = ep.bias || ep.residual || ep.relu;
  for_lane_groups(s.n, L, [&](size_t img0, size_t count, bool shared) {
    float* padded = thread_scratch<kIm2col>(cin * g.padded_plane * L);
    float* out = thread_scratch<kImageColumns>(cout * p * L);
    parallel_ranges_if(shared, cin, 1, [&](size_t c0, size_t c1) {
      to_lanes(g, x + img0 * in_image, in_image, count, true, padded, c0, c1);
    });
    parallel_ranges_if(shared, tiles, 1, [&](size_t t0, size_t t1) {
      run_lane_tiles(k, g, go, stride, cin, cout, padded, packed_w, out, t0, t1);
    });
    parallel_ranges_if(shared, cout, 1, [&](size_t c0, size_t c1) {
      float* yg = y + img0 * out_image;
      from_lanes(go, out, count, yg, out_image, c0, c1);
      if (!any) return;
      for (size_t i = 0; i < count; i++) {
        for (size_t oc = c0; oc < c1; oc++) {
          const size_t at = (img0 + i) * out_image + oc * p;
          const TileEpilogue row{ep.bias ? ep.bias + oc : nullptr, ep.residual ? ep.residual + at : nullptr, 0,
                                 ep.relu};
          tile_epilogue_row(row, 0, y + at, p);
        }
      }
    });
  });
}

}  // namespace

// Measured at batch 128 (resnet20's 16, 32 and 64 channels at 28×28, 14×14 and 7×7: forward, dx and dw 19–35% faster
// with AVX-512, 16–53% with AVX2, whose plane-layout weight gradient is slow) and batch 32 (resnet18's layers): with
// 64 or more channels the lanes win on planes up to 8×8 up to 256 channels (128 at 7×7: 25 → 21 ms; 512 at 7×7
// lost, 73 against 105 ms) while a group's padded input stays in L2, and Winograd wins above (64 channels at 56×56:
// 57 against 100 ms; a tie at 14×14). With fewer than 8 input channels (the CIFAR stems) the repacking costs more
// than it saves. Stride 2 (resnet20's 16 → 32 and 32 → 64): forward and dw 1.4-2× faster than im2col + GEMM.
constexpr size_t kLanesFewChannelsBytes = 8u << 20;  // a group's padded input, fewer than 64 channels
constexpr size_t kLanesManyChannelsBytes = 3u << 19;  // 1.5 MiB, 64 channels or more

bool direct_lanes_eligible(const ConvShape& s) {
  const DirectKernel* k = kernel();
  if (k == nullptr || s.kh != 3 || s.kw != 3 || s.stride_h != s.stride_w || s.stride_h > 2 || s.pad_h != 1 ||
      s.pad_w != 1 || s.dilation_h != 1 || s.dilation_w != 1 || s.groups != 1 || s.c < 8) {
    return false;
  }
  // At least three quarters of the groups' lanes hold images.
  if (4 * s.n < 3 * ceil_div(s.n, k->lanes) * k->lanes) return false;
  const size_t group_bytes = std::max(s.c, s.oc) * (s.h + 2) * (s.w + 2) * k->lanes * sizeof(float);
  if (s.c < 64 && s.oc < 64) return group_bytes <= kLanesFewChannelsBytes;
  return s.oh * s.ow <= 64 && std::max(s.c, s.oc) <= 256 && group_bytes <= kLanesManyChannelsBytes;
}

void direct_lanes_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  float* packed = thread_scratch<kPackedWeight>(direct_packed_weight_size(s));
  pack(s, w, packed, false);
  lanes_run(s, s.stride_h, s.c, s.oc, x, packed, ep, y);
}

void direct_lanes_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx) {
  const size_t ocb = kernel()->ocb;
  float* packed = thread_scratch<kPackedWeight>(ceil_div(s.c, ocb) * ocb * s.oc * 9);
  pack(s, w, packed, true);
  lanes_run(s, 1, s.oc, s.c, dy, packed, ConvEpilogue{nullptr, nullptr, false}, dx);
}

// Per group: x to lanes with its border, dy to lanes, then the (block, input channel) pairs, each adding to its own
// sums [pair][ky][OCB][kx] (the kernel adds up the lanes); the parts (whole groups per thread) are added in a fixed
// order.
void direct_lanes_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  const DirectKernel& k = *kernel();
  const LaneLayout g(k.lanes, s.h, s.w), go(k.lanes, s.oh, s.ow);
  const size_t L = k.lanes, p = go.plane(), in_image = s.c * g.plane(), out_image = s.oc * p;
  const size_t pair_sums = 3 * k.dw_ocb * 3, pairs = ceil_div(s.oc, k.dw_ocb) * s.c, size = pairs * pair_sums;
  const size_t groups = ceil_div(s.n, L), parts = summing_parts(groups);
  float* sums = thread_scratch<kWeightGradPartials>(parts * size);
  std::fill(sums, sums + parts * size, 0.0f);
  auto group = [&](size_t gi, float* part, bool shared) {
    const size_t img0 = gi * L, count = std::min(L, s.n - img0);
    float* padded = thread_scratch<kIm2col>(s.c * g.padded_plane * L);
    float* dyl = thread_scratch<kImageColumns>(s.oc * p * L);
    parallel_ranges_if(shared, s.c, 1, [&](size_t c0, size_t c1) {
      to_lanes(g, x + img0 * in_image, in_image, count, true, padded, c0, c1);
    });
    parallel_ranges_if(shared, s.oc, 1, [&](size_t c0, size_t c1) {
      to_lanes(go, dy + img0 * out_image, out_image, count, false, dyl, c0, c1);
    });
    parallel_ranges_if(shared, pairs, 1, [&](size_t q0, size_t q1) {
      for (size_t q = q0; q < q1; q++) {
        const size_t b = q / s.c, c = q % s.c, oc0 = b * k.dw_ocb;
        for (size_t ky = 0; ky < 3; ky += k.dw_rows) {
          k.dw_lanes(dyl + oc0 * p * L, p * L, std::min(k.dw_ocb, s.oc - oc0), s.oh, s.ow, s.stride_h,
                     padded + (c * g.padded_plane + ky * g.padded_w) * L, g.padded_w * L,
                     part + q * pair_sums + ky * k.dw_ocb * 3);
        }
      }
    });
  };
  if (parts == 1) {
    for (size_t gi = 0; gi < groups; gi++) group(gi, sums, true);
  } else {
    parallel_for(parts, [&](size_t t) {
      for (size_t gi = groups * t / parts; gi < groups * (t + 1) / parts; gi++) group(gi, sums + t * size, false);
    });
  }
  parallel_ranges(pairs, 1, [&](size_t q0, size_t q1) {
    for (size_t q = q0; q < q1; q++) {
      const size_t b = q / s.c, c = q % s.c, oc0 = b * k.dw_ocb;
      for (size_t ky = 0; ky < 3; ky++) {
        for (size_t i = 0; i < std::min(k.dw_ocb, s.oc - oc0); i++) {
          for (size_t kx = 0; kx < 3; kx++) {
            double sum = 0;
            for (size_t t = 0; t < parts; t++) sum += sums[t * size + q * pair_sums + (ky * k.dw_ocb + i) * 3 + kx];
            dw[(((oc0 + i) * s.c + c) * 3 + ky) * 3 + kx] = static_cast<float>(sum);
          }
        }
      }
    }
  });
}

}  // namespace resnet
