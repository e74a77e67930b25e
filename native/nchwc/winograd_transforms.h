// Winograd's schemes on blocked tensors (winograd.cc), 16 channels at a time: F4, F5 and S2 below, each its tile
// sides, its G (applied once, in double, by the packing) and its input and output transforms. Each value of a tile is
// one 16-float vector (one cache line of the blocked layout), so the transforms are the scalar formulas on vectors,
// with no transposes or gathers. Written with GCC vector types, compiled where included: one zmm per vector with
// -mavx512f, four SSE registers in baseline code. Include it inside a namespace of its own (as tile.h), so that
// builds for different instruction sets do not share its inline functions, after <algorithm>, nchwc.h and
// ../conv/winograd_lanes.h (at file scope: F4 takes its output rows from there).
//
// V and M hold, for each position ξ (ξ = n·row + column of the n×n transformed tile), a blocked "image" whose pixels
// are the chunk's tiles: V[ξ][cb][k][16] at v + ξ·v_xi + (cb·nt + k)·16, M likewise over output blocks.

namespace winograd_tiles {

// How many tiles ahead input_transform prefetches the input columns a tile adds to those of the tile before it. x is
// read once, often from memory (a layer's input is evicted from L3 by its output), in six row streams per block
// that the hardware prefetchers follow poorly: two tiles ahead took 7–9% off 64 channels at 56×56, batch 8.
constexpr long long kPrefetchTiles = 2;

#include "vec16.h"

// F(4×4, 3×3), for stride 1: a 6×6 input tile, from input row and column 4·(tile) − 1, gives 4×4 outputs.
struct F4 {
  static constexpr int kIn = 6, kOut = 4, kStride = 1;
  static constexpr double kG[6][3] = {{0.25, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};

  // o = Bᵀ·d with Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]:
  // rows 1–2 and 3–4 share their terms up to sign.
  __attribute__((always_inline)) static void input_rows(const v16 (&d)[6], v16 (&o)[6]) {
    const v16 a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];
    const v16 c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = a + b;
    o[2] = a - b;
    o[3] = c + e;
    o[4] = c - e;
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  }

  // o = Aᵀ·m: the formula of the training kernels' images-in-lanes layout (../conv/winograd_lanes.h), on 16-channel
  // vectors.
  __attribute__((always_inline)) static void output_rows(const v16 (&m)[6], v16 (&o)[4]) {
    ::resnet::output_rows(m, o);
  }
};

// o = M·x for a constant matrix M, its zero terms dropped and its ±1 terms plain adds once the loops unroll.
template <int R, int K>
__attribute__((always_inline)) inline void apply(const float (&m)[R][K], const v16 (&x)[K], v16 (&o)[R]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    v16 acc{};
#pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
      if (m[r][k] != 0) acc += m[r][k] * x[k];
    }
    o[r] = acc;
  }
}

// F(5×5, 3×3), for stride 1 where 5-output tiles fit the plane better than 4-output ones: a
// 7×7 input tile, from input row and column 5·(tile) − 1, gives 5×5 outputs. Points 0, ±1, ±2, 1/2 and ∞; in float
// its outputs err by 1.4× F(4×4, 3×3)'s (largest error 2.3e-5 against 1.7e-5 of the output scale over 256
// channels, scripts/winograd_points.py).
struct F5 {
  static constexpr int kIn = 7, kOut = 5, kStride = 1;
  static constexpr double kG[7][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 18, 1.0 / 18, -1.0 / 18},
                                      {1.0 / 72, 1.0 / 36, 1.0 / 18},
                                      {1.0 / 120, -1.0 / 60, 1.0 / 30},
                                      {32.0 / 45, 16.0 / 45, 8.0 / 45},
                                      {0, 0, -1.0 / 2}};
  static constexpr float kBT[7][7] = {{4, -8, -5, 10, 1, -2, 0}, {0, 4, -4, -9, 1, 2, 0},  {0, 4, -12, 7, 3, -2, 0},
                                      {0, 2, -3, -4, 3, 2, 0},   {0, 2, -5, 0, 5, -2, 0},  {0, 4, 0, -5, 0, 1, 0},
                                      {0, 4, -8, -5, 10, 1, -2}};
  static constexpr float kAT[5][7] = {{1, 1, 1, 1, 1, 1, 0},
                                      {0, 1, -1, 2, -2, 0.5f, 0},
                                      {0, 1, 1, 4, 4, 0.25f, 0},
                                      {0, 1, -1, 8, -8, 0.125f, 0},
                                      {0, 1, 1, 16, 16, 0.0625f, 1}};

  __attribute__((always_inline)) static void input_rows(const v16 (&d)[7], v16 (&o)[7]) { apply(kBT, d, o); }
  __attribute__((always_inline)) static void output_rows(const v16 (&m)[7], v16 (&o)[5]) { apply(kAT, m, o); }
};

