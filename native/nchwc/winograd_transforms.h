// Winograd F(4×4, 3×3)'s input and output transforms on blocked tensors (winograd.cc), 16 channels at a time: each
// value of a 6×6 tile is one 16-float vector (one cache line of the blocked layout), so the transforms are the
// scalar formulas on vectors, with no transposes or gathers. Written with GCC vector types, compiled where included:
// one zmm per vector with -mavx512f, four SSE registers in baseline code. Include it inside a namespace of its own
// (as tile.h), so that builds for different instruction sets do not share its inline functions, after <algorithm>
// and nchwc.h.
//
// V and M hold, for each position ξ (ξ = 6·row + column of the 6×6 tile), a blocked "image" whose pixels are the
// chunk's tiles: V[ξ][cb][k][16] at v + ξ·v_xi + (cb·nt + k)·16, M likewise over output blocks.

namespace winograd_tiles {

// How many tiles ahead input_transform prefetches the input columns a tile adds to those of the tile before it. x is
// read once, often from memory (a layer's input is evicted from L3 by its output), in six row streams per block
// that the hardware prefetchers follow poorly: two tiles ahead took 7–9% off 64 channels at 56×56, batch 8.
constexpr long long kPrefetchTiles = 2;

#include "vec16.h"

// o = Bᵀ·d with Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]:
// rows 1–2 and 3–4 share their terms up to sign.
__attribute__((always_inline)) inline void input_rows(const v16 (&d)[6], v16 (&o)[6]) {
  const v16 a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];
  const v16 c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
  o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  o[1] = a + b;
  o[2] = a - b;
  o[3] = c + e;
  o[4] = c - e;
  o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// o = Aᵀ·m with Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
__attribute__((always_inline)) inline void output_rows(const v16 (&m)[6], v16 (&o)[4]) {
  const v16 p12 = m[1] + m[2], n12 = m[1] - m[2], p34 = m[3] + m[4], n34 = m[3] - m[4];
  o[0] = m[0] + p12 + p34;
  o[1] = n12 + 2.0f * n34;
  o[2] = p12 + 4.0f * p34;
  o[3] = n12 + 8.0f * n34 + m[5];
}

// V = Bᵀ·d·B for one tile and input block: d the 6×6 patch of `plane` (one block of one image, h×w pixels) at
// (iy0, ix0), zero outside the image where Edge (the tiles of the border; the others skip the tests).
template <bool Edge>
__attribute__((always_inline)) inline void input_tile(const float* plane, long long h, long long w, long long iy0,
                                                      long long ix0, float* v, size_t v_xi) {
  v16 t[6][6];  // t[q][col] = (Bᵀ·d)[q][col]
  for (int col = 0; col < 6; col++) {
    const long long ix = ix0 + col;
    const bool col_inside = !Edge || (ix >= 0 && ix < w);
    v16 d[6];
    for (int r = 0; r < 6; r++) {
      const long long iy = iy0 + r;
      d[r] = col_inside && (!Edge || (iy >= 0 && iy < h)) ? load(plane + (iy * w + ix) * 16) : v16{};
    }
    v16 o[6];
    input_rows(d, o);
    for (int q = 0; q < 6; q++) t[q][col] = o[q];
  }
  for (int q = 0; q < 6; q++) {
    v16 o[6];
    input_rows(t[q], o);
    for (int p = 0; p < 6; p++) store(v + (6 * q + p) * v_xi, o[p]);
  }
}

// Where a tile of the batch lies: tile t = (img·TH + ty)·TW + tx, stepped through in order.
struct TileCursor {
  size_t th, tw, img, ty, tx;

  TileCursor(size_t th_, size_t tw_, size_t t) : th(th_), tw(tw_), img(t / (th_ * tw_)), ty(t / tw_ % th_), tx(t % tw_) {}

