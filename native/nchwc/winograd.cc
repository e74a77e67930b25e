// Winograd on blocked tensors (nchwc.h) for 3×3 padding-1 convolutions, in the schemes of winograd_transforms.h:
// F(4×4, 3×3) at stride 1, F(5×5, 3×3) where its tiles fit the plane better, and at stride 2 2×2 outputs from 5×5
// input tiles. U = G·g·Gᵀ per (oc, c) once at packing, V = Bᵀ·d·B per input tile and 16-channel block, M[ξ] =
// V[ξ]·U[ξ] for the n×n positions ξ (36, 49 or 25) by the blocked microkernel, y = Aᵀ·m·A per tile with bias,
// residual and ReLU. For each ξ, V of a chunk of tiles is laid out as a blocked image whose pixels are the tiles and
// U as a 1×1 convolution's packed weights, so the products are plain runs of the microkernel, and the transforms
// work on whole 16-channel vectors.
#include <algorithm>

#include "../conv/winograd.h"
#include "../conv/winograd_lanes.h"
#include "../cpu/features.h"
#include "../parallel.h"
#include "../scratch.h"
#include "nchwc.h"

namespace resnet::nchwc {
namespace portable {
#include "winograd_transforms.h"
}  // namespace portable

namespace {

// A scheme's output and transformed tile sides and its G, from winograd_transforms.h: one source for the packing,
// the tile counts and the transforms.
struct Scheme {
  size_t out, in;
  const double (*g)[3];
};
template <class F>
Scheme scheme_of() {
  return {F::kOut, F::kIn, F::kG};
}
// The largest transformed tile side, for the packing's G·g.
constexpr size_t kMaxSide = std::max({portable::winograd_tiles::F4::kIn, portable::winograd_tiles::F5::kIn,
                                      portable::winograd_tiles::S2::kIn});

Scheme scheme(WinogradScheme k) {
  switch (k) {
    case WinogradScheme::kF5: return scheme_of<portable::winograd_tiles::F5>();
    case WinogradScheme::kS2: return scheme_of<portable::winograd_tiles::S2>();
    default: return scheme_of<portable::winograd_tiles::F4>();
  }
}

size_t tile_count(const ConvShape& s, WinogradScheme k) {
  return s.n * ceil_div(s.oh, scheme(k).out) * ceil_div(s.ow, scheme(k).out);
}

// Transformed positions: 36, 49, or 25.
size_t positions(const ConvShape& s) {
  const size_t n = scheme(winograd_scheme(s)).in;
  return n * n;
}
size_t tile_count(const ConvShape& s) { return tile_count(s, winograd_scheme(s)); }

// One position's packing: the groups of output channels (group_width() blocks), each [C][width], one after the other.
size_t u_stride(const ConvShape& s) { return ceil_div(s.c * s.oc, 16) * 16; }

// A chunk of nt tiles from tile t0 of the batch, with its V and M: ξ matrices v_xi and m_xi floats apart.
struct Chunk {
  size_t t0, nt;
  float* v;
  float* m;
  size_t v_xi, m_xi;
};

Chunk chunk_of(const ConvShape& s, size_t t0, size_t nt, float* v, float* m) {
  return {t0, nt, v, m, xi_stride(s.c * nt), xi_stride(s.oc * nt)};
}

// Scratch floats for the V and M of nt tiles.
size_t v_floats(const ConvShape& s, size_t nt) { return positions(s) * xi_stride(s.c * nt); }
size_t m_floats(const ConvShape& s, size_t nt) { return positions(s) * xi_stride(s.oc * nt); }

// M[ξ][ob] = V[ξ]·U[ξ] for the items [i0, i1) of (ξ, group) pairs, item = ξ·groups + group: consecutive items share
// ξ, so a range of them reads one U[ξ] at a time.
void products(const ConvShape& s, const float* packed, const Chunk& c, size_t i0, size_t i1) {
  const size_t groups = groups_of(s), row_floats = c.nt * kBlock;
  const int32_t zero = 0;
  for (size_t item = i0; item < i1; item++) {
    const size_t xi = item / groups, g = item % groups;
    Run r{};
    r.x = c.v + xi * c.v_xi;
    r.x_step = kBlock;
    r.x_block = row_floats;
    r.blocks_in = s.c / kBlock;
    r.tap_offset = &zero;
    r.tap_index = &zero;
    r.taps = r.taps_total = 1;
    r.w = packed + xi * u_stride(s) + g * s.c * group_width() * kBlock;
    r.blocks_out = group_blocks(s, g);
    r.y = c.m + xi * c.m_xi + g * group_width() * row_floats;
    r.y_block = row_floats;
    r.count = c.nt;
    run(r);
  }
}

// The transforms' build for the instruction set the kernels dispatch to, else the portable one.
void input_transform(const ConvShape& s, const float* x, const Chunk& c, size_t cb0, size_t cb1) {
  switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
    case Isa::kAvx512: winograd_input_transform_avx512(s, x, c.t0, c.nt, cb0, cb1, c.v, c.v_xi); return;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    case Isa::kAvx2Fma: winograd_input_transform_avx2_fma(s, x, c.t0, c.nt, cb0, cb1, c.v, c.v_xi); return;
#endif
    default: portable::winograd_tiles::input_transform(s, x, c.t0, c.nt, cb0, cb1, c.v, c.v_xi); return;
  }
}

void output_transform(const ConvShape& s, const Chunk& c, size_t ob0, size_t ob1, const ConvEpilogue& ep,
                      float* y) {
  switch (kernel_isa()) {
#if defined(RESNET_HAVE_AVX512)
    case Isa::kAvx512: winograd_output_transform_avx512(s, c.m, c.m_xi, c.t0, c.nt, ob0, ob1, ep, y); return;
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
    case Isa::kAvx2Fma: winograd_output_transform_avx2_fma(s, c.m, c.m_xi, c.t0, c.nt, ob0, ob1, ep, y); return;
#endif
    default: portable::winograd_tiles::output_transform(s, c.m, c.m_xi, c.t0, c.nt, ob0, ob1, ep, y); return;
  }
}

// Bytes of U above which it is read from memory at every pass (L3: 32 MB, shared with the activations and with other
// processes): such a layer's threads share chunks as big as the scratch allows, so that U is read once.
constexpr size_t kBigU = size_t{16} << 20;

size_t u_bytes(const ConvShape& s) { return positions(s) * s.c * s.oc * sizeof(float); }

// Tiles whose V and M (n²·(C + OC) floats a tile) take about `bytes`.
size_t tiles_in(const ConvShape& s, size_t bytes) {
  return std::max<size_t>(1, bytes / (positions(s) * (s.c + s.oc) * sizeof(float)));
}

// Tiles enough to amortise a pass over U: V and M of about 1.5 MB, but at least C·OC/(C + OC) tiles, where reading
// all of U (n²·C·OC floats) for each chunk stops outweighing the chunk's own V and M, and at most 8 MB of them. With
// fewer tiles than this for each thread of a batch smaller than the pool (one image split between the threads), the
// threads share chunks; so too for any U over kBigU.
size_t amortizing_tiles(const ConvShape& s) {
  const size_t by_weights = s.c * s.oc / (s.c + s.oc);
  return std::min(std::max(tiles_in(s, size_t{3} << 19), by_weights), tiles_in(s, size_t{8} << 20));
}

// Tiles per chunk of a thread that runs its own: V and M of about 768 KB, which stay in L2 (1 MB a core) between the
// transforms and the products, although each chunk reads all of U again, from L3. resnet50 at batch 8, per-call
// medians of 12 forwards alternating in one process, against chunks of amortizing_tiles and layer3's (5×5 tiles, 72
// of them) shared: every 3×3 call but layer4's faster, layer1's by 8-10%, all of them 64.6 → 62.6 ms; all calls
// 233.0 → 231.4 and 252.7 → 250.9 in two runs. Chunks of 512 KB or 1 MB ran slower than 768 KB. Batch 1: layer1's
// 3-8% faster.
size_t chunk_tiles(const ConvShape& s) {
  return u_bytes(s) > kBigU ? amortizing_tiles(s) : tiles_in(s, size_t{3} << 18);
}

// Tiles per chunk that the threads share: V and M of up to 3 MB, which the two cores' L2 nearly hold. (For 256
// channels at 14×14 in 4×4 tiles, batch 8: 128 tiles, 9.4 MB of V and M, chunks of 32 took 3.1–3.2 ms against 3.2–3.3
// for 64 and 3.4 for all 128 at once, although each chunk reads all of U (9.4 MB) again.) A U over kBigU comes from
// memory for each chunk, and its chunks take up to 8 MB: 512 channels at 7×7, batch 8 (U 37.7 MB), all 32 tiles in
// one chunk took 3.46–3.57 ms against 3.60–4.03 in two.
size_t shared_chunk_tiles(const ConvShape& s) {
  return tiles_in(s, u_bytes(s) > kBigU ? size_t{8} << 20 : size_t{3} << 20);
}

// The first tile of chunk `chunk` of `chunks` over `total` tiles: an even split on multiples of the microkernel's
// kTileRows, so that every chunk but the last runs only full 6-row tiles (196 tiles in four chunks: 48, 48, 48 and
// 52, where chunks of 49 would each run tiles of 5 and 6).
size_t chunk_start(size_t total, size_t chunk, size_t chunks) {
  if (chunk == chunks) return total;
  return std::min(total, (total * chunk / chunks + kTileRows / 2) / kTileRows * kTileRows);
}

// One chunk on the calling thread alone, in its own scratch.
void forward_chunk(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y,
                   size_t t0, size_t nt) {
  const Chunk c = chunk_of(s, t0, nt, thread_scratch<kNchwcV>(v_floats(s, nt)),
                           thread_scratch<kNchwcM>(m_floats(s, nt)));
  input_transform(s, x, c, 0, s.c / kBlock);
  products(s, packed, c, 0, positions(s) * groups_of(s));
  output_transform(s, c, 0, s.oc / kBlock, ep, y);
}

// One chunk that the threads share, in the calling thread's scratch: the input transform split by input blocks,
// the products by (ξ, group) (each thread reads only its share of U), the output transform by output blocks.
void forward_shared(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y,
                    size_t t0, size_t nt) {
  const Chunk c = chunk_of(s, t0, nt, thread_scratch<kNchwcV>(v_floats(s, nt)),
                           thread_scratch<kNchwcM>(m_floats(s, nt)));
  parallel_ranges(s.c / kBlock, 1, [&](size_t cb0, size_t cb1) { input_transform(s, x, c, cb0, cb1); });
  parallel_ranges(positions(s) * groups_of(s), 1, [&](size_t i0, size_t i1) { products(s, packed, c, i0, i1); });
  parallel_ranges(s.oc / kBlock, 1, [&](size_t ob0, size_t ob1) { output_transform(s, c, ob0, ob1, ep, y); });
}

}  // namespace

