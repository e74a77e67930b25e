// The GEMM driver: Goto/BLIS blocking around a packed microkernel, parallel over parts of C.
// Loops, outermost first: nc columns of C (jc), kc of K (pc), mc rows (ic; A block packed), NR-wide B panels
// (jr; packed during the first A block, reused by the others), MR-tall A panels (ir; one microkernel call each).
#include "sgemm.h"

#include <algorithm>
#include <cmath>

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf
#endif

#include "../parallel.h"
#include "../scratch.h"
#include "../threadpool.h"
#include "ukernel.h"

namespace resnet {
namespace {

// The largest MR·NR in the dispatch table (8×32): a tile buffer on the stack.
constexpr size_t kMaxTileFloats = 256;

// Below this many flops per thread, waking another thread costs more than it saves.
constexpr double kMinFlopsPerThread = 2e6;

void scale_c(size_t m, size_t n, float beta, float* c, size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else if (beta != 1.0f) {
      for (size_t j = 0; j < n; j++) row[j] *= beta;
    }
  }
}

// The threads worth waking for a product of `flops`: one when already inside a pool job (nested calls run serially).
size_t threads_for(double flops) {
  const size_t pool = in_parallel_for() ? 1 : num_threads();
  return std::min(pool, static_cast<size_t>(std::max(1.0, flops / kMinFlopsPerThread)));
}

// Threads split C into a tm × tn grid of parts, and each part runs the whole blocked algorithm on its own: no
// barrier between packing and compute, at the price of packing A tn times and B tm times. Pick the grid with the
// least padded work per thread, counting a packed element as kPackCost flops (packing is memory-bound).
constexpr double kPackCost = 32;

struct Grid {
  size_t tm, tn;
};

// Part t of the grid over an m×n C: rows [m0, m1), columns [n0, n1), whole panels but for the last; empty where the
// grid has more parts than panels.
struct Part {
  size_t m0, m1, n0, n1;
};

Part part_of(size_t t, const Grid& grid, size_t m, size_t n, const SgemmKernel& kern) {
  const size_t m_panels = ceil_div(m, kern.mr), n_panels = ceil_div(n, kern.nr);
  const size_t im = t / grid.tn, in = t % grid.tn;
  return {m_panels * im / grid.tm * kern.mr, std::min(m, m_panels * (im + 1) / grid.tm * kern.mr),
          n_panels * in / grid.tn * kern.nr, std::min(n, n_panels * (in + 1) / grid.tn * kern.nr)};
}

// The tm × tn grid (tm·tn = threads) whose parts cost least by cost(rows, cols) of a part's padded rows and columns;
// the fewest row parts among equals.
template <class Cost>
Grid cheapest_grid(size_t threads, size_t m, size_t n, const SgemmKernel& kern, Cost cost) {
  const size_t m_panels = ceil_div(m, kern.mr), n_panels = ceil_div(n, kern.nr);
  Grid best{1, threads};
  double best_cost = 0;
  for (size_t tm = 1; tm <= threads; tm++) {
    if (threads % tm != 0) continue;
    const size_t tn = threads / tm;
    const double c = cost(static_cast<double>(ceil_div(m_panels, tm) * kern.mr),
                          static_cast<double>(ceil_div(n_panels, tn) * kern.nr));
    if (tm == 1 || c < best_cost) best_cost = c, best = {tm, tn};
  }
  return best;
}

Grid choose_grid(size_t threads, size_t m, size_t n, const SgemmKernel& kern) {
  return cheapest_grid(threads, m, n, kern, [&](double rows, double cols) {
    return 2 * rows * cols + kPackCost * (rows * std::ceil(cols / kern.nc) + cols);
  });
}

// Equal blocks of at most `max` (in units of `unit`): 576 with max 256 gives 192·3, not 256 + 256 + 64, whose
// short last block would pay the C tile's load and store for little work.
size_t balanced_block(size_t total, size_t max, size_t unit) {
  const size_t blocks = ceil_div(total, max);
  return std::min(max, ceil_div(ceil_div(total, blocks), unit) * unit);
}

struct Problem {
  size_t m, n, k;
  float alpha, beta;
  const float* a;
  size_t a_row_stride, a_k_stride;
  const float* b;
  size_t b_col_stride, b_k_stride;
  float* c;
  size_t ldc;
  const GemmEpilogue* epilogue;
  const float* packed_a;  // all of op(A), packed by sgemm_pack_a; null: pack blocks of A as they are needed
  const BPanelSource* b_source;  // packs B's panels in place of b; null: pack them from b
};

// The epilogue on all of C, for the calls that have no products to fuse it into (k == 0 or alpha == 0).
void apply_epilogue(const GemmEpilogue& ep, size_t m, size_t n, float* c, size_t ldc) {
  const TileEpilogue tile{ep.row_bias, ep.residual, ep.ld_residual, ep.relu};
  for (size_t i = 0; i < m; i++) tile_epilogue_row(tile, i, c + i * ldc, n);
}

// C = beta·C and then the epilogue: a product with nothing to multiply (k == 0 or alpha == 0).
void epilogue_only(const Problem& p) {
  scale_c(p.m, p.n, p.beta, p.c, p.ldc);
  if (p.epilogue) apply_epilogue(*p.epilogue, p.m, p.n, p.c, p.ldc);
}

// A residual that is C itself (an inference conv writing its output over its block's input: the lines it reads are
// the lines it writes, so storing C costs no read for ownership) is added as beta = 1 instead: the K blocks after
// the first would otherwise add onto partial sums where the epilogue expects the residual. C = alpha·A·B + (beta + 1)·C
// + bias, the residual then rounded into the sum before the bias rather than after.
Problem with_residual_in_c(Problem p, GemmEpilogue& storage) {
  if (!p.epilogue || !p.epilogue->residual || p.epilogue->residual != p.c) return p;
  storage = *p.epilogue;
  storage.residual = nullptr;
  p.epilogue = &storage;
  p.beta += 1.0f;
  return p;
}

// B is packed this many panels at a time, just before their first use: that reads kPackGroup·NR floats of each B
// row, enough contiguous lines for the hardware prefetcher (one 64-byte line per row, rows pages apart, ran at
// half the bandwidth and cost small-M conv shapes 25% of their time).
constexpr size_t kPackGroup = 4;

// This core's L2 in bytes (1 MiB where the system does not say).
size_t l2_bytes() {
#if defined(_SC_LEVEL2_CACHE_SIZE)
  static const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0) return static_cast<size_t>(l2);
#endif
  return size_t{1} << 20;
}

