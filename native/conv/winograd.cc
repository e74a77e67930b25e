// Winograd convolution (Lavin & Gray 2015) for 3×3 stride-1 padding-1 layers. The forward pass (and so the input
// gradient, which is a forward pass) uses F(4×4, 3×3): U = G·g·Gᵀ per (oc, c) once at packing, V = Bᵀ·d·B per 6×6
// input tile (stride 4, padding 1), M[ξ] = U[ξ]·V[ξ] as 36 GEMMs over a chunk of tiles of the whole batch, y = Aᵀ·M·A
// per tile with bias, residual and ReLU: 4× fewer multiplies than direct, against F(2×2, 3×3)'s 2.25×, and 36 rather
// than 64 transformed values per 16 outputs. The weight gradient keeps F(2×2, 3×3) (its transforms are the adjoints
// written below). Chunks of tiles go to the threads (each with its own V and M, serial GEMMs) when there are enough of
// them; otherwise the GEMMs themselves are threaded. The transforms loop over consecutive tiles, which the compiler
// vectorises: the passes that read the image or write y one tile row at a time, the others over all of a chunk's
// tiles at once (a row of V or M is contiguous over them). Loops of a tile row (14 tiles at 56×56, 4 at 14×14) had
// left the vector loops mostly their scalar tails: resnet50's 3×3 layers at batch 1 ran 8–16% faster for it.
#include "winograd.h"

#include <algorithm>
#include <vector>

#include "../gemm/sgemm.h"
#include "../parallel.h"
#include "../scratch.h"
#include "../short_copy.h"
#include "../threadpool.h"