// Stride 2: a 5×5 input tile, from input row and column 4·(tile) − 1, gives 2×2 outputs. Along
// each axis the even taps (0, 2) meet the even inputs as F(2, 2), Bᵀ = [1 −1 0; 0 1 0; 0 −1 1] on d0, d2, d4, and
// the odd tap meets the odd inputs d1, d3 alone: 5 products for 2 outputs, 25 for 4 where direct takes 36. G: the
// even taps' F(2, 2) (g0, g0 + g2, g2), then the odd tap once for each odd input (g1, g1).
struct S2 {
  static constexpr int kIn = 5, kOut = 2, kStride = 2;
  static constexpr double kG[5][3] = {{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 1, 0}};

  __attribute__((always_inline)) static void input_rows(const v16 (&d)[5], v16 (&o)[5]) {
    o[0] = d[0] - d[2];
    o[1] = d[2];
    o[2] = d[4] - d[2];
    o[3] = d[1];
    o[4] = d[3];
  }

  // o = Aᵀ·m with Aᵀ = [1 1 0 1 0; 0 1 1 0 1].
  __attribute__((always_inline)) static void output_rows(const v16 (&m)[5], v16 (&o)[2]) {
    o[0] = m[0] + m[1] + m[3];
    o[1] = m[1] + m[2] + m[4];
  }
};