// B panels per group. With a single K block every C tile is final after one microkernel call, and a group as wide
// as half of L2 lets the calls for one A panel write MR whole rows of C (and read the residual's) from end to end:
// a pointwise convolution with few input channels (resnet50's layer1, K = 64 and rows of 3136) then writes MR
// sequential streams, where 4-panel groups wrote pieces of all 256 rows in turn, more streams than the prefetchers
// follow. resnet50 at batch 8: its 1×1 convolutions 8–10% faster. With several K blocks C is read back anyway, and
// wider groups measured no better.
size_t group_panels(const Problem& p, const SgemmKernel& kern, size_t kc_max, size_t n0, size_t n1) {
  // A part as wide as a plain B whose rows lie back to back (a pointwise convolution's input image, whole) packs all
  // its panels of a K block in one pass: B is then read as one sequential stream, at twice the bandwidth of the
  // groups' pieces of every row, although the packing outgrows L2 and each A panel reads it from L3. resnet50 at
  // batch 8 (an image per thread): layer1 conv1 (K = 256, 8 A panels) 5.7 -> 5.0-5.1 ms, layer2 conv1 (K = 512, two
  // K blocks) 4.8 -> 4.5-4.6 ms.
  if (p.b && p.b_col_stride == 1 && n0 == 0 && n1 == p.n && p.b_k_stride == p.n) return ceil_div(p.n, kern.nr);
  if (p.k > kc_max) return kPackGroup;
  return std::max(kPackGroup, l2_bytes() / 2 / (kc_max * kern.nr * sizeof(float)));
}