  void next() {
    if (++tx < tw) return;
    tx = 0;
    if (++ty < th) return;
    ty = 0;
    img++;
  }
};

// V for tiles [t0, t0 + nt) of the batch and input blocks [cb0, cb1) of blocked x: V[ξ][cb][k] at
// v + ξ·v_xi + (cb·nt + k)·16. Tile (ty, tx) reads rows 4ty − 1 .. 4ty + 4 and columns 4tx − 1 .. 4tx + 4.
inline void input_transform(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0, size_t cb1,
                            float* v, size_t v_xi) {
  const size_t th = (s.oh + 3) / 4, tw = (s.ow + 3) / 4, blocks = s.c / 16, plane = s.h * s.w * 16;
  const long long h = static_cast<long long>(s.h), w = static_cast<long long>(s.w);
  for (size_t cb = cb0; cb < cb1; cb++) {
    TileCursor tile(th, tw, t0);
    float* out = v + cb * nt * 16;
    for (size_t k = 0; k < nt; k++, tile.next()) {
      const float* xp = x + (tile.img * blocks + cb) * plane;
      const long long iy0 = 4 * static_cast<long long>(tile.ty) - 1, ix0 = 4 * static_cast<long long>(tile.tx) - 1;
      const long long ahead = ix0 + 4 * kPrefetchTiles + 2;  // past the image's right edge: nothing to fetch
      for (long long iy = std::max(0LL, iy0); iy < std::min(h, iy0 + 6); iy++) {
        for (long long ix = ahead; ix < std::min(w, ahead + 4); ix++) __builtin_prefetch(xp + (iy * w + ix) * 16);
      }
      if (iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= h && ix0 + 6 <= w) {
        input_tile<false>(xp, h, w, iy0, ix0, out + k * 16, v_xi);
      } else {
        input_tile<true>(xp, h, w, iy0, ix0, out + k * 16, v_xi);
      }
    }
  }
}

// y = act(Aᵀ·m·A + bias + residual) for one tile and output block: the rows × cols outputs of the tile inside the
// output (all 4 × 4 where Full), each with its residual read just before y is stored (the residual may be y).
template <bool Full, bool Residual, bool Relu>
__attribute__((always_inline)) inline void output_tile(const float* m, size_t m_xi, v16 bias, const float* res,
                                                       float* y, size_t ow, size_t rows, size_t cols) {
  v16 a[4][6];  // a[r][p] = (Aᵀ·m)[r][p]
#pragma GCC unroll 6
  for (int p = 0; p < 6; p++) {
    v16 q[6];
    for (int i = 0; i < 6; i++) q[i] = load(m + (6 * i + p) * m_xi);
    v16 o[4];
    output_rows(q, o);
    for (int r = 0; r < 4; r++) a[r][p] = o[r];
  }
#pragma GCC unroll 4
  for (size_t r = 0; r < (Full ? 4 : rows); r++) {
    v16 o[4];
    output_rows(a[r], o);
#pragma GCC unroll 4
    for (size_t c = 0; c < (Full ? 4 : cols); c++) {
      const size_t at = (r * ow + c) * 16;
      v16 out = o[c] + (Residual ? bias + load(res + at) : bias);
      if (Relu) out = relu(out);
      store(y + at, out);
    }
  }
}

template <bool Residual, bool Relu>
void output_transform_as(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt, size_t ob0,
                         size_t ob1, const ConvEpilogue& ep, float* y) {
  const size_t th = (s.oh + 3) / 4, tw = (s.ow + 3) / 4, blocks = s.oc / 16, plane = s.oh * s.ow * 16;
  for (size_t ob = ob0; ob < ob1; ob++) {
    const v16 bias = ep.bias ? load(ep.bias + ob * 16) : v16{};
    TileCursor tile(th, tw, t0);
    const float* in = m + ob * nt * 16;
    for (size_t k = 0; k < nt; k++, tile.next()) {
      const size_t oy = 4 * tile.ty, ox = 4 * tile.tx;
      const size_t at = (tile.img * blocks + ob) * plane + (oy * s.ow + ox) * 16;
      const float* res = Residual ? ep.residual + at : nullptr;
      const size_t rows = std::min<size_t>(4, s.oh - oy), cols = std::min<size_t>(4, s.ow - ox);
      if (rows == 4 && cols == 4) {
        output_tile<true, Residual, Relu>(in + k * 16, m_xi, bias, res, y + at, s.ow, 4, 4);
      } else {
        output_tile<false, Residual, Relu>(in + k * 16, m_xi, bias, res, y + at, s.ow, rows, cols);
      }
    }
  }
}

// y for tiles [t0, t0 + nt) and output blocks [ob0, ob1) from M[ξ][ob][k] at m + ξ·m_xi + (ob·nt + k)·16, with
// ep's bias, residual (addressed like y, possibly y) and ReLU; outputs past OH/OW dropped.
inline void output_transform(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt, size_t ob0,
                             size_t ob1, const ConvEpilogue& ep, float* y) {
  if (ep.residual) {
    ep.relu ? output_transform_as<true, true>(s, m, m_xi, t0, nt, ob0, ob1, ep, y)
            : output_transform_as<true, false>(s, m, m_xi, t0, nt, ob0, ob1, ep, y);
  } else {
    ep.relu ? output_transform_as<false, true>(s, m, m_xi, t0, nt, ob0, ob1, ep, y)
            : output_transform_as<false, false>(s, m, m_xi, t0, nt, ob0, ob1, ep, y);
  }
}

}  // namespace winograd_tiles