// V = Bᵀ·d·B for one tile and input block: d the n×n patch of `plane` (one block of one image, h×w pixels) at
// (iy0, ix0), zero outside the image where Edge (the tiles of the border; the others skip the tests).
template <class F, bool Edge>
__attribute__((always_inline)) inline void input_tile(const float* plane, long long h, long long w, long long iy0,
                                                      long long ix0, float* v, size_t v_xi) {
  constexpr int n = F::kIn;
  v16 t[n][n];  // t[q][col] = (Bᵀ·d)[q][col]
  for (int col = 0; col < n; col++) {
    const long long ix = ix0 + col;
    const bool col_inside = !Edge || (ix >= 0 && ix < w);
    v16 d[n];
    for (int r = 0; r < n; r++) {
      const long long iy = iy0 + r;
      d[r] = col_inside && (!Edge || (iy >= 0 && iy < h)) ? load(plane + (iy * w + ix) * 16) : v16{};
    }
    v16 o[n];
    F::input_rows(d, o);
    for (int q = 0; q < n; q++) t[q][col] = o[q];
  }
  for (int q = 0; q < n; q++) {
    v16 o[n];
    F::input_rows(t[q], o);
    for (int p = 0; p < n; p++) store(v + (n * q + p) * v_xi, o[p]);
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
// v + ξ·v_xi + (cb·nt + k)·16. Tile (ty, tx) reads kIn rows and columns from (kOut·kStride·(ty, tx) − 1): pad 1.
template <class F>
void input_transform_as(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0, size_t cb1, float* v,
                        size_t v_xi) {
  constexpr long long step = F::kOut * F::kStride;  // input columns from one tile to the next
  const size_t th = (s.oh + F::kOut - 1) / F::kOut, tw = (s.ow + F::kOut - 1) / F::kOut;
  const size_t blocks = s.c / 16, plane = s.h * s.w * 16;
  const long long h = static_cast<long long>(s.h), w = static_cast<long long>(s.w);
  for (size_t cb = cb0; cb < cb1; cb++) {
    TileCursor tile(th, tw, t0);
    float* out = v + cb * nt * 16;
    for (size_t k = 0; k < nt; k++, tile.next()) {
      const float* xp = x + (tile.img * blocks + cb) * plane;
      const long long iy0 = step * static_cast<long long>(tile.ty) - 1, ix0 = step * static_cast<long long>(tile.tx) - 1;
      // The columns that the tile kPrefetchTiles on adds to the one before it; past the right edge, nothing.
      const long long ahead = ix0 + step * kPrefetchTiles + (F::kIn - step);
      for (long long iy = std::max(0LL, iy0); iy < std::min(h, iy0 + F::kIn); iy++) {
        for (long long ix = ahead; ix < std::min(w, ahead + step); ix++) __builtin_prefetch(xp + (iy * w + ix) * 16);
      }
      if (iy0 >= 0 && ix0 >= 0 && iy0 + F::kIn <= h && ix0 + F::kIn <= w) {
        input_tile<F, false>(xp, h, w, iy0, ix0, out + k * 16, v_xi);
      } else {
        input_tile<F, true>(xp, h, w, iy0, ix0, out + k * 16, v_xi);
      }
    }
  }
}

inline void input_transform(const ConvShape& s, const float* x, size_t t0, size_t nt, size_t cb0, size_t cb1,
                            float* v, size_t v_xi) {
  switch (winograd_scheme(s)) {
    case WinogradScheme::kS2: input_transform_as<S2>(s, x, t0, nt, cb0, cb1, v, v_xi); return;
    case WinogradScheme::kF5: input_transform_as<F5>(s, x, t0, nt, cb0, cb1, v, v_xi); return;
    default: input_transform_as<F4>(s, x, t0, nt, cb0, cb1, v, v_xi); return;
  }
}

// y = act(Aᵀ·m·A + bias + residual) for one tile and output block: the rows × cols outputs of the tile inside the
// output (all kOut × kOut where Full), each with its residual read just before y is stored (the residual may be y).
template <class F, bool Full, bool Residual, bool Relu>
__attribute__((always_inline)) inline void output_tile(const float* m, size_t m_xi, v16 bias, const float* res,
                                                       float* y, size_t ow, size_t rows, size_t cols) {
  constexpr int n = F::kIn, k = F::kOut;
  v16 a[k][n];  // a[r][p] = (Aᵀ·m)[r][p]
#pragma GCC unroll 6
  for (int p = 0; p < n; p++) {
    v16 q[n];
    for (int i = 0; i < n; i++) q[i] = load(m + (n * i + p) * m_xi);
    v16 o[k];
    F::output_rows(q, o);
    for (int r = 0; r < k; r++) a[r][p] = o[r];
  }
#pragma GCC unroll 4
  for (size_t r = 0; r < (Full ? k : rows); r++) {
    v16 o[k];
    F::output_rows(a[r], o);
#pragma GCC unroll 4
    for (size_t c = 0; c < (Full ? k : cols); c++) {
      const size_t at = (r * ow + c) * 16;
      v16 out = o[c] + (Residual ? bias + load(res + at) : bias);
      if (Relu) out = relu(out);
      store(y + at, out);
    }
  }
}

template <class F, bool Residual, bool Relu>
void output_transform_as(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt, size_t ob0,
                         size_t ob1, const ConvEpilogue& ep, float* y) {
  constexpr size_t k = F::kOut;
  const size_t th = (s.oh + k - 1) / k, tw = (s.ow + k - 1) / k, blocks = s.oc / 16, plane = s.oh * s.ow * 16;
  for (size_t ob = ob0; ob < ob1; ob++) {
    const v16 bias = ep.bias ? load(ep.bias + ob * 16) : v16{};
    TileCursor tile(th, tw, t0);
    const float* in = m + ob * nt * 16;
    for (size_t i = 0; i < nt; i++, tile.next()) {
      const size_t oy = k * tile.ty, ox = k * tile.tx;
      const size_t at = (tile.img * blocks + ob) * plane + (oy * s.ow + ox) * 16;
      const float* res = Residual ? ep.residual + at : nullptr;
      const size_t rows = std::min(k, s.oh - oy), cols = std::min(k, s.ow - ox);
      if (rows == k && cols == k) {
        output_tile<F, true, Residual, Relu>(in + i * 16, m_xi, bias, res, y + at, s.ow, k, k);
      } else {
        output_tile<F, false, Residual, Relu>(in + i * 16, m_xi, bias, res, y + at, s.ow, rows, cols);
      }
    }
  }
}

template <class F>
void output_transform_of(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt, size_t ob0,
                         size_t ob1, const ConvEpilogue& ep, float* y) {
  if (ep.residual) {
    ep.relu ? output_transform_as<F, true, true>(s, m, m_xi, t0, nt, ob0, ob1, ep, y)
            : output_transform_as<F, true, false>(s, m, m_xi, t0, nt, ob0, ob1, ep, y);
  } else {
    ep.relu ? output_transform_as<F, false, true>(s, m, m_xi, t0, nt, ob0, ob1, ep, y)
            : output_transform_as<F, false, false>(s, m, m_xi, t0, nt, ob0, ob1, ep, y);
  }
}

// y for tiles [t0, t0 + nt) and output blocks [ob0, ob1) from M[ξ][ob][k] at m + ξ·m_xi + (ob·nt + k)·16, with
// ep's bias, residual (addressed like y, possibly y) and ReLU; outputs past OH/OW dropped.
inline void output_transform(const ConvShape& s, const float* m, size_t m_xi, size_t t0, size_t nt, size_t ob0,
                             size_t ob1, const ConvEpilogue& ep, float* y) {
  switch (winograd_scheme(s)) {
    case WinogradScheme::kS2: output_transform_of<S2>(s, m, m_xi, t0, nt, ob0, ob1, ep, y); return;
    case WinogradScheme::kF5: output_transform_of<F5>(s, m, m_xi, t0, nt, ob0, ob1, ep, y); return;
    default: output_transform_of<F4>(s, m, m_xi, t0, nt, ob0, ob1, ep, y); return;
  }
}

}  // namespace winograd_tiles