// One part of C: rows [m0, m1), columns [n0, n1).
void gemm_part(const Problem& p, const SgemmKernel& kern, size_t m0, size_t m1, size_t n0, size_t n1) {
  const size_t kc_max = balanced_block(p.k, kern.kc, 1);
  const size_t mc_max = balanced_block(m1 - m0, kern.mc, kern.mr);
  const size_t nc_max = balanced_block(n1 - n0, kern.nc, kern.nr);
  float* packed_a = p.packed_a ? nullptr : thread_scratch<kPackedA>(mc_max * kc_max);
  // With one A block, each B panel is used once: pack a group into a buffer that stays in L2 instead of writing
  // (and evicting) a whole kc×nc block.
  const bool single_a_block = m1 - m0 <= mc_max;
  const size_t group = std::min(group_panels(p, kern, kc_max, n0, n1), ceil_div(nc_max, kern.nr));
  float* packed_b = thread_scratch<kPackedB>(kc_max * (single_a_block ? group * kern.nr : nc_max));
  for (size_t jc = n0; jc < n1; jc += nc_max) {
    const size_t nc = std::min(nc_max, n1 - jc);
    const size_t n_panels = ceil_div(nc, kern.nr);
    for (size_t pc = 0; pc < p.k; pc += kc_max) {
      const size_t kc = std::min(kc_max, p.k - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;  // later K blocks add onto what the first one wrote
      const GemmEpilogue* epilogue = pc + kc == p.k ? p.epilogue : nullptr;
      const float* b_block = p.b ? p.b + jc * p.b_col_stride + pc * p.b_k_stride : nullptr;
      for (size_t ic = m0; ic < m1; ic += mc_max) {
        const size_t mc = std::min(mc_max, m1 - ic);
        const bool first = ic == m0;
        // Prepacked A holds each K block as panels of all M rows: block pc starts at pc·M_padded, row ic at ic·kc.
        const float* a_block = packed_a;
        if (p.packed_a) {
          a_block = p.packed_a + pc * ceil_div(p.m, kern.mr) * kern.mr + ic * kc;
        } else {
          kern.pack_a(p.a + ic * p.a_row_stride + pc * p.a_k_stride, p.a_row_stride, p.a_k_stride, mc, kc, packed_a);
        }
        // A group of B panels at a time, each MR-tall A panel against all of them: the microkernel calls for one A
        // panel write MR rows of C group·NR columns wide, whole lines next to each other, rather than MR short
        // pieces of rows that lie ldc apart (pointwise convolutions write C rows 3136 floats apart).
        for (size_t q0 = 0; q0 < n_panels; q0 += group) {
          const size_t j0 = q0 * kern.nr;
          const size_t group_cols = std::min(group * kern.nr, nc - j0);
          float* b_group = packed_b + (single_a_block ? 0 : j0 * kc);
          if (first && p.b_source) {
            p.b_source->pack(pc, kc, jc + j0, group_cols, kern.nr, b_group);
          } else if (first) {
            kern.pack_b(b_block + j0 * p.b_col_stride, p.b_col_stride, p.b_k_stride, group_cols, kc, b_group);
          }
          for (size_t ir = 0; ir < mc; ir += kern.mr) {
            const size_t mr = std::min(kern.mr, mc - ir);
            for (size_t jr = 0; jr < group_cols; jr += kern.nr) {
              const size_t nr = std::min(kern.nr, group_cols - jr);
              float* c_tile = p.c + (jc + j0 + jr) + (ic + ir) * p.ldc;
              TileEpilogue ep;
              if (epilogue) {
                const size_t i = ic + ir, j = jc + j0 + jr;
                ep = {epilogue->row_bias ? epilogue->row_bias + i : nullptr,
                      epilogue->residual ? epilogue->residual + i * epilogue->ld_residual + j : nullptr,
                      epilogue->ld_residual, epilogue->relu};
              }
              kern.ukernel(kc, a_block + ir * kc, b_group + jr * kc, c_tile, p.ldc, p.alpha, beta, mr, nr,
                           epilogue ? &ep : nullptr);
            }
          }
        }
      }
    }
  }
}

// With a few columns (a classifier run on one image: n = 1) the microkernel would multiply mostly padding, its tile
// being NR columns wide, and the product is bound by reading A anyway: each prepacked MR-row panel is streamed once,
// its rows times the n columns of B, in baseline vector code (the MR rows of a panel's k step are contiguous).
// resnet50's fc at batch 1 (1000×2048): 0.31 ms against 0.48 through the microkernel, weights in cache.
constexpr size_t kSkinnyColumns = 4;

template <size_t MR>
void skinny_panels(const Problem& p, size_t kc_max, size_t m_padded, size_t panel0, size_t panel1) {
  for (size_t panel = panel0; panel < panel1; panel++) {
    float acc[kSkinnyColumns][MR] = {};
    for (size_t pc = 0; pc < p.k; pc += kc_max) {
      const size_t kc = std::min(kc_max, p.k - pc);
      const float* a = p.packed_a + pc * m_padded + panel * MR * kc;
      for (size_t kk = 0; kk < kc; kk++, a += MR) {
        const float* b = p.b + (pc + kk) * p.b_k_stride;
        for (size_t j = 0; j < p.n; j++) {
          const float bj = b[j * p.b_col_stride];
          for (size_t r = 0; r < MR; r++) acc[j][r] += a[r] * bj;
        }
      }
    }
    const size_t i0 = panel * MR, rows = std::min(MR, p.m - i0);
    for (size_t r = 0; r < rows; r++) {
      float* c = p.c + (i0 + r) * p.ldc;
      for (size_t j = 0; j < p.n; j++) {
        c[j] = p.alpha * acc[j][r] + (p.beta == 0.0f ? 0.0f : p.beta * c[j]);
      }
      if (p.epilogue) {
        const GemmEpilogue& e = *p.epilogue;
        const TileEpilogue tile{e.row_bias ? e.row_bias + i0 + r : nullptr,
                                e.residual ? e.residual + (i0 + r) * e.ld_residual : nullptr, 0, e.relu};
        tile_epilogue_row(tile, 0, c, p.n);
      }
    }
  }
}

// Runs p through skinny_panels for the kernel's MR; false (nothing done) for an MR it has no instance for.
bool run_skinny(const Problem& p, const SgemmKernel& kern) {
  void (*panels_fn)(const Problem&, size_t, size_t, size_t, size_t) = nullptr;
  switch (kern.mr) {
    case 8:
      panels_fn = skinny_panels<8>;
      break;
    case 6:
      panels_fn = skinny_panels<6>;
      break;
    case 4:
      panels_fn = skinny_panels<4>;
      break;
    default:
      return false;
  }
  const size_t kc_max = balanced_block(p.k, kern.kc, 1), panels = ceil_div(p.m, kern.mr);
  const size_t m_padded = panels * kern.mr;
  const size_t grain = std::max<size_t>(1, static_cast<size_t>(kMinFlopsPerThread / (2.0 * kern.mr * p.k * p.n)));
  parallel_ranges(panels, grain, [&](size_t q0, size_t q1) { panels_fn(p, kc_max, m_padded, q0, q1); });
  return true;
}

// Runs problem p on the pool, split into a grid of parts of C.
void run(const Problem& p, const SgemmKernel& kern) {
  const Grid grid = choose_grid(threads_for(2.0 * p.m * p.n * p.k), p.m, p.n, kern);
  parallel_for(grid.tm * grid.tn, [&](size_t t) {
    const Part q = part_of(t, grid, p.m, p.n, kern);
    if (q.m0 < q.m1 && q.n0 < q.n1) gemm_part(p, kern, q.m0, q.m1, q.n0, q.n1);
  });
}

// A block's rows in the fewest tiles of at most MR, their heights differing by at most one: 49 rows (a 7×7 plane)
// as 7 × 7 rather than 6 × 8 + 1, whose 1-row tile runs its FMAs at a fraction of the rate (2 accumulators against
// the FMA latency), and whose 8-pixel tiles each span two output rows. Each tile is packed into its own MR-wide
// panel, zero-padded. resnet50's 3×3 convolution on 512 channels at 7×7, batch 1: 2.65-2.71 -> 2.38-2.44 ms on one
// thread, 1.35 -> 1.26 on two.
struct TileRows {
  size_t tiles, base, extra;  // the first `extra` tiles have base + 1 rows, the others base
  TileRows(size_t rows, size_t mr)
      : tiles(ceil_div(rows, mr)), base(rows / tiles), extra(rows % tiles) {}
  size_t first(size_t t) const { return t * base + std::min(t, extra); }
  size_t height(size_t t) const { return base + (t < extra ? 1 : 0); }
};

// sgemm_source_a_packed_b's part of C: rows [m0, m1), columns [n0, n1). With K in one block a tile is final after
// one microkernel call, and the sink gets it while it is in L1: the call streams its B panel (K·NR floats, 256 KiB
// for K = 2048) from L2 at a few bytes a cycle, and the A block, packed once, stays in L2 while the part's B panels
// pass it. Deeper products (resnet50's last 3×3 layers at batch 1: K = 4608, 576 KiB a panel, which L2 cannot keep
// beside the A block, so that every A block streamed all the weights from L3 again) take K in blocks, adding into an
// accumulator of mc rows × the part's columns, and hand each tile to the sink after the last block: 1.73 -> 1.59 ms
// for that layer with caches flushed before each call.
void source_a_part(size_t k, const BPanelSource& a, const float* packed_b, const TileSink& sink,
                   const SgemmKernel& kern, size_t kc_max, size_t mc_max, size_t m0, size_t m1, size_t n0, size_t n1) {
  const bool blocked = kc_max < k;
  const size_t width = ceil_div(n1 - n0, kern.nr) * kern.nr;
  float* packed_a = thread_scratch<kPackedA>(mc_max * kc_max);
  float* acc = blocked ? thread_scratch<kGemmAccumulator>(mc_max * width) : nullptr;
  alignas(64) float tile[kMaxTileFloats];
  for (size_t ic = m0; ic < m1; ic += mc_max) {
    const size_t mc = std::min(mc_max, m1 - ic);
    const TileRows rows(mc, kern.mr);
    for (size_t pc = 0; pc < k; pc += kc_max) {
      const size_t kc = std::min(kc_max, k - pc);
      const bool last = pc + kc == k;
      for (size_t t = 0; t < rows.tiles; t++) {
        a.pack(pc, kc, ic + rows.first(t), rows.height(t), kern.mr, packed_a + t * kern.mr * kc);
      }
      for (size_t jr = n0; jr < n1; jr += kern.nr) {
        const size_t nr = std::min(kern.nr, n1 - jr);
        const float* bp = packed_b + jr * k + pc * kern.nr;  // panel jr / NR, from step pc
        for (size_t t = 0; t < rows.tiles; t++) {
          const size_t ir = rows.first(t), mr = rows.height(t);
          float* c = blocked ? acc + ir * width + (jr - n0) : tile;
          const size_t ldc = blocked ? width : kern.nr;
          kern.ukernel(kc, packed_a + t * kern.mr * kc, bp, c, ldc, 1.0f, pc == 0 ? 0.0f : 1.0f, mr, nr, nullptr);
          if (last) sink.store(ic + ir, jr, mr, nr, c, ldc);
        }
      }
    }
  }
}

}  // namespace

