// The SGEMM microkernels and the table that describes each one to the blocking driver.
#pragma once

#include <cstddef>

namespace resnet {

// C[m×n] = alpha·(Ap·Bp) + beta·C for one tile, 1 <= m <= MR and 1 <= n <= NR (C row-major with row stride ldc).
// Ap: kc steps of MR floats (one column of op(A) per step), Bp: kc steps of NR floats (one row of op(B) per step),
// both zero-padded to the full tile. beta == 0 overwrites C without reading it, so NaN in C does not survive.
// What the microkernel does to its finished tile before storing it (GemmEpilogue, offset to the tile):
// C[i][j] = act(C[i][j] + (bias[i] + residual[i·ld_residual + j])); any of the three may be absent.
struct TileEpilogue {
  const float* bias;      // the tile's mr row biases, or null
  const float* residual;  // the tile's first element, or null
  size_t ld_residual;
  bool relu;
};

// Row i of a tile, n values already alpha·acc + beta·C: adds bias and residual, applies ReLU (NaN stays NaN).
// Baseline code, for edge tiles and the portable kernel.
void tile_epilogue_row(const TileEpilogue& ep, size_t i, float* row, size_t n);

// ep is null except on the last K block of a GEMM that has an epilogue.
using SgemmUkernel = void (*)(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                              float beta, size_t m, size_t n, const TileEpilogue* ep);

// Packs `rows` rows of a strided matrix (element (r, k) at src[r·row_stride + k·k_stride]) into panels of `tile`
// rows, each laid out as kc steps of `tile` floats; the last panel is zero-padded.
using SgemmPack = void (*)(const float* src, size_t row_stride, size_t k_stride, size_t rows, size_t kc,
                           float* dst);

// Stores an m×n tile (m <= 8, row-major with row stride ld) transposed, with an epilogue by column:
// dst[j·ldd + i] = act(tile[i·ld + j] + (bias[j] + residual[j·ld_residual + i])), any of the three optional. For C
// computed as its transpose (a convolution's output pixels as the GEMM's rows) stored in NCHW order. Reads only the
// m×n part of the tile.
using TileStoreColumns = void (*)(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                                  const TileEpilogue* ep);

struct SgemmKernel {
  const char* name;
  size_t mr, nr;
  size_t nr_step;  // a partial panel costs its columns rounded up to this (AVX-512 has a 16-column form)
  // Cache blocking, chosen for the tile: kc·NR floats of B stay in L1 while an mc×kc block of A streams from L2,
  // and a kc×nc block of packed B is shared by every thread.
  size_t mc, kc, nc;
  SgemmUkernel ukernel;
  SgemmPack pack_a;  // panels of mr rows
  SgemmPack pack_b;  // panels of nr columns
  TileStoreColumns store_columns;
};

// The kernel for this CPU, picked once from the dispatch table in dispatch.cc.
const SgemmKernel& sgemm_kernel();

void sgemm_ukernel_4x8_scalar(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                              float beta, size_t m, size_t n, const TileEpilogue* ep);
void sgemm_store_columns_scalar(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                                const TileEpilogue* ep);
#if defined(RESNET_HAVE_AVX512)
void sgemm_ukernel_8x32_avx512(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                               float beta, size_t m, size_t n, const TileEpilogue* ep);
#endif
#if defined(RESNET_HAVE_AVX2_FMA)
void sgemm_ukernel_6x16_avx2_fma(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                                 float beta, size_t m, size_t n, const TileEpilogue* ep);
// 8×8 blocks transposed in registers; the AVX-512 row of the table uses it too.
void sgemm_store_columns_avx2_fma(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                                  const TileEpilogue* ep);
#endif

}  // namespace resnet
