// The blocked microkernel (nchwc.h's Run), written once on vec16.h's 16-float vectors and compiled three times: in the
// AVX-512 library (tile_avx512.cc), a vector one zmm and tiles up to 4 blocks wide; in the AVX2 one
// (tile_avx2_fma.cc), two ymm and tiles one block wide; in the baseline one (tile_generic.cc), four xmm. Include it
// inside a namespace of its own; it must not be shared as inline code between the builds.
//
// A tile is NP ≤ 6 pixels × OB ≤ 4 blocks of 16 output channels: NP·OB accumulators. Each step (input channel i of a
// block, at one tap) loads the OB weight vectors once and broadcasts each pixel's input value against them: OB loads
// and NP broadcasts for NP·OB FMAs (6 × 4: 10 loads for 24 FMAs, against the GEMM microkernel's 8 × 2: 10 for 16).
// The input is read where it lies, 16 channels of a pixel in one cache line, so nothing is packed per call.

#include "vec16.h"

// Pixels [j, j + NP) of the run.
template <int NP, int OB>
__attribute__((always_inline)) inline void tile(const Run& r, size_t j) {
  size_t at[NP], out_at[NP];  // each pixel's input, from r.x, and output, from r.y
#pragma GCC unroll 6
  for (int p = 0; p < NP; p++) {
    at[p] = r.x_at ? static_cast<size_t>(r.x_at[j + p]) : (j + p) * r.x_step;
    out_at[p] = r.y_at ? static_cast<size_t>(r.y_at[j + p]) : (j + p) * 16;
  }
  v16 acc[NP][OB] = {};
  const size_t width = OB * 16;
  for (size_t cb = 0; cb < r.blocks_in; cb++) {
    const float* xb = r.x + cb * r.x_block;
    if (r.prefetch_ahead) {
#pragma GCC unroll 6
      for (int p = 0; p < NP; p++) __builtin_prefetch(xb + at[p] + r.prefetch_ahead);
    }
    for (size_t k = 0; k < r.taps; k++) {
      const float* xt = xb + r.tap_offset[k];
      const float* wt = r.w + (cb * r.taps_total + static_cast<size_t>(r.tap_index[k])) * 16 * width;
#pragma GCC unroll 4
      for (size_t i = 0; i < 16; i++) {
        v16 w[OB];
#pragma GCC unroll 4
        for (int o = 0; o < OB; o++) w[o] = load(wt + i * width + o * 16);
#pragma GCC unroll 6
        for (int p = 0; p < NP; p++) {
          const float a = xt[at[p] + i];
#pragma GCC unroll 4
          for (int o = 0; o < OB; o++) acc[p][o] += a * w[o];
        }
      }
    }
  }
  // y = act(acc + (bias + residual)), in the order the other paths add them.
#pragma GCC unroll 4
  for (int o = 0; o < OB; o++) {
    const v16 b = r.bias ? load(r.bias + o * 16) : v16{};
#pragma GCC unroll 6
    for (int p = 0; p < NP; p++) {
      float* out = r.y + o * r.y_block + out_at[p];
      v16 t = b;
      if (r.residual) t += load(r.residual + (out - r.y));
      v16 v = acc[p][o] + t;
      if (r.relu) v = relu(v);
      store(out, v);
    }
  }
}

template <int OB>
void tile_of(size_t np, const Run& r, size_t j) {
  switch (np) {
    case 6: tile<6, OB>(r, j); break;
    case 5: tile<5, OB>(r, j); break;
    case 4: tile<4, OB>(r, j); break;
    case 3: tile<3, OB>(r, j); break;
    case 2: tile<2, OB>(r, j); break;
    case 1: tile<1, OB>(r, j); break;
    default: break;
  }
}

// The run in full 6-pixel tiles, its last 7 to 11 pixels in two tiles of sizes differing by at most one: a 5-pixel
// tile runs at 94% of a 6-pixel one's rate, and every tile streams all of the group's weights, so a 7-pixel row as
// 6 + 1 would read them twice for the work of 1.2 tiles (resnet50's layer4, 7 pixels a row) where 4 + 3 gives each
// read more than half a tile's work. resnet50 at batch 8, all blocked calls, medians of 6 alternating runs, against
// runs cut into the fewest tiles of near-equal sizes (a 39-pixel run as 6,6,6,6,5,5,5): 263.8 → 254.2 ms.
template <int OB>
void run_blocks(const Run& r) {
  size_t j = 0, left = r.count;
  for (; left > 12; left -= 6, j += 6) tile<6, OB>(r, j);
  if (left > 6) {
    const size_t first = (left + 1) / 2;
    tile_of<OB>(first, r, j);
    j += first;
    left -= first;
  }
  if (left > 0) tile_of<OB>(left, r, j);
}

// A run whose group is up to 4 blocks wide (AVX-512).
inline void run_tiles(const Run& r) {
  switch (r.blocks_out) {
    case 4: run_blocks<4>(r); break;
    case 3: run_blocks<3>(r); break;
    case 2: run_blocks<2>(r); break;
    case 1: run_blocks<1>(r); break;
    default: break;
  }
}