size_t sgemm_packed_b_size(size_t k, size_t n) {
  const SgemmKernel& kern = sgemm_kernel();
  return ceil_div(n, kern.nr) * kern.nr * k;
}

void sgemm_pack_b(bool trans_b, size_t k, size_t n, const float* b, size_t ldb, float* packed) {
  const SgemmKernel& kern = sgemm_kernel();
  kern.pack_b(b, trans_b ? ldb : 1, trans_b ? 1 : ldb, n, k, packed);
}

size_t sgemm_tile_rows() { return sgemm_kernel().mr; }

size_t sgemm_tile_columns() { return sgemm_kernel().nr; }

size_t sgemm_padded_columns(size_t n) {
  const SgemmKernel& kern = sgemm_kernel();
  return n / kern.nr * kern.nr + ceil_div(n % kern.nr, kern.nr_step) * kern.nr_step;
}

void sgemm_store_columns(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                         const TileEpilogue* ep) {
  sgemm_kernel().store_columns(tile, ld, m, n, dst, ldd, ep);
}

void sgemm_source_a_packed_b(size_t m, size_t n, size_t k, const BPanelSource& a, const float* packed_b,
                             const TileSink& c) {
  if (m == 0 || n == 0) return;
  const SgemmKernel& kern = sgemm_kernel();
  if (k == 0) {
    alignas(64) float zeros[kMaxTileFloats] = {};
    for (size_t i = 0; i < m; i += kern.mr) {
      for (size_t j = 0; j < n; j += kern.nr) {
        c.store(i, j, std::min(kern.mr, m - i), std::min(kern.nr, n - j), zeros, kern.nr);
      }
    }
    return;
  }
  // K in one block while a B panel takes at most a quarter of L2; A blocks of at most half of L2 (a quarter with K in
  // blocks, beside the accumulator's quarter). Each A block reads all of B, a layer's weights (1 MB for resnet50's
  // layer3 conv1, 4 MB for layer4's), from L3: with K in one block, A blocks of a quarter of L2 had read them 12 times
  // per thread at batch 8. resnet50's layer3 conv1 calls at batch 8: 34.0-34.8 -> 31.8-33.5 ms a forward.
  const size_t quarter = l2_bytes() / 4 / sizeof(float);
  const size_t kc_max = k * kern.nr <= quarter ? k : balanced_block(k, kern.kc, 1);
  const size_t a_block = kc_max < k ? quarter : 2 * quarter;
  const size_t mc_cap = std::max(kern.mr, a_block / kc_max / kern.mr * kern.mr);
  // The grid with the least work per thread: padded products, plus packing A once per part (kPackCost per element)
  // and reading B once per A block.
  const Grid grid = cheapest_grid(threads_for(2.0 * m * n * k), m, n, kern, [&](double rows, double cols) {
    return 2 * rows * cols + kPackCost * rows + 4 * cols * std::ceil(rows / static_cast<double>(mc_cap));
  });
  parallel_for(grid.tm * grid.tn, [&](size_t t) {
    const Part q = part_of(t, grid, m, n, kern);
    if (q.m0 >= q.m1 || q.n0 >= q.n1) return;
    const size_t width = ceil_div(q.n1 - q.n0, kern.nr) * kern.nr;
    const size_t cap = kc_max < k ? std::min(mc_cap, std::max(kern.mr, quarter / width / kern.mr * kern.mr)) : mc_cap;
    source_a_part(k, a, packed_b, c, kern, kc_max, balanced_block(q.m1 - q.m0, cap, kern.mr), q.m0, q.m1, q.n0, q.n1);
  });
}