namespace resnet {

// (winograd.h) 4K aliasing cost the weight transform 3× and the input transform about as much.
size_t xi_stride(size_t floats) { return (floats + 1023) / 1024 * 1024 + 64; }

namespace {

constexpr size_t kXi = 16;   // F(2×2, 3×3): 4×4 transformed positions
constexpr size_t kXi4 = 36;  // F(4×4, 3×3): 6×6

// Output tiles: TW per tile row, per_image = TH·TW, total over the batch.
struct Tiles {
  size_t tw, per_image, total;
};

// Output tiles of m×m outputs each.
Tiles tiles_of(const ConvShape& s, size_t m) {
  const size_t th = ceil_div(s.oh, m), tw = ceil_div(s.ow, m);
  return {tw, th * tw, s.n * th * tw};
}

// Tiles per chunk, a multiple of 32 (the widest NR): V (ξ·C·nt) and M (ξ·OC·nt) of about 2 MB together, so that they
// stay in L2 between the transforms and the GEMMs, but small enough that every thread gets a chunk. Each chunk also
// reads all of U (ξ·OC·C), or in the weight gradient reads and writes all of dU, so a chunk has at least
// OC·C/(C + OC) tiles, where U stops outweighing its V and M: with 512 channels at 7×7, 2 MB chunks read U's 36 MB
// four times over for 128 tiles; the weight gradient of 128 and 256 channels ran 8% faster for it.
size_t chunk_tiles(const ConvShape& s, size_t xi, size_t total, size_t threads) {
  const size_t by_cache = std::max<size_t>(32, (size_t{1} << 19) / (xi * (s.c + s.oc)) / 32 * 32);
  const size_t by_weights = ceil_div(s.oc * s.c / (s.c + s.oc), 32) * 32;
  const size_t by_threads = ceil_div(ceil_div(total, threads), 32) * 32;
  return std::min(std::max(by_cache, by_weights), by_threads);
}

// The tiles [t0, t1) of a chunk as runs within one tile row of one image: tiles t = (image·TH + ty)·TW + tx.
struct Run {
  size_t img, ty, tx0, tx1, k;  // k: the run's first column in the chunk's V and M
};

std::vector<Run>& runs_of(const Tiles& tl, size_t t0, size_t t1) {
  thread_local std::vector<Run> runs;
  runs.clear();
  for (size_t t = t0; t < t1;) {
    const size_t img = t / tl.per_image, ty = t % tl.per_image / tl.tw, tx0 = t % tl.tw;
    const size_t tx1 = std::min(tl.tw, tx0 + (t1 - t));
    runs.push_back({img, ty, tx0, tx1, t - t0});
    t += tx1 - tx0;
  }
  return runs;
}

// The tiles the runs cover: the chunk's columns of V and M in use.
size_t chunk_count(const std::vector<Run>& runs) {
  return runs.empty() ? 0 : runs.back().k + (runs.back().tx1 - runs.back().tx0);
}

// Input row iy of plane xp into row[1, 1 + W): the row itself, or zeros above and below the image. The border
// columns around it are the caller's (zeroed once).
void load_input_row(const ConvShape& s, const float* xp, long long iy, float* row) {
  if (iy >= 0 && iy < static_cast<long long>(s.h)) {
    copy_short(xp + iy * s.w, s.w, row + 1);
  } else {
    zero_short(row + 1, s.w);
  }
}

// Row oy of the output-gradient plane dp into row[0, OW): zeros below the last output row.
void load_output_row(const ConvShape& s, const float* dp, size_t oy, float* row) {
  if (oy < s.oh) {
    copy_short(dp + oy * s.ow, s.ow, row);
  } else {
    zero_short(row, s.ow);
  }
}

// dst[i] = act(o[i] + (bias + res[i])) (res may be dst itself, or null for none) in one pass: the stores into y miss
// the cache, and a separate ReLU pass read each row back. GCC's aliasing check lets res == dst take the vector loop.
template <bool Relu, bool Residual>
void store_row_as(const float* __restrict o, float bias, const float* res, float* dst, size_t count) {
  for (size_t i = 0; i < count; i++) {
    const float v = o[i] + (Residual ? bias + res[i] : bias);
    dst[i] = Relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN, as torch.relu keeps it
  }
}

void store_row(const float* o, float bias, const float* res, float* dst, size_t count, bool relu) {
  if (res) {
    relu ? store_row_as<true, true>(o, bias, res, dst, count) : store_row_as<false, true>(o, bias, res, dst, count);
  } else {
    relu ? store_row_as<true, false>(o, bias, res, dst, count) : store_row_as<false, false>(o, bias, res, dst, count);
  }
}

// A run's m output rows of channel oc, out_rows[r·m·TW + column], into y with bias, residual and ReLU; rows past OH
// and columns past OW (odd sizes) are dropped.
void store_output_rows(const ConvShape& s, const Tiles& tl, const Run& run, size_t m, size_t oc, const float* out_rows,
                       float bias, const ConvEpilogue& ep, float* y) {
  const size_t plane = s.oh * s.ow, ox0 = m * run.tx0, ox1 = std::min(s.ow, m * run.tx1);
  for (size_t r = 0; r < m; r++) {
    const size_t oy = m * run.ty + r;
    if (oy >= s.oh) break;
    const size_t at = (run.img * s.oc + oc) * plane + oy * s.ow + ox0;
    const float* __restrict o = out_rows + r * m * tl.tw;
    const size_t count = ox1 - ox0;
    // A residual that is y itself (an input gradient added to the one already there) reads dst as it writes it.
    store_row(o, bias, ep.residual ? ep.residual + at : nullptr, y + at, count, ep.relu);
  }
}

// The four rows of F(2×2, 3×3)'s 4×4 input transform: o_q[i] = Σ_r Bᵀ[q][r]·d_r[i], contiguous in i.
void input_transform2_rows(const float* __restrict d0, const float* __restrict d1, const float* __restrict d2,
                           const float* __restrict d3, size_t n, float* __restrict o0, float* __restrict o1,
                           float* __restrict o2, float* __restrict o3) {
  for (size_t i = 0; i < n; i++) {
    o0[i] = d0[i] - d2[i];
    o1[i] = d1[i] + d2[i];
    o2[i] = d2[i] - d1[i];
    o3[i] = d1[i] - d3[i];
  }
}

// The two rows of F(2×2, 3×3)'s output transform: o_r[i] = Σ_q Aᵀ[r][q]·m_q[i], contiguous in i.
void output_transform2_rows(const float* __restrict m0, const float* __restrict m1, const float* __restrict m2,
                            const float* __restrict m3, size_t n, float* __restrict o0, float* __restrict o1) {
  for (size_t i = 0; i < n; i++) {
    o0[i] = m0[i] + m1[i] + m2[i];
    o1[i] = m1[i] - m2[i] - m3[i];
  }
}

// V[ξ][c][k] for the chunk's tiles: Bᵀ·d·B with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], d the 4×4 patch at
// input row 2ty − 1, column 2tx − 1. Each of the tile row's 4 input rows is copied with its zero padding and its
// columns transformed for all tiles of the run; then the rows, for all tiles of the chunk: loops without branches.
void input_transform(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* x, size_t nt,
                     float* v, size_t c0, size_t c1) {
  const size_t plane = s.h * s.w, xstride = xi_stride(s.c * nt), padded = 2 * tl.tw + 2;
  const size_t count = chunk_count(runs);
  thread_local std::vector<float> rows_buf, cols_buf;
  rows_buf.assign(4 * padded, 0.0f);
  cols_buf.resize(16 * count);
  float* rows = rows_buf.data();
  float* e = cols_buf.data();  // e[(r·4 + j)·count + k]: row r of tile k's patch after the column transform
  for (size_t c = c0; c < c1; c++) {
    for (const Run& run : runs) {
      const float* xp = x + (run.img * s.c + c) * plane;
      const size_t n = run.tx1 - run.tx0;
      for (size_t r = 0; r < 4; r++) {
        const long long iy = 2 * static_cast<long long>(run.ty) - 1 + static_cast<long long>(r);
        float* row = rows + r * padded;
        load_input_row(s, xp, iy, row);
        const float* __restrict src = row + 2 * run.tx0;
        float* __restrict e0 = e + (r * 4) * count + run.k;
        float* __restrict e1 = e0 + count;
        float* __restrict e2 = e1 + count;
        float* __restrict e3 = e2 + count;
        for (size_t i = 0; i < n; i++) {
          const float d0 = src[2 * i], d1 = src[2 * i + 1], d2 = src[2 * i + 2], d3 = src[2 * i + 3];
          e0[i] = d0 - d2;
          e1[i] = d1 + d2;
          e2[i] = d2 - d1;
          e3[i] = d1 - d3;
        }
      }
    }
    float* out = v + c * nt;
    for (size_t j = 0; j < 4; j++) {
      const float* r0 = e + j * count;
      float* o = out + j * xstride;
      input_transform2_rows(r0, r0 + 4 * count, r0 + 8 * count, r0 + 12 * count, count, o, o + 4 * xstride,
                            o + 8 * xstride, o + 12 * xstride);
    }
  }
}

// y (2×2 per tile) = Aᵀ·m·A with Aᵀ = [1 1 1 0; 0 1 −1 −1], then bias, residual and ReLU along each output row;
// outputs past OH/OW (odd sizes) are dropped.
void output_transform(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* m, size_t nt,
                      const ConvEpilogue& ep, float* y, size_t oc0, size_t oc1) {
  const size_t xstride = xi_stride(s.oc * nt), count = chunk_count(runs);
  thread_local std::vector<float> a_buf, ph_buf, row_buf;
  a_buf.resize(8 * count);
  ph_buf.resize(4 * count);
  row_buf.resize(2 * 2 * tl.tw);
  float* a = a_buf.data();    // a[(i·4 + j)·count + k] for output row i of tile k, transform column j
  float* ph = ph_buf.data();  // ph[(r·2 + p)·count + k]: output row r, column p of tile k
  float* out_rows = row_buf.data();
  for (size_t oc = oc0; oc < oc1; oc++) {
    const float bias = ep.bias ? ep.bias[oc] : 0.0f;
    const float* mo = m + oc * nt;
    for (size_t j = 0; j < 4; j++) {
      const float* m0 = mo + j * xstride;
      output_transform2_rows(m0, m0 + 4 * xstride, m0 + 8 * xstride, m0 + 12 * xstride, count, a + j * count,
                             a + (4 + j) * count);
    }
    for (size_t r = 0; r < 2; r++) {
      const float* q0 = a + (r * 4) * count;
      output_transform2_rows(q0, q0 + count, q0 + 2 * count, q0 + 3 * count, count, ph + r * 2 * count,
                             ph + (r * 2 + 1) * count);
    }
    for (const Run& run : runs) {
      const size_t n = run.tx1 - run.tx0;
      for (size_t r = 0; r < 2; r++) {
        const float* __restrict p0 = ph + r * 2 * count + run.k;
        const float* __restrict p1 = p0 + count;
        float* __restrict o = out_rows + r * 2 * tl.tw;
        for (size_t i = 0; i < n; i++) {
          o[2 * i] = p0[i];
          o[2 * i + 1] = p1[i];
        }
      }
      store_output_rows(s, tl, run, 2, oc, out_rows, bias, ep, y);
    }
  }
}

// The weight gradient's transform of dy: dM[ξ][oc][k] = (A·δ·Aᵀ)[ξ] with A = [1 0; 1 1; 1 −1; 0 −1], δ the tile's 2×2
// block of dy (zero past OH/OW), the adjoint of output_transform.
void output_gradient_transform(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* dy,
                               size_t nt, float* dm) {
  const size_t xstride = xi_stride(s.oc * nt), plane = s.oh * s.ow;
  thread_local std::vector<float> rows_buf;
  rows_buf.assign(2 * (2 * tl.tw + 2), 0.0f);
  const size_t padded = 2 * tl.tw + 2;
  for (size_t oc = 0; oc < s.oc; oc++) {
    for (const Run& run : runs) {
      const size_t n = run.tx1 - run.tx0;
      const float* dp = dy + (run.img * s.oc + oc) * plane;
      float* rows = rows_buf.data();
      for (size_t r = 0; r < 2; r++) {
        const size_t oy = 2 * run.ty + r;
        load_output_row(s, dp, oy, rows + r * padded);
      }
      float* out = dm + oc * nt + run.k;
      const float* __restrict d0 = rows + 2 * run.tx0;
      const float* __restrict d1 = d0 + padded;
      for (size_t i = 0; i < n; i++) {
        // Rows of A·δ: [δ0, δ0 + δ1, δ0 − δ1, −δ1] (δr the tile's output row r), then the same on columns.
        const float a00 = d0[2 * i], a01 = d0[2 * i + 1], a10 = d1[2 * i], a11 = d1[2 * i + 1];
        const float r[4][2] = {{a00, a01}, {a00 + a10, a01 + a11}, {a00 - a10, a01 - a11}, {-a10, -a11}};
        for (int q = 0; q < 4; q++) {
          float* o = out + i + q * 4 * xstride;
          o[0] = r[q][0];
          o[xstride] = r[q][0] + r[q][1];
          o[2 * xstride] = r[q][0] - r[q][1];
          o[3 * xstride] = -r[q][1];
        }
      }
    }
  }
}

// Splits row[0, 4·count) by column phase: ph[p·stride + i] = row[4i + p]. The strided reads are then done once,
// in a loop the compiler vectorises with shuffles, and the transforms read contiguous phase arrays.
void split_phases(const float* __restrict row, size_t count, size_t stride, float* __restrict ph) {
  float* __restrict p0 = ph;
  float* __restrict p1 = ph + stride;
  float* __restrict p2 = ph + 2 * stride;
  float* __restrict p3 = ph + 3 * stride;
  for (size_t i = 0; i < count; i++) {
    p0[i] = row[4 * i];
    p1[i] = row[4 * i + 1];
    p2[i] = row[4 * i + 2];
    p3[i] = row[4 * i + 3];
  }
}

// split_phases of a row of `width` values that starts at column `first` (negative: left padding), with zeros for
// the columns outside [0, width): read straight from the tensor, as a copy into a padded row first made every
// read of it wait on a store it overlapped.
void split_phases_padded(const float* row, long long width, long long first, size_t count, size_t stride,
                         float* ph) {
  // Groups [lo, hi) have all four columns first + 4i + p inside the row; the groups on either side take zeros.
  const long long n = static_cast<long long>(count);
  const long long lo_group = std::min(n, first >= 0 ? 0LL : (-first + 3) / 4);
  const long long hi_group = std::max(lo_group, std::min(n, (width - first) / 4));
  const size_t lo = static_cast<size_t>(lo_group), hi = static_cast<size_t>(hi_group);
  auto edge_group = [&](size_t i) {
    for (size_t p = 0; p < 4; p++) {
      const long long col = first + 4 * static_cast<long long>(i) + static_cast<long long>(p);
      ph[p * stride + i] = col >= 0 && col < width ? row[col] : 0.0f;
    }
  };
  for (size_t i = 0; i < lo; i++) edge_group(i);
  if (lo < hi) split_phases(row + first + 4 * lo_group, hi - lo, stride, ph + lo);
  for (size_t i = hi; i < count; i++) edge_group(i);
}

// The six rows of one of F(4×4, 3×3)'s 6×6 transforms: o_q[i] = Σ_r Bᵀ[q][r]·d_r[i], every array contiguous in i
// (the tiles of a run), so that the loop vectorises.
void input_transform4_rows(const float* __restrict d0, const float* __restrict d1, const float* __restrict d2,
                           const float* __restrict d3, const float* __restrict d4, const float* __restrict d5,
                           size_t n, float* __restrict o0, float* __restrict o1, float* __restrict o2,
                           float* __restrict o3, float* __restrict o4, float* __restrict o5) {
  for (size_t i = 0; i < n; i++) {
    o0[i] = 4 * d0[i] - 5 * d2[i] + d4[i];
    o1[i] = -4 * (d1[i] + d2[i]) + d3[i] + d4[i];
    o2[i] = 4 * (d1[i] - d2[i]) - d3[i] + d4[i];
    o3[i] = 2 * (d3[i] - d1[i]) - d2[i] + d4[i];
    o4[i] = 2 * (d1[i] - d3[i]) - d2[i] + d4[i];
    o5[i] = 4 * d1[i] - 5 * d3[i] + d5[i];
  }
}

// F(4×4, 3×3). V[ξ][c][k] = Bᵀ·d·B with d the 6×6 patch at input row 4ty − 1, column 4tx − 1 and
// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1], ξ = 6·row + column.
// Each of the tile row's 6 input rows is split by column phase, with its zero padding (tile i's columns are phases
// 0–3 of i, then 0–1 of i + 1), the columns transformed for all tiles of the run; then the rows, for all tiles of
// the chunk.
void input_transform4(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* x, size_t nt,
                      float* v, size_t c0, size_t c1) {
  const size_t plane = s.h * s.w, xstride = xi_stride(s.c * nt), ps = tl.tw + 1;
  const size_t count = chunk_count(runs);
  thread_local std::vector<float> phase_buf, cols_buf;
  phase_buf.resize(4 * ps);
  cols_buf.resize(36 * count);
  float* ph = phase_buf.data();
  float* e = cols_buf.data();  // e[(r·6 + j)·count + k]: row r of tile k's patch after the column transform
  const size_t es = count, rs = 6 * es, qs = 6 * xstride;
  for (size_t c = c0; c < c1; c++) {
    for (const Run& run : runs) {
      const float* xp = x + (run.img * s.c + c) * plane;
      const size_t n = run.tx1 - run.tx0;
      for (size_t r = 0; r < 6; r++) {
        const long long iy = 4 * static_cast<long long>(run.ty) - 1 + static_cast<long long>(r);
        if (iy >= 0 && iy < static_cast<long long>(s.h)) {
          split_phases_padded(xp + iy * s.w, static_cast<long long>(s.w), 4 * static_cast<long long>(run.tx0) - 1,
                              n + 1, ps, ph);
        } else {
          std::fill(ph, ph + 4 * ps, 0.0f);
        }
        float* e0 = e + (r * 6) * es + run.k;
        input_transform4_rows(ph, ph + ps, ph + 2 * ps, ph + 3 * ps, ph + 1, ph + ps + 1, n, e0, e0 + es,
                              e0 + 2 * es, e0 + 3 * es, e0 + 4 * es, e0 + 5 * es);
      }
    }
    float* out = v + c * nt;
    for (size_t j = 0; j < 6; j++) {
      const float* r0 = e + j * es;
      float* o = out + j * xstride;
      input_transform4_rows(r0, r0 + rs, r0 + 2 * rs, r0 + 3 * rs, r0 + 4 * rs, r0 + 5 * rs, count, o, o + qs,
                            o + 2 * qs, o + 3 * qs, o + 4 * qs, o + 5 * qs);
    }
  }
}

// The four rows of F(4×4, 3×3)'s output transform: o_r[i] = Σ_q Aᵀ[r][q]·m_q[i], contiguous in i.
void output_transform4_rows(const float* __restrict m0, const float* __restrict m1, const float* __restrict m2,
                            const float* __restrict m3, const float* __restrict m4, const float* __restrict m5,
                            size_t n, float* __restrict o0, float* __restrict o1, float* __restrict o2,
                            float* __restrict o3) {
  for (size_t i = 0; i < n; i++) {
    const float p12 = m1[i] + m2[i], n12 = m1[i] - m2[i], p34 = m3[i] + m4[i], n34 = m3[i] - m4[i];
    o0[i] = m0[i] + p12 + p34;
    o1[i] = n12 + 2 * n34;
    o2[i] = p12 + 4 * p34;
    o3[i] = n12 + 8 * n34 + m5[i];
  }
}

// Interleaves four phase arrays into row[4i + p] = ph_p[i]: split_phases' inverse.
void join_phases(const float* __restrict p0, const float* __restrict p1, const float* __restrict p2,
                 const float* __restrict p3, size_t count, float* __restrict row) {
  for (size_t i = 0; i < count; i++) {
    row[4 * i] = p0[i];
    row[4 * i + 1] = p1[i];
    row[4 * i + 2] = p2[i];
    row[4 * i + 3] = p3[i];
  }
}

// y (4×4 per tile) = Aᵀ·m·A with Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1], then bias,
// residual and ReLU along each output row; outputs past OH/OW are dropped.
void output_transform4(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* m, size_t nt,
                       const ConvEpilogue& ep, float* y, size_t oc0, size_t oc1) {
  const size_t xstride = xi_stride(s.oc * nt), es = tl.tw;
  const size_t count = chunk_count(runs);
  thread_local std::vector<float> a_buf, ph_buf, row_buf;
  a_buf.resize(24 * count);
  ph_buf.resize(16 * count);
  row_buf.resize(4 * 4 * es);
  float* a = a_buf.data();    // a[(r·6 + j)·count + k] for output row r of tile k, transform column j
  float* ph = ph_buf.data();  // ph[(r·4 + p)·count + k]: output row r, column p of tile k
  float* out_rows = row_buf.data();
  const size_t qs = 6 * xstride, rs = 6 * count;
  for (size_t oc = oc0; oc < oc1; oc++) {
    const float bias = ep.bias ? ep.bias[oc] : 0.0f;
    const float* mo = m + oc * nt;
    for (size_t j = 0; j < 6; j++) {
      const float* m0 = mo + j * xstride;
      float* a0 = a + j * count;
      output_transform4_rows(m0, m0 + qs, m0 + 2 * qs, m0 + 3 * qs, m0 + 4 * qs, m0 + 5 * qs, count, a0, a0 + rs,
                             a0 + 2 * rs, a0 + 3 * rs);
    }
    for (size_t r = 0; r < 4; r++) {
      const float* q0 = a + (r * 6) * count;
      float* p0 = ph + r * 4 * count;
      output_transform4_rows(q0, q0 + count, q0 + 2 * count, q0 + 3 * count, q0 + 4 * count, q0 + 5 * count, count,
                             p0, p0 + count, p0 + 2 * count, p0 + 3 * count);
    }
    for (const Run& run : runs) {
      const size_t n = run.tx1 - run.tx0;
      for (size_t r = 0; r < 4; r++) {
        const float* p0 = ph + r * 4 * count + run.k;
        join_phases(p0, p0 + count, p0 + 2 * count, p0 + 3 * count, n, out_rows + r * 4 * es);
      }
      store_output_rows(s, tl, run, 4, oc, out_rows, bias, ep, y);
    }
  }
}

// The input transform of the variant's tile size (m = 4 or 2) for input channels [c0, c1).
void transform_input(const ConvShape& s, size_t m, const Tiles& tl, const std::vector<Run>& runs, const float* x,
                     size_t nt, float* v, size_t c0, size_t c1) {
  if (m == 4) {
    input_transform4(s, tl, runs, x, nt, v, c0, c1);
  } else {
    input_transform(s, tl, runs, x, nt, v, c0, c1);
  }
}

// The output transform of the variant's tile size for output channels [oc0, oc1).
void transform_output(const ConvShape& s, size_t m, const Tiles& tl, const std::vector<Run>& runs, const float* mt,
                      size_t nt, const ConvEpilogue& ep, float* y, size_t oc0, size_t oc1) {
  if (m == 4) {
    output_transform4(s, tl, runs, mt, nt, ep, y, oc0, oc1);
  } else {
    output_transform(s, tl, runs, mt, nt, ep, y, oc0, oc1);
  }
}

// The six rows of F(4×4, 3×3)'s output-gradient transform: o_q[i] = Σ_r A[q][r]·d_r[i], contiguous in i.
void output_gradient_transform4_rows(const float* __restrict d0, const float* __restrict d1,
                                     const float* __restrict d2, const float* __restrict d3, size_t n,
                                     float* __restrict o0, float* __restrict o1, float* __restrict o2,
                                     float* __restrict o3, float* __restrict o4, float* __restrict o5) {
  for (size_t i = 0; i < n; i++) {
    const float p02 = d0[i] + d2[i], p13 = d1[i] + d3[i];
    o0[i] = d0[i];
    o1[i] = p02 + p13;
    o2[i] = p02 - p13;
    o3[i] = d0[i] + 2 * d1[i] + 4 * d2[i] + 8 * d3[i];
    o4[i] = d0[i] - 2 * d1[i] + 4 * d2[i] - 8 * d3[i];
    o5[i] = d3[i];
  }
}

// F(4×4, 3×3)'s adjoint of output_transform4, for the weight gradient: dM[ξ][oc][k] = (A·δ·Aᵀ)[ξ] with Aᵀ as there
// (A = [1 0 0 0; 1 1 1 1; 1 −1 1 −1; 1 2 4 8; 1 −2 4 −8; 0 0 0 1]) and δ the tile's 4×4 block of dy, zero past OH/OW.
void output_gradient_transform4(const ConvShape& s, const Tiles& tl, const std::vector<Run>& runs, const float* dy,
                                size_t nt, float* dm) {
  const size_t xstride = xi_stride(s.oc * nt), plane = s.oh * s.ow, es = tl.tw;
  thread_local std::vector<float> ph_buf, e_buf;
  ph_buf.resize(4 * es);
  e_buf.resize(24 * es);
  float* ph = ph_buf.data();
  float* e = e_buf.data();  // e[(r·6 + j)·TW + tx]: row r of δ after the column transform (A applied along x)
  for (size_t oc = 0; oc < s.oc; oc++) {
    for (const Run& run : runs) {
      const size_t n = run.tx1 - run.tx0;
      const float* dp = dy + (run.img * s.oc + oc) * plane;
      for (size_t r = 0; r < 4; r++) {
        const size_t oy = 4 * run.ty + r;
        if (oy < s.oh) {
          split_phases_padded(dp + oy * s.ow, static_cast<long long>(s.ow), 4 * static_cast<long long>(run.tx0), n,
                              es, ph);
        } else {
          std::fill(ph, ph + 4 * es, 0.0f);
        }
        float* e0 = e + (r * 6) * es;
        output_gradient_transform4_rows(ph, ph + es, ph + 2 * es, ph + 3 * es, n, e0, e0 + es, e0 + 2 * es,
                                        e0 + 3 * es, e0 + 4 * es, e0 + 5 * es);
      }
      float* out = dm + oc * nt + run.k;
      const size_t rs = 6 * es, qs = 6 * xstride;
      for (size_t j = 0; j < 6; j++) {
        const float* r0 = e + j * es;
        float* o = out + j * xstride;
        output_gradient_transform4_rows(r0, r0 + rs, r0 + 2 * rs, r0 + 3 * rs, n, o, o + qs, o + 2 * qs, o + 3 * qs,
                                        o + 4 * qs, o + 5 * qs);
      }
    }
  }
}

}  // namespace

bool winograd_eligible(const ConvShape& s) {
  return s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 && s.pad_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && s.c >= 64 && s.oc >= 64;
}

namespace {

// F(2×2, 3×3) or F(4×4, 3×3): m×m outputs per tile from α×α inputs, ξ = α² transformed positions.
struct Variant {
  size_t m, alpha, xi;
};
constexpr Variant kF2{2, 4, kXi}, kF4{4, 6, kXi4};

// F(4×4, 3×3) once its tiles fill the microkernel's 16-column form: with fewer (batch 1 at 7×7 has 4) its GEMMs
// would mostly multiply padding, and F(2×2, 3×3) has 4× as many tiles. At 16 (256 channels at 14×14, batch 1) its
// 576 products per channel pair against F(2×2)'s 49 tiles in two 32-column panels (1024): 0.50-0.55 ms against
// 0.74-0.77 hot, and resnet50's layer3 3×3 convolutions at batch 1 5.5 -> 4.9 ms; 512 channels at 7×7, batch 4,
// 2.76-2.86 against 3.28-3.32; 128 channels at 16×16, batch 1, 0.18-0.20 against 0.26. When the weights are
// transformed on every call (training), its 36 U matrices against 16 cost more than its GEMMs save below some 256
// tiles: 512 channels at 7×7, batch 32 (128 tiles) took 22.4 ms a call with F(4×4, 3×3) and 19.6 with F(2×2, 3×3);
// 256 channels at 14×14 (512 tiles) 14.0 and 15.9.
const Variant& variant_for(const ConvShape& s, bool per_call) {
  return tiles_of(s, 4).total >= (per_call ? 256 : 16) ? kF4 : kF2;
}

// The packed U matrices lie xi_stride apart: exactly 1 MiB apart (512×512 channels), the transform's stores per
// (oc, c) all fell into one cache set.
size_t u_stride(const ConvShape& s) { return xi_stride(sgemm_packed_a_size(s.oc, s.c)); }

// G for F(2×2, 3×3) and F(4×4, 3×3).
constexpr float kG2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
constexpr float kG4[6][3] = {{0.25f, 0, 0},
                             {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                             {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                             {1.0f / 24, 1.0f / 12, 1.0f / 6},
                             {1.0f / 24, -1.0f / 12, 1.0f / 6},
                             {0, 0, 1}};

// Input channels per block of the weight transform: its 9 + 3α rows, and α² rows for each of MR output channels,
// stay in L1 or close.
constexpr size_t kWeightBlock = 32;

// U rows for one output channel and input channels [c0, c0 + count): u[ξ][c] = (G·g·Gᵀ)[ξ] with g[t][c] = wt[t][c],
// all loops over c (vectorised), with G known at compile time.
template <size_t Alpha>
void transform_block(const float (&g)[Alpha][3], const float* wt, size_t count, float* gg, float* u) {
  constexpr size_t B = kWeightBlock;
  for (size_t i = 0; i < Alpha; i++) {
    for (size_t j = 0; j < 3; j++) {
      float* __restrict out = gg + (i * 3 + j) * B;
      const float* __restrict r0 = wt + j * B;  // g row 0 (ky = 0), column j
      const float* __restrict r1 = wt + (3 + j) * B;
      const float* __restrict r2 = wt + (6 + j) * B;
      for (size_t c = 0; c < count; c++) out[c] = g[i][0] * r0[c] + g[i][1] * r1[c] + g[i][2] * r2[c];
    }
  }
  for (size_t i = 0; i < Alpha; i++) {
    for (size_t q = 0; q < Alpha; q++) {
      float* __restrict out = u + (i * Alpha + q) * B;
      const float* __restrict a0 = gg + (i * 3) * B;
      const float* __restrict a1 = a0 + B;
      const float* __restrict a2 = a1 + B;
      for (size_t c = 0; c < count; c++) out[c] = a0[c] * g[q][0] + a1[c] * g[q][1] + a2[c] * g[q][2];
    }
  }
}

// U[ξ][oc][c] = (G·g·Gᵀ)[ξ] for g = w[oc][c] (or, for the input gradient, w[c][oc] rotated by 180°: the layer's
// input channels are then the convolution's outputs), written straight into each ξ's packed GEMM operand (training
// pays this per call: α² OC×C matrices written, read back and packed cost more than the GEMMs at 7×7 with 512
// channels). One GEMM panel of MR output channels and a block of input channels at a time: g transposed to rows over
// c, the transform as loops over c, then for each ξ the panel's MR·count values written in order (the packed operand
// holds a panel's rows interleaved, MR floats per c, within each K block); rows past OC are written as zeros.
void transform_weights(const ConvShape& s, const Variant& v, const float* w, bool flipped, float* packed) {
  constexpr size_t B = kWeightBlock;
  const size_t stride = u_stride(s);
  const size_t mr = sgemm_packed_a_offset(s.oc, s.c, 0, 1) - sgemm_packed_a_offset(s.oc, s.c, 0, 0);
  const size_t panels = ceil_div(s.oc, mr);
  parallel_ranges(panels, 1, [&](size_t p0, size_t p1) {
    alignas(64) float wt[9 * B], gg[6 * 3 * B];
    thread_local std::vector<float> u_buffer;
    u_buffer.resize(mr * kXi4 * B);
    float* u = u_buffer.data();  // u[(i·ξ + x)·B + c] for output channel oc0 + i
    for (size_t panel = p0; panel < p1; panel++) {
      const size_t oc0 = panel * mr, ocs = std::min(mr, s.oc - oc0);
      for (size_t c0 = 0; c0 < s.c; c0 += B) {
        const size_t count = std::min(B, s.c - c0);
        for (size_t i = 0; i < ocs; i++) {
          const size_t oc = oc0 + i;
          for (size_t c = 0; c < count; c++) {
            for (size_t t = 0; t < 9; t++) {
              wt[t * B + c] = flipped ? w[((c0 + c) * s.oc + oc) * 9 + 8 - t] : w[(oc * s.c + c0 + c) * 9 + t];
            }
          }
          if (v.alpha == 6) {
            transform_block<6>(kG4, wt, count, gg, u + i * v.xi * B);
          } else {
            transform_block<4>(kG2, wt, count, gg, u + i * v.xi * B);
          }
        }
        // Runs of c within one K block are contiguous in the packed operand: MR values per c.
        for (size_t c = 0; c < count;) {
          const size_t at = sgemm_packed_a_offset(s.oc, s.c, oc0, c0 + c);
          size_t run = 1;
          while (c + run < count && sgemm_packed_a_offset(s.oc, s.c, oc0, c0 + c + run) == at + run * mr) run++;
          for (size_t xi = 0; xi < v.xi; xi++) {
            float* __restrict dst = packed + xi * stride + at;
            for (size_t r = 0; r < run; r++) {
              for (size_t i = 0; i < mr; i++) dst[r * mr + i] = i < ocs ? u[(i * v.xi + xi) * B + c + r] : 0.0f;
            }
          }
          c += run;
        }
      }
    }
  });
}

// Chunk `chunk` of the tiles (per_chunk each): its tile count, this thread's V and M scratch (ξ matrices,
// v_stride and m_stride apart) with V already the input transform of x, and the chunk's runs.
struct Chunk {
  size_t nt, v_stride, m_stride;
  float* vt;
  float* m;
  const std::vector<Run>& runs;
};

Chunk transformed_chunk(const ConvShape& s, const Variant& v, const Tiles& tl, size_t chunk, size_t per_chunk,
                        const float* x) {
  const size_t t0 = chunk * per_chunk, t1 = std::min(tl.total, t0 + per_chunk), nt = t1 - t0;
  const size_t v_stride = xi_stride(s.c * nt), m_stride = xi_stride(s.oc * nt);
  float* vt = thread_scratch<kWinogradV>(v.xi * v_stride);
  float* m = thread_scratch<kWinogradM>(v.xi * m_stride);
  const std::vector<Run>& runs = runs_of(tl, t0, t1);
  transform_input(s, v.m, tl, runs, x, nt, vt, 0, s.c);
  return {nt, v_stride, m_stride, vt, m, runs};
}

// M[ξ] = U[ξ]·V[ξ] over nt tiles for positions [xi0, xi1), U packed by transform_weights.
void products(const ConvShape& s, const float* packed_u, size_t nt, const float* vt, size_t v_stride, float* m,
              size_t m_stride, size_t xi0, size_t xi1) {
  const size_t ustride = u_stride(s);
  for (size_t xi = xi0; xi < xi1; xi++) {
    sgemm_packed_a(s.oc, nt, s.c, 1.0f, packed_u + xi * ustride, false, vt + xi * v_stride, nt, 0.0f,
                   m + xi * m_stride, nt);
  }
}

// The most V and M that forward_shared holds for all tiles at once in the calling thread's scratch: enough for
// resnet50's layers at batch 1 (3.6 MB at most) and its last stage at batch 8 (4.7 MB). resnet18's last stage in a
// training batch of 32 also has under two chunks per thread, but all its tiles would take 34 MB, which the chunks
// spread over the threads' buffers; sharing them raised the step's peak RSS by about 20 MB.
constexpr size_t kSharedChunkBytes = size_t{8} << 20;

// With few tiles for the threads (resnet50's 3×3 layers at batch 1: 196, 49 or 16 tiles), chunks of them per thread
// leave one thread most of the work, since a chunk is a multiple of 32 tiles (the GEMM's panel width: 196 tiles go
// 96 + 96 + 4), and make every thread read all of U. Here the threads share one chunk of all the tiles instead: the
// input transform split by input channels, the products by position ξ (each thread reads only its positions' U), the
// output transform by output channels.
void forward_shared(const ConvShape& s, const Variant& v, const Tiles& tl, const float* x, const float* packed_u,
                    const ConvEpilogue& ep, float* y) {
  const size_t nt = tl.total;
  const size_t v_stride = xi_stride(s.c * nt), m_stride = xi_stride(s.oc * nt);
  float* vt = thread_scratch<kWinogradV>(v.xi * v_stride);  // this thread's buffers, which every thread fills
  float* m = thread_scratch<kWinogradM>(v.xi * m_stride);
  const std::vector<Run> runs = runs_of(tl, 0, nt);
  parallel_ranges(s.c, 1, [&](size_t c0, size_t c1) { transform_input(s, v.m, tl, runs, x, nt, vt, c0, c1); });
  parallel_ranges(v.xi, 1, [&](size_t xi0, size_t xi1) {
    products(s, packed_u, nt, vt, v_stride, m, m_stride, xi0, xi1);
  });
  parallel_ranges(s.oc, 1, [&](size_t oc0, size_t oc1) {
    transform_output(s, v.m, tl, runs, m, nt, ep, y, oc0, oc1);
  });
}

// y = conv(x) by variant v, with U packed by transform_weights for v.
void forward(const ConvShape& s, const Variant& v, const float* x, const float* packed_u, const ConvEpilogue& ep,
             float* y) {
  const Tiles tl = tiles_of(s, v.m);
  if (tl.total == 0) return;
  const size_t threads = in_parallel_for() ? 1 : num_threads();
  const size_t per_chunk = chunk_tiles(s, v.xi, tl.total, threads), chunks = ceil_div(tl.total, per_chunk);
  auto run_chunk = [&](size_t chunk) {
    const Chunk c = transformed_chunk(s, v, tl, chunk, per_chunk, x);
    products(s, packed_u, c.nt, c.vt, c.v_stride, c.m, c.m_stride, 0, v.xi);
    transform_output(s, v.m, tl, c.runs, c.m, c.nt, ep, y, 0, s.oc);
  };
  const size_t shared_floats = v.xi * (xi_stride(s.c * tl.total) + xi_stride(s.oc * tl.total));
  if (threads > 1 && chunks < 2 * threads && shared_floats * sizeof(float) <= kSharedChunkBytes) {
    forward_shared(s, v, tl, x, packed_u, ep, y);
  } else if (threads > 1) {
    parallel_for(chunks, run_chunk);
  } else {
    for (size_t chunk = 0; chunk < chunks; chunk++) run_chunk(chunk);
  }
}

}  // namespace

size_t winograd_packed_weight_size(const ConvShape& s) { return variant_for(s, false).xi * u_stride(s); }

const char* winograd_packed_variant(const ConvShape& s) {
  return variant_for(s, false).m == 4 ? "winograd-f4" : "winograd-f2";
}

bool winograd_packed_size_ok(const ConvShape& s, size_t size) {
  return size == kF2.xi * u_stride(s) || size == kF4.xi * u_stride(s);
}

void winograd_pack_weight(const ConvShape& s, const float* w, float* packed) {
  transform_weights(s, variant_for(s, false), w, false, packed);
}

// Measured with packed weights (inference, 2 threads, AVX-512, hot), Winograd against the GEMM: 512 channels at
// 7×7, batch 1 (16 tiles, half a GEMM panel), 0.83-0.88 against 1.24-1.26 ms; batch 2 (32 tiles), 1.51-1.67
// against 2.29; 64 channels at 8×8, batch 1, 0.04-0.06 against 0.06-0.07; with AVX2, 0.80-0.82 against 1.40-1.51
// at 7×7, batch 1. In resnet50 at batch 1, where the weights come from memory, its layer4's three 3×3 convolutions
// took 3.7 ms against 4.2-4.4. (Before the microkernel's 16-column form, Winograd ran 16 tiles in 32-column tiles:
// 1.70 against 1.47 ms.) Below 16 tiles (a 6×6 plane at batch 1 has 9) the products would run partly on padding,
// where the GEMM layout pads less; not measured. Without packed weights the threshold stays at 48 tiles, which the
// per-call weight transform needs; training on 7×7 and 8×8 planes takes batched_eligible's GEMM, which comes first.
constexpr size_t kWinogradMinTilesPrepacked = 16;
constexpr size_t kWinogradMinTilesPerCall = 48;

bool winograd_worth_it(const ConvShape& s, bool prepacked) {
  return tiles_of(s, 2).total >= (prepacked ? kWinogradMinTilesPrepacked : kWinogradMinTilesPerCall);
}

void winograd_forward(const ConvShape& s, const float* x, const float* w, const ConvEpilogue& ep, float* y) {
  // The per-call weights share the scratch buffer the other convolutions pack their weights into.
  const Variant& v = variant_for(s, true);
  float* u = thread_scratch<kPackedWeight>(v.xi * u_stride(s));
  transform_weights(s, v, w, false, u);
  forward(s, v, x, u, ep, y);
}

void winograd_backward_input(const ConvShape& s, const float* dy, const float* w, float* dx, bool accumulate) {
  // dx = the convolution of dy with w transposed to [C, OC] and rotated by 180°, same padding (1) and stride (1).
  ConvShape t = s;
  t.c = s.oc;
  t.oc = s.c;
  t.h = s.oh;
  t.w = s.ow;
  t.oh = s.h;
  t.ow = s.w;
  const Variant& v = variant_for(t, true);
  float* u = thread_scratch<kPackedWeight>(v.xi * u_stride(t));
  transform_weights(t, v, w, true, u);
  forward(t, v, dy, u, {nullptr, accumulate ? dx : nullptr, false}, dx);
}

namespace {

// dw = Gᵀ·dU·G for output channels [oc0, oc1): Gᵀ·dU first (3×α), then ·G, with α and G known at compile time.
template <size_t Alpha>
void weights_from_du(const float (&g)[Alpha][3], const ConvShape& s, const float* du, size_t du_stride, size_t oc0,
                     size_t oc1, float* dw) {
  for (size_t oc = oc0; oc < oc1; oc++) {
    for (size_t c = 0; c < s.c; c++) {
      float d[Alpha][Alpha];
      for (size_t i = 0; i < Alpha; i++) {
        for (size_t j = 0; j < Alpha; j++) d[i][j] = du[(i * Alpha + j) * du_stride + oc * s.c + c];
      }
      float t[3][Alpha];  // Gᵀ·dU
      for (size_t ky = 0; ky < 3; ky++) {
        for (size_t j = 0; j < Alpha; j++) {
          float sum = 0.0f;
          for (size_t i = 0; i < Alpha; i++) sum += g[i][ky] * d[i][j];
          t[ky][j] = sum;
        }
      }
      float* out = dw + (oc * s.c + c) * 9;
      for (size_t ky = 0; ky < 3; ky++) {
        for (size_t kx = 0; kx < 3; kx++) {
          float sum = 0.0f;
          for (size_t j = 0; j < Alpha; j++) sum += t[ky][j] * g[j][kx];
          out[ky * 3 + kx] = sum;
        }
      }
    }
  }
}

}  // namespace

void winograd_backward_weight(const ConvShape& s, const float* dy, const float* x, float* dw) {
  // dU[ξ] = Σ over tiles dM[ξ]·V[ξ]ᵀ (OC×C), then dw = Gᵀ·dU·G. Each thread sums a fixed run of chunks into its own
  // dU, and the parts are added in thread order: the same bits for the same thread count. F(4×4, 3×3) only with
  // 4·C tiles or more: its dU is 36 matrices against 16 (64 channels at 56×56, batch 32: 23.7 ms against 26–28;
  // 256 channels at 14×14, 2 tiles a channel: 24.6 against 17–19).
  const Variant& v = tiles_of(s, 4).total >= 4 * s.c ? kF4 : kF2;
  const Tiles tl = tiles_of(s, v.m);
  const size_t pool = in_parallel_for() ? 1 : num_threads();
  const size_t per_chunk = chunk_tiles(s, v.xi, tl.total, pool), chunks = ceil_div(tl.total, per_chunk);
  const size_t parts = std::max<size_t>(1, std::min(pool, chunks)), du_stride = xi_stride(s.oc * s.c);
  thread_local std::vector<float> du_buffer;
  du_buffer.resize(parts * v.xi * du_stride);
  float* du_all = du_buffer.data();  // a plain pointer: the threads below must see this thread's buffer
  auto run_part = [&](size_t part) {
    float* du = du_all + part * v.xi * du_stride;
    const size_t first = chunks * part / parts;
    for (size_t chunk = first; chunk < chunks * (part + 1) / parts; chunk++) {
      const Chunk c = transformed_chunk(s, v, tl, chunk, per_chunk, x);
      if (v.m == 4) {
        output_gradient_transform4(s, tl, c.runs, dy, c.nt, c.m);
      } else {
        output_gradient_transform(s, tl, c.runs, dy, c.nt, c.m);
      }
      for (size_t xi = 0; xi < v.xi; xi++) {
        // The part's first chunk overwrites its dU (no zeroing of up to 2·16 MB beforehand); the rest add to it.
        sgemm(false, true, s.oc, s.c, c.nt, 1.0f, c.m + xi * c.m_stride, c.nt, c.vt + xi * c.v_stride, c.nt,
              chunk == first ? 0.0f : 1.0f, du + xi * du_stride, s.c);
      }
    }
  };
  if (parts > 1) {
    parallel_for(parts, run_part);
  } else {
    run_part(0);
  }
  // The parts' sum on the pool, each element in part order (the bits do not depend on how the range is split).
  if (parts > 1) {
    parallel_ranges(v.xi * du_stride, kElementGrain, [&](size_t i0, size_t i1) {
      for (size_t part = 1; part < parts; part++) {
        const float* src = du_all + part * v.xi * du_stride;
        for (size_t i = i0; i < i1; i++) du_all[i] += src[i];
      }
    });
  }
  // dw[oc][c][ky][kx] = Σ_ij G[i][ky]·dU[ij][oc][c]·G[j][kx].
  parallel_ranges(s.oc, 1, [&](size_t oc0, size_t oc1) {
    if (v.alpha == 6) {
      weights_from_du<6>(kG4, s, du_all, du_stride, oc0, oc1, dw);
    } else {
      weights_from_du<4>(kG2, s, du_all, du_stride, oc0, oc1, dw);
    }
  });
}

void winograd_forward_packed(const ConvShape& s, const float* x, const float* packed_u, size_t packed_size,
                             const ConvEpilogue& ep, float* y) {
  forward(s, packed_size == kF4.xi * u_stride(s) ? kF4 : kF2, x, packed_u, ep, y);
}

}  // namespace resnet