bool winograd_eligible(const ConvShape& s) {
  const size_t stride = s.stride_h;
  return s.kh == 3 && s.kw == 3 && (stride == 1 || stride == 2) && s.stride_w == stride && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && s.c % kBlock == 0 &&
         s.oc % kBlock == 0 && s.oh == (s.h - 1) / stride + 1 && s.ow == (s.w - 1) / stride + 1;
}

// F(4×4, 3×3) with enough tiles that its U matrices (36·C·OC floats, read once per call) do not outweigh the
// products; direct otherwise (512 channels at 7×7, batch 1: 4 tiles, U 37.7 MB).
constexpr size_t kMinTiles = 16;

WinogradScheme winograd_scheme(const ConvShape& s) {
  if (s.stride_h == 2) return WinogradScheme::kS2;
  // F5 where its products (49 a tile) are at most 85% of F4's (36 a tile): 14×14 planes, 9 tiles of 5×5 outputs
  // against 16 of 4×4 (77%), where 56×56 and 28×28 come out even and 7×7 worse. Not with fewer tiles than
  // kMinTiles, where reading U (49·C·OC floats) outweighs the products (resnet50's layer3 at batch 1: 9 tiles).
  const size_t f4 = tile_count(s, WinogradScheme::kF4), f5 = tile_count(s, WinogradScheme::kF5);
  return 100 * 49 * f5 <= 85 * 36 * f4 && f5 >= kMinTiles ? WinogradScheme::kF5 : WinogradScheme::kF4;
}