size_t sgemm_packed_a_size(size_t m, size_t k) {
  const SgemmKernel& kern = sgemm_kernel();
  return ceil_div(m, kern.mr) * kern.mr * k;
}

void sgemm_pack_a(bool trans_a, size_t m, size_t k, const float* a, size_t lda, float* packed) {
  const SgemmKernel& kern = sgemm_kernel();
  const size_t row_stride = trans_a ? 1 : lda, k_stride = trans_a ? lda : 1;
  const size_t m_padded = ceil_div(m, kern.mr) * kern.mr;
  const size_t kc_max = balanced_block(k, kern.kc, 1);  // the K blocks gemm_part will use
  for (size_t pc = 0; pc < k; pc += kc_max) {
    kern.pack_a(a + pc * k_stride, row_stride, k_stride, m, std::min(kc_max, k - pc), packed + pc * m_padded);
  }
}

size_t sgemm_packed_a_offset(size_t m, size_t k, size_t i, size_t kk) {
  // K blocks of kc_max, each holding panels of MR rows × kc, each panel k-major: [block][panel][kk][row].
  const SgemmKernel& kern = sgemm_kernel();
  const size_t kc_max = balanced_block(k, kern.kc, 1), pc = kk / kc_max * kc_max, kc = std::min(kc_max, k - pc);
  return pc * ceil_div(m, kern.mr) * kern.mr + i / kern.mr * kern.mr * kc + (kk - pc) * kern.mr + i % kern.mr;
}

