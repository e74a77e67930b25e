// The direct 3×3 convolution's driver (direct.h): picks the tile kernel for the CPU, lays the weights out for it,
// pads each image once, and walks the output in tiles on the thread pool.
#include "direct.h"

#include <algorithm>
#include <vector>

#include "../cpu/features.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../short_copy.h"
#include "../threadpool.h"
#include "phases.h"
#include "winograd.h"

namespace resnet {
namespace {

const DirectKernel* select() {
  switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
    case Isa::kAvx512: {
      static const DirectKernel k{8, 16, direct3x3_tile_8x2x16_avx512, 3, 3, direct3x3_dw_3x9_avx512,
                                    direct_taps_tile_8x2x16_avx512, direct3x3_lanes_tile_8x2x16_avx512,
                                    direct3x3_lanes_dw_3x9_avx512, direct_lanes_in_avx512, direct_lanes_out_avx512,
                                    winograd_lanes_input_avx512, winograd_lanes_output_avx512,
                                    winograd_lanes_gradient_avx512, 6, 4, winograd_lanes_dw_6x4_avx512};
      return &k;
    }
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    case Isa::kAvx2Fma: {
      static const DirectKernel k{6, 8, direct3x3_tile_6x2x8_avx2_fma, 4, 1, direct3x3_dw_4x3_avx2_fma,
                                    direct_taps_tile_6x2x8_avx2_fma, direct3x3_lanes_tile_6x2x8_avx2_fma,
                                    direct3x3_lanes_dw_4x3_avx2_fma, direct_lanes_in_avx2_fma,
                                    direct_lanes_out_avx2_fma, winograd_lanes_input_avx2_fma,
                                    winograd_lanes_output_avx2_fma, winograd_lanes_gradient_avx2_fma, 4, 3,
                                    winograd_lanes_dw_4x3_avx2_fma};
      return &k;
    }
#endif
    default:
      return nullptr;  // the portable build keeps im2col + GEMM
  }
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
  const DirectKernel& k = *direct_kernel();
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

const DirectKernel* direct_kernel() {
  static const DirectKernel* k = select();
  return k;
}

// Weights into the tile layout: packed[b][ci][tap][i] = w(b·ocb + i, ci, tap), zero past the last output channel.
// For the input gradient the roles swap: output channel o of the convolution is input channel o of the layer, and
// the taps are flipped (the gradient of a correlation is a convolution).
void direct_pack_tiles(const ConvShape& s, const float* w, float* packed, bool for_input_gradient) {
  const size_t ocb = direct_kernel()->ocb;
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

size_t direct_tiles_size(const ConvShape& s, bool for_input_gradient) {
  const size_t ocb = direct_kernel()->ocb;
  const size_t cout = for_input_gradient ? s.c : s.oc, cin = for_input_gradient ? s.oc : s.c;
  return ceil_div(cout, ocb) * ocb * cin * 9;
}

bool direct_eligible(const ConvShape& s) {
  return direct_kernel() != nullptr && s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && !winograd_eligible(s);
}

size_t direct_packed_weight_size(const ConvShape& s) { return direct_tiles_size(s, false); }

void direct_pack_weight(const ConvShape& s, const float* w, float* packed) { direct_pack_tiles(s, w, packed, false); }

void direct_forward_packed(const ConvShape& s, const float* x, const float* packed_w, const ConvEpilogue& ep,
                           float* y) {
  run(Plan(s.n, s.c, s.oc, s.h, s.w, direct_kernel()->lanes), x, packed_w, ep, y);
}

void direct_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  float* packed = thread_scratch<kPackedWeight>(direct_packed_weight_size(s));
  direct_pack_tiles(s, w, packed, false);
  direct_forward_packed(s, x, packed, ep, y);
}

// With accumulate, dx is its own residual: each tile reads its outputs' old values just before it stores them.
void direct_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx, bool accumulate) {
  float* packed = thread_scratch<kPackedWeight>(direct_tiles_size(s, true));
  direct_pack_tiles(s, w, packed, true);
  run(Plan(s.n, s.oc, s.c, s.h, s.w, direct_kernel()->lanes), dy, packed,
      ConvEpilogue{nullptr, accumulate ? dx : nullptr, false}, dx);
}

void direct_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  const DirectKernel& k = *direct_kernel();
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
  return direct_kernel() != nullptr && s.groups == 1 && s.stride_h == 2 && s.stride_w == 2 &&
         s.c * s.kh * s.kw <= kMaxStridedTaps;
}

size_t direct_strided_packed_weight_size(const ConvShape& s) {
  return ceil_div(s.oc, direct_kernel()->ocb) * direct_kernel()->ocb * s.k();
}

void direct_strided_pack_weight(const ConvShape& s, const float* w, float* packed) {
  // packed[b][tap][i] = w(b·ocb + i, tap), zero past the last output channel; taps in (ci, ky, kx) order, as w's.
  const size_t ocb = direct_kernel()->ocb, taps = s.k(), blocks = ceil_div(s.oc, ocb);
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
  const DirectKernel& k = *direct_kernel();
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