// At stride 2, also products (25 a tile) under 3/4 of the direct convolution's (9 a pixel): 69% for even output
// sides, where an odd 7×7 output's 16 tiles take 91% (resnet50's layer4, with a U of 26 MB).
bool winograd_pays(const ConvShape& s) {
  if (tile_count(s) < kMinTiles) return false;  // F5 only runs with kMinTiles or more
  return s.stride_h == 1 || 4 * tile_count(s) * positions(s) <= 3 * 9 * s.n * s.oh * s.ow;
}

size_t winograd_packed_size(const ConvShape& s) { return positions(s) * u_stride(s); }

void winograd_pack(const ConvShape& s, const float* w, float* packed) {
  const Scheme k = scheme(winograd_scheme(s));
  const size_t stride = u_stride(s), n = k.in;
  const double(*G)[3] = k.g;
  parallel_ranges(s.oc, 1, [&](size_t oc0, size_t oc1) {
    for (size_t oc = oc0; oc < oc1; oc++) {
      const size_t g = oc / (group_width() * kBlock), width = group_blocks(s, g) * kBlock;
      const size_t o = oc % (group_width() * kBlock);
      float* group = packed + g * s.c * group_width() * kBlock;
      for (size_t c = 0; c < s.c; c++) {
        const float* k = w + (oc * s.c + c) * 9;
        double gg[kMaxSide][3];  // G·g
        for (size_t i = 0; i < n; i++) {
          for (size_t j = 0; j < 3; j++) gg[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
        }
        for (size_t i = 0; i < n; i++) {
          for (size_t q = 0; q < n; q++) {
            const double u = gg[i][0] * G[q][0] + gg[i][1] * G[q][1] + gg[i][2] * G[q][2];
            group[(i * n + q) * stride + c * width + o] = static_cast<float>(u);
          }
        }
      }
    }
  });
}

void winograd_forward(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y) {
  const size_t total = tile_count(s);
  if (total == 0) return;
  const size_t threads = in_parallel_for() ? 1 : num_threads();
  const size_t per_chunk = std::min(chunk_tiles(s), total);
  const bool few = total < threads * std::min(amortizing_tiles(s), total);
  if (threads > 1 && few && (s.n < threads || u_bytes(s) > kBigU)) {
    // Part of one image for each thread, too few tiles to amortise U; or a U over kBigU: the threads share chunks,
    // as few as the scratch allows.
    const size_t chunks = ceil_div(total, shared_chunk_tiles(s));
    for (size_t chunk = 0; chunk < chunks; chunk++) {
      const size_t t0 = chunk_start(total, chunk, chunks), t1 = chunk_start(total, chunk + 1, chunks);
      if (t1 > t0) forward_shared(s, x, packed, ep, y, t0, t1 - t0);
    }
    return;
  }
  // Chunks of about per_chunk tiles, as many for each thread.
  const size_t chunks = ceil_div(ceil_div(total, per_chunk), threads) * threads;
  auto one = [&](size_t chunk) {
    const size_t t0 = chunk_start(total, chunk, chunks), t1 = chunk_start(total, chunk + 1, chunks);
    if (t1 > t0) forward_chunk(s, x, packed, ep, y, t0, t1 - t0);
  };
  parallel_for(chunks, one);  // serially where the pool has one thread, or inside a pool job
}

}  // namespace resnet::nchwc