void sgemm_packed_a_zero_padding(size_t m, size_t k, float* packed) {
  const SgemmKernel& kern = sgemm_kernel();
  for (size_t i = m; i < ceil_div(m, kern.mr) * kern.mr; i++) {
    for (size_t kk = 0; kk < k; kk++) packed[sgemm_packed_a_offset(m, k, i, kk)] = 0.0f;
  }
}

void sgemm_packed_a(size_t m, size_t n, size_t k, float alpha, const float* packed_a, bool trans_b, const float* b,
                    size_t ldb, float beta, float* c, size_t ldc, const GemmEpilogue* epilogue) {
  if (m == 0 || n == 0) return;
  GemmEpilogue storage;
  const Problem p = with_residual_in_c({m, n, k, alpha, beta, nullptr, 0, 0, b, trans_b ? ldb : 1, trans_b ? 1 : ldb,
                                        c, ldc, epilogue, packed_a, nullptr},
                                       storage);
  if (k == 0 || alpha == 0.0f) {
    epilogue_only(p);
    return;
  }
  const SgemmKernel& kern = sgemm_kernel();
  if (n > kSkinnyColumns || !run_skinny(p, kern)) run(p, kern);
}

void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
           const float* b, size_t ldb, float beta, float* c, size_t ldc, const GemmEpilogue* epilogue) {
  if (m == 0 || n == 0) return;
  GemmEpilogue storage;
  const Problem p = with_residual_in_c({m, n, k, alpha, beta,
                                        a, trans_a ? 1 : lda, trans_a ? lda : 1,
                                        b, trans_b ? ldb : 1, trans_b ? 1 : ldb,
                                        c, ldc, epilogue, nullptr, nullptr},
                                       storage);
  if (k == 0 || alpha == 0.0f) {
    epilogue_only(p);
    return;
  }
  run(p, sgemm_kernel());
}

void sgemm_packed_a_source(size_t m, size_t n, size_t k, const float* packed_a, const BPanelSource& b, float* c,
                           size_t ldc, const GemmEpilogue* epilogue) {
  if (m == 0 || n == 0) return;
  GemmEpilogue storage;
  const Problem p =
      with_residual_in_c({m, n, k, 1.0f, 0.0f, nullptr, 0, 0, nullptr, 0, 0, c, ldc, epilogue, packed_a, &b}, storage);
  if (k == 0) {
    epilogue_only(p);
    return;
  }
  // Through the blocked driver whatever n is: the skinny path reads B in place.
  run(p, sgemm_kernel());
}

}  // namespace resnet
