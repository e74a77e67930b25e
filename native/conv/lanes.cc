// 3×3 convolutions with a group of images in the vector lanes (direct.h, direct_lanes_*): the layout
// [C][rows][cols][L], one vector per pixel holding L images, so that small planes fill every lane. The groups'
// repacking, the tile, Winograd and weight-gradient drivers, and when the layout and Winograd on it pay.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "../gemm/ukernel.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../short_copy.h"
#include "../threadpool.h"
#include "direct.h"
#include "winograd.h"

namespace resnet {
namespace {

// Winograd F(4×4, 3×3) (run_winograd_lanes): 4×4 output tiles from 6×6 input tiles, 36 transformed elements.
constexpr size_t kWinogradTile = 4, kWinogradElements = 36;

struct LaneLayout {
  size_t lanes, h, w;
  // In pixels, with a one-pixel zero border; `tiles` adds rows and columns of zeros up to whole Winograd tiles, so
  // that they cover the plane.
  size_t padded_h, padded_w, padded_plane;

  LaneLayout(size_t lanes_, size_t h_, size_t w_, bool tiles = false)
      : lanes(lanes_),
        h(h_),
        w(w_),
        padded_h((tiles ? ceil_div(h_, kWinogradTile) * kWinogradTile : h_) + 2),
        padded_w((tiles ? ceil_div(w_, kWinogradTile) * kWinogradTile : w_) + 2),
        padded_plane(padded_h * padded_w) {}
  size_t plane() const { return h * w; }
};

// Channels [c0, c1) of `count` images (image i at src + i·image_stride, planes h×w) into dst: the padded planes
// [C][padded_h][padded_w][L] with a zero border when `padded`, else [C][h·w][L]; lanes from count on are zero. The
// kernel's transposes take L pixels of the flattened plane at a time, so that 7-pixel rows do not leave most of
// each transpose empty.
void to_lanes(const DirectKernel& k, const LaneLayout& g, const float* src, size_t image_stride, size_t count,
              bool padded, float* dst, size_t c0, size_t c1) {
  const size_t L = g.lanes, b = padded ? 1 : 0, cols = padded ? g.padded_w : g.w;
  const size_t plane = padded ? g.padded_plane : g.plane();
  for (size_t c = c0; c < c1; c++) {
    float* out = dst + c * plane * L;
    if (padded) {
      zero_short(out, cols * L);
      zero_short(out + (g.h + 1) * cols * L, (g.padded_h - g.h - 1) * cols * L);
      for (size_t y = 1; y <= g.h; y++) {
        zero_short(out + y * cols * L, L);
        zero_short(out + (y * cols + g.w + 1) * L, (cols - g.w - 1) * L);
      }
    }
    k.lanes_in(src + c * g.plane(), image_stride, count, g.plane(), g.w, cols, b * cols + b, out);
  }
}

// The inverse of to_lanes (unpadded), for channels [c0, c1) of the first `count` lanes: dst image i at
// dst + i·image_stride, overwritten or with `accumulate` added to.
void from_lanes(const DirectKernel& k, const LaneLayout& g, const float* src, size_t count, float* dst,
                size_t image_stride, size_t c0, size_t c1, bool accumulate) {
  const size_t p = g.plane();
  for (size_t c = c0; c < c1; c++) k.lanes_out(src + c * p * g.lanes, count, p, dst + c * p, image_stride, accumulate);
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

// Winograd F(4×4, 3×3) on the same layout, stride 1: each 4×4 output tile from the 36 elements of its transformed
// 6×6 input, V = Bᵀ·d·B, times the transformed weights U = G·g·Gᵀ, element by element and summed over the input
// channels (the taps tile, with the channels as its taps), then Aᵀ·M·A: 36 products per 16 outputs where the direct
// tile makes 144, for the cost of the transforms, which with a vector of L images per pixel are vector adds.

size_t winograd_lanes_size(const ConvShape& s, bool for_input_gradient) {
  return kWinogradElements * direct_tiles_size(s, for_input_gradient) / 9;
}

// G of F(4×4, 3×3), in double (winograd.cc's kG4, which that path's float loops hold in float).
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};

// U of each (output, input) channel pair's kernel (flipped and transposed for the input gradient, as
// direct_pack_tiles), in double, as packed[e][block][cin][OCB] for the taps tile; zero past the last output channel.
void winograd_lanes_pack(const ConvShape& s, const float* w, float* packed, bool for_input_gradient) {
  const size_t ocb = direct_kernel()->ocb;
  const size_t cout = for_input_gradient ? s.c : s.oc, cin = for_input_gradient ? s.oc : s.c;
  const size_t blocks = ceil_div(cout, ocb), per_element = blocks * cin * ocb;
  parallel_ranges(blocks * ocb, 1, [&](size_t o0, size_t o1) {
    for (size_t o = o0; o < o1; o++) {
      for (size_t ci = 0; ci < cin; ci++) {
        double g[3][3] = {}, gg[6][3];
        for (size_t tap = 0; o < cout && tap < 9; tap++) {
          g[tap / 3][tap % 3] = for_input_gradient ? w[(ci * s.c + o) * 9 + 8 - tap] : w[(o * s.c + ci) * 9 + tap];
        }
        for (size_t i = 0; i < 6; i++) {
          for (size_t j = 0; j < 3; j++) gg[i][j] = kG[i][0] * g[0][j] + kG[i][1] * g[1][j] + kG[i][2] * g[2][j];
        }
        for (size_t i = 0; i < 6; i++) {
          for (size_t j = 0; j < 6; j++) {
            const double u = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
            packed[(i * 6 + j) * per_element + ((o / ocb) * cin + ci) * ocb + o % ocb] = static_cast<float>(u);
          }
        }
      }
    }
  });
}

// Tile rows [r0, r1) of one group from the padded input `in` (a layout rounded to whole tiles) to the output `out`
// ([cout][P][L]), in bands whose transformed input and products (about kLaneBandFloats) stay in L2: per band the
// input transform, then element by element and block by block of output channels the products over all the band's
// tiles (the block's weights for one element stay in L1), then the output transform.
void run_winograd_lanes(const DirectKernel& k, const LaneLayout& in, size_t cin, size_t cout, const float* padded,
                        const float* packed_u, float* out, size_t r0, size_t r1) {
  const size_t L = in.lanes, m = kWinogradTile, tw = ceil_div(in.w, m), blocks = ceil_div(cout, k.ocb), ocb = k.ocb;
  const size_t band = std::max<size_t>(1, kLaneBandFloats / (kWinogradElements * (cin + cout) * tw * L));
  // Elements xi_stride apart: a plain multiple of 4 KiB (32 channels × 4 tiles × 8 lanes, say) put all 36 of a tile
  // in one set of the 8-way L1, and the transforms took about 600 cycles a tile.
  float* v = thread_scratch<kWinogradV>(kWinogradElements * xi_stride(cin * band * tw * L));
  float* mm = thread_scratch<kWinogradM>(kWinogradElements * xi_stride(cout * band * tw * L));
  thread_local std::vector<int32_t> offsets;  // the taps tile's channel offsets, per band
  offsets.resize(cin);
  for (size_t b0 = r0; b0 < r1; b0 += band) {
    const size_t b1 = std::min(r1, b0 + band), tiles = (b1 - b0) * tw;
    const size_t v_stride = xi_stride(cin * tiles * L), m_stride = xi_stride(cout * tiles * L);
    for (size_t c = 0; c < cin; c++) {
      for (size_t r = b0; r < b1; r++) {
        k.winograd_in(padded + (c * in.padded_plane + m * r * in.padded_w) * L, in.padded_w * L, tw,
                      v + (c * tiles + (r - b0) * tw) * L, v_stride);
      }
      offsets[c] = static_cast<int32_t>(c * tiles * L);
    }
    for (size_t e = 0; e < kWinogradElements; e++) {
      for (size_t b = 0; b < blocks; b++) {
        const size_t oc0 = b * ocb;
        for (size_t t = 0; t < tiles; t += 2) {
          DirectTile tile{};
          for (size_t u = 0; u < 2; u++) {
            const size_t q = std::min(t + u, tiles - 1);
            tile.in[u] = v + e * v_stride + q * L;
            tile.out[u] = mm + e * m_stride + (oc0 * tiles + q) * L;
            tile.valid[u] = t + u < tiles ? L : 0;
          }
          k.taps(cin, offsets.data(), packed_u + (e * blocks + b) * cin * ocb, tile, tiles * L,
                 std::min(ocb, cout - oc0), nullptr, false);
        }
      }
    }
    for (size_t oc = 0; oc < cout; oc++) {
      for (size_t r = b0; r < b1; r++) {
        k.winograd_out(mm + (oc * tiles + (r - b0) * tw) * L, m_stride, tw,
                       out + (oc * in.plane() + m * r * in.w) * L, in.w * L, std::min(m, in.h - m * r), in.w);
      }
    }
  }
}

// The weight gradient by Winograd F(4×4, 3×3), stride 1: per element e of the 36 and pair of output and input
// channels, dU[e][oc][c] = Σ over tiles and images of (A·dY·Aᵀ)[e][oc] · V[e][c], V = Bᵀ·x·B of the padded input's
// 6×6 tiles (as the forward pass) and dY the output gradient's 4×4 tiles; then dw = Gᵀ·dU·G (winograd_lanes_dw_finish).
// 36 products per 16 outputs, where the direct weight gradient makes 144. The products sum each pair over the tiles
// in the vector lanes and add the lanes up once per call, which costs as much as a few tiles' products: so the
// transformed tiles are gathered, a row of tiles at a time and across groups (a 7×7 plane has 4 tiles), until about
// kWinogradGatherFloats of them, then the products run over all of them.
constexpr size_t kWinogradGatherFloats = 768 * 1024;

struct WinogradGather {
  float* v;  // [36][cin][capacity][L], elements v_stride apart
  float* g;  // [36][cout][capacity][L], elements g_stride apart
  size_t capacity, v_stride, g_stride, filled = 0;
};

WinogradGather winograd_gather(const ConvShape& s, size_t L) {
  const size_t tw = ceil_div(s.ow, kWinogradTile), per_tile = kWinogradElements * (s.c + s.oc) * L;
  const size_t capacity = std::max<size_t>(1, kWinogradGatherFloats / (per_tile * tw)) * tw;
  const size_t v_stride = xi_stride(s.c * capacity * L), g_stride = xi_stride(s.oc * capacity * L);
  return {thread_scratch<kWinogradGatherV>(kWinogradElements * v_stride),
          thread_scratch<kWinogradGatherG>(kWinogradElements * g_stride), capacity, v_stride, g_stride};
}

// The products of the gathered tiles, added to `sums` ([36][cout][cin]); with `shared`, the threads split the output
// channel blocks.
void winograd_dw_products(const DirectKernel& k, size_t cin, size_t cout, WinogradGather& t, float* sums,
                          bool shared) {
  const size_t L = k.lanes, ocb = k.winograd_dw_ocb, cb = k.winograd_dw_cb, row = t.capacity * L;
  parallel_ranges_if(shared, ceil_div(cout, ocb), 1, [&](size_t b0, size_t b1) {
    for (size_t e = 0; e < kWinogradElements; e++) {
      for (size_t b = b0; b < b1; b++) {
        const size_t oc0 = b * ocb;
        for (size_t c0 = 0; c0 < cin; c0 += cb) {
          k.winograd_dw(t.g + e * t.g_stride + oc0 * row, row, t.v + e * t.v_stride + c0 * row, row, t.filled,
                        std::min(ocb, cout - oc0), std::min(cb, cin - c0), sums + (e * cout + oc0) * cin + c0, cin);
        }
      }
    }
  });
  t.filled = 0;
}

// One group's tiles into the gather, both transforms, running the products whenever it is full: x's from its padded
// layout `in` (rounded to whole tiles), dY's from `dy`, pixel (0, 0) of its padded, tile-rounded layout `out`. With
// `shared`, the threads split the transforms by channel.
void winograd_dw_gather(const DirectKernel& k, const LaneLayout& in, const LaneLayout& out, size_t cin, size_t cout,
                        const float* padded, const float* dy, WinogradGather& t, float* sums, bool shared) {
  const size_t L = in.lanes, m = kWinogradTile, tw = ceil_div(in.w, m), th = ceil_div(in.h, m);
  for (size_t r0 = 0; r0 < th;) {
    if (t.filled + tw > t.capacity) winograd_dw_products(k, cin, cout, t, sums, shared);
    const size_t r1 = std::min(th, r0 + (t.capacity - t.filled) / tw);
    parallel_ranges_if(shared, cin + cout, 1, [&](size_t c0, size_t c1) {
      for (size_t c = c0; c < c1; c++) {
        for (size_t r = r0; r < r1; r++) {
          const size_t at = t.filled + (r - r0) * tw;
          if (c < cin) {
            k.winograd_in(padded + (c * in.padded_plane + m * r * in.padded_w) * L, in.padded_w * L, tw,
                          t.v + (c * t.capacity + at) * L, t.v_stride);
          } else {
            const size_t oc = c - cin;
            k.winograd_gradient(dy + (oc * out.padded_plane + m * r * out.padded_w) * L, out.padded_w * L, tw,
                                t.g + (oc * t.capacity + at) * L, t.g_stride);
          }
        }
      }
    });
    t.filled += (r1 - r0) * tw;
    r0 = r1;
  }
}

// dw[oc][c] = Gᵀ·dU·G from the parts' sums ([36][cout][cin] each), added in a fixed order, in double; a block of
// channel pairs at a time, so that the loops run along the pairs.
void winograd_lanes_dw_finish(const ConvShape& s, const float* sums, size_t parts, float* dw) {
  constexpr size_t kPairs = 64;
  const size_t pairs = s.oc * s.c, size = kWinogradElements * pairs;
  parallel_ranges(ceil_div(pairs, kPairs), 1, [&](size_t b0, size_t b1) {
    for (size_t q0 = b0 * kPairs; q0 < std::min(pairs, b1 * kPairs); q0 += kPairs) {
      const size_t n = std::min(kPairs, pairs - q0);
      double du[kWinogradElements][kPairs] = {}, half[3][6][kPairs] = {};
      for (size_t t = 0; t < parts; t++) {
        for (size_t e = 0; e < kWinogradElements; e++) {
          const float* part = sums + t * size + e * pairs + q0;
          for (size_t q = 0; q < n; q++) du[e][q] += part[q];
        }
      }
      for (size_t a = 0; a < 3; a++) {
        for (size_t i = 0; i < 6; i++) {
          for (size_t j = 0; j < 6; j++) {
            for (size_t q = 0; q < n; q++) half[a][j][q] += kG[i][a] * du[i * 6 + j][q];
          }
        }
      }
      for (size_t q = 0; q < n; q++) {
        for (size_t a = 0; a < 3; a++) {
          for (size_t b = 0; b < 3; b++) {
            double sum = 0;
            for (size_t j = 0; j < 6; j++) sum += half[a][j][q] * kG[j][b];
            dw[(q0 + q) * 9 + a * 3 + b] = static_cast<float>(sum);
          }
        }
      }
    }
  });
}

// Where Winograd beats the direct tile, measured on batches of 128 (32 for the wider layers), 2 threads, AVX-512,
// forward and dx: resnet20's layers, 16 channels at 28×28 1.69 against 2.33 ms, 32 at 14×14 1.40 against 1.56, 64 at
// 7×7 1.21 against 1.48; 128 channels at 8×8 1.78 against 2.18. Not with 8 channels (0.62 against 0.58 ms at 28×28,
// the transforms outweigh the products), nor on planes under 7×7, whose one or two tiles a side leave the
// transformed weights (36/9 of the weights, read once per group) to dominate: 256 channels at 4×4, 5.28 against
// 2.28 ms.
bool winograd_lanes_pays(const ConvShape& s) {
  return s.stride_h == 1 && std::min(s.c, s.oc) >= 16 && s.oh >= 7 && s.ow >= 7 && s.c * s.oc <= 128 * 128;
}

// Where the weight gradient by Winograd beats the direct one, measured as winograd_lanes_pays (dw alone, with its
// repacking, 2 threads, AVX2 / AVX-512): resnet20's 16 channels at 28×28 1.5 / 1.4 against 2.5 / 2.7 ms, 32 at
// 14×14 1.5 / 1.6 against 2.5 / 2.3, 64 at 7×7 1.9 / 1.8 against 2.6 / 2.4 (batch 128); 32 at 56×56 6.4 / 8.0
// against 9.7 / 11.9 (batch 32). Not with 128 channels (batch 32): at 8×8 3.6 / 3.7 against 3.4 / 3.2 ms, at 7×7
// 3.7 / 3.7 against 2.7 / 2.5. A tile of theirs is 36·256 vectors, so the gather holds few, and adding up the lanes
// dominates.
bool winograd_lanes_dw_pays(const ConvShape& s) { return winograd_lanes_pays(s) && s.c * s.oc <= 64 * 64; }

// The weights packed for the forward pass or the input gradient: Winograd's U, or the direct tile's layout.
const float* pack_lanes_weights(const ConvShape& s, const float* w, bool winograd, bool for_input_gradient) {
  const size_t size = winograd ? winograd_lanes_size(s, for_input_gradient) : direct_tiles_size(s, for_input_gradient);
  float* packed = thread_scratch<kPackedWeight>(size);
  if (winograd) {
    winograd_lanes_pack(s, w, packed, for_input_gradient);
  } else {
    direct_pack_tiles(s, w, packed, for_input_gradient);
  }
  return packed;
}

// The forward pass, weights in the tile layout [block][C][9][OCB]. Per group: x to lanes with its border, the tiles,
// the output back to NCHW with the epilogue.
void lanes_forward(const ConvShape& s, const float* x, const float* packed_w, bool winograd, const ConvEpilogue& ep,
                   float* y) {
  const DirectKernel& k = *direct_kernel();
  const LaneLayout g(k.lanes, s.h, s.w, winograd), go(k.lanes, s.oh, s.ow);
  const size_t L = k.lanes, cin = s.c, cout = s.oc, stride = s.stride_h, p = go.plane();
  const size_t in_image = cin * g.plane(), out_image = cout * p;
  const size_t tiles = ceil_div(p, 2);
  const bool any = ep.bias || ep.residual || ep.relu;
  for_chunks(s.n, L, [&](size_t img0, size_t count, bool shared) {
    float* padded = thread_scratch<kIm2col>(cin * g.padded_plane * L);
    float* out = thread_scratch<kImageColumns>(cout * p * L);
    parallel_ranges_if(shared, cin, 1, [&](size_t c0, size_t c1) {
      to_lanes(k, g, x + img0 * in_image, in_image, count, true, padded, c0, c1);
    });
    if (winograd) {
      parallel_ranges_if(shared, ceil_div(s.oh, kWinogradTile), 1, [&](size_t r0, size_t r1) {
        run_winograd_lanes(k, g, cin, cout, padded, packed_w, out, r0, r1);
      });
    } else {
      parallel_ranges_if(shared, tiles, 1, [&](size_t t0, size_t t1) {
        run_lane_tiles(k, g, go, stride, cin, cout, padded, packed_w, out, t0, t1);
      });
    }
    parallel_ranges_if(shared, cout, 1, [&](size_t c0, size_t c1) {
      float* yg = y + img0 * out_image;
      from_lanes(k, go, out, count, yg, out_image, c0, c1, false);
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
  const DirectKernel* k = direct_kernel();
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
  const bool winograd = winograd_lanes_pays(s);
  lanes_forward(s, x, pack_lanes_weights(s, w, winograd, false), winograd, ep, y);
}

// Per group: dy to lanes with its border, once for both gradients; dx as the forward convolution of dy with the
// weights flipped, back to NCHW; x to lanes with its border (in the buffer dx's lanes have left); then the (block,
// input channel) pairs of dw, each adding to its own sums [pair][ky][OCB][kx] (the kernel adds up the lanes), or by
// Winograd (winograd_lanes_dw_pays) the group's transformed tiles into the thread's gather, its sums [36][OC][C].
// The weight gradient's parts (whole groups per thread) are added in a fixed order. In a resnet20 training step (batch
// 128, AVX-512) the convolutions' backward passes, with the adds of the residual blocks' input gradients, took
// 78-87 ms as two calls (each repacking dy) and a separate add, and 69-71 ms in this one.
void direct_lanes_backward(const ConvShape& s, const float* dy, const float* x, const float* w, float* dx,
                           bool accumulate, float* dw) {
  if (dx == nullptr && dw == nullptr) return;
  const DirectKernel& k = *direct_kernel();
  const bool winograd = dx && winograd_lanes_pays(s), winograd_dw = dw && winograd_lanes_dw_pays(s);
  const LaneLayout g(k.lanes, s.h, s.w, winograd_dw), go(k.lanes, s.oh, s.ow, winograd || winograd_dw);
  const size_t L = k.lanes, p = go.plane(), in_image = s.c * g.plane(), out_image = s.oc * p;
  const float* packed_wt = dx ? pack_lanes_weights(s, w, winograd, true) : nullptr;
  const size_t pair_sums = 3 * k.dw_ocb * 3, pairs = ceil_div(s.oc, k.dw_ocb) * s.c;
  const size_t size = !dw ? 0 : winograd_dw ? kWinogradElements * s.oc * s.c : pairs * pair_sums;
  const size_t groups = ceil_div(s.n, L), parts = summing_parts(groups), tiles = ceil_div(g.plane(), 2);
  float* sums = thread_scratch<kWeightGradPartials>(parts * size);
  std::fill(sums, sums + parts * size, 0.0f);
  auto group = [&](size_t gi, float* part, bool shared, WinogradGather* gather) {
    const size_t img0 = gi * L, count = std::min(L, s.n - img0);
    float* dyl = thread_scratch<kImageColumns>(s.oc * go.padded_plane * L);
    float* work = thread_scratch<kIm2col>(s.c * g.padded_plane * L);
    parallel_ranges_if(shared, s.oc, 1, [&](size_t c0, size_t c1) {
      to_lanes(k, go, dy + img0 * out_image, out_image, count, true, dyl, c0, c1);
    });
    if (dx) {
      if (winograd) {
        parallel_ranges_if(shared, ceil_div(s.h, kWinogradTile), 1, [&](size_t r0, size_t r1) {
          run_winograd_lanes(k, go, s.oc, s.c, dyl, packed_wt, work, r0, r1);
        });
      } else {
        parallel_ranges_if(shared, tiles, 1, [&](size_t t0, size_t t1) {
          run_lane_tiles(k, go, g, 1, s.oc, s.c, dyl, packed_wt, work, t0, t1);
        });
      }
      parallel_ranges_if(shared, s.c, 1, [&](size_t c0, size_t c1) {
        from_lanes(k, g, work, count, dx + img0 * in_image, in_image, c0, c1, accumulate);
      });
    }
    if (!dw) return;
    parallel_ranges_if(shared, s.c, 1, [&](size_t c0, size_t c1) {
      to_lanes(k, g, x + img0 * in_image, in_image, count, true, work, c0, c1);
    });
    const float* dy_start = dyl + (go.padded_w + 1) * L;  // pixel (0, 0) inside the border
    if (winograd_dw) {
      winograd_dw_gather(k, g, go, s.c, s.oc, work, dy_start, *gather, part, shared);
      return;
    }
    parallel_ranges_if(shared, pairs, 1, [&](size_t q0, size_t q1) {
      for (size_t q = q0; q < q1; q++) {
        const size_t b = q / s.c, c = q % s.c, oc0 = b * k.dw_ocb;
        for (size_t ky = 0; ky < 3; ky += k.dw_rows) {
          k.dw_lanes(dy_start + oc0 * go.padded_plane * L, go.padded_plane * L, go.padded_w * L,
                     std::min(k.dw_ocb, s.oc - oc0), s.oh, s.ow, s.stride_h,
                     work + (c * g.padded_plane + ky * g.padded_w) * L, g.padded_w * L,
                     part + q * pair_sums + ky * k.dw_ocb * 3);
        }
      }
    });
  };
  auto part = [&](size_t t, size_t g0, size_t g1, bool shared) {
    WinogradGather gather{};
    if (winograd_dw) gather = winograd_gather(s, L);
    for (size_t gi = g0; gi < g1; gi++) group(gi, sums + t * size, shared, &gather);
    if (gather.filled > 0) winograd_dw_products(k, s.c, s.oc, gather, sums + t * size, shared);
  };
  if (parts == 1) {
    part(0, 0, groups, true);
  } else {
    parallel_for(parts, [&](size_t t) { part(t, groups * t / parts, groups * (t + 1) / parts, false); });
  }
  if (!dw) return;
  if (winograd_dw) {
    winograd_lanes_dw_finish(s, sums, parts, dw);
    return;
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
