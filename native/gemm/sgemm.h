// Single-precision GEMM, row-major, BLAS semantics: C = alpha·op(A)·op(B) + beta·C.
#pragma once

#include <cstddef>

namespace resnet {

// What to do to each element of C once its sum is complete, while its tile is still in L1:
// C[i][j] = act(C[i][j] + row_bias[i] + residual[i·ld_residual + j]); act = ReLU when relu (NaN stays NaN).
struct GemmEpilogue {
  const float* row_bias;  // [m] or null
  // m×n with row stride ld_residual, or null. It may be C itself (ld_residual == ldc): it is then added as beta += 1.
  // Otherwise it must not overlap C.
  const float* residual;
  size_t ld_residual;
  bool relu;
};

// op(A) is m×k (A stored m×k, or k×m when trans_a), op(B) is k×n (B stored k×n, or n×k when trans_b), C is m×n.
// beta == 0 overwrites C without reading it. Arguments are trusted: callers validate them (gemm_binding.cc).
// Runs on the thread pool; C must not overlap A or B.
void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
           const float* b, size_t ldb, float beta, float* c, size_t ldc, const GemmEpilogue* epilogue = nullptr);

// For many products with the same A (a convolution's weights, once per image): pack op(A) once into the layout
// the microkernel reads, then run sgemm_packed_a on it. The packing is tied to the kernel chosen at load.
size_t sgemm_packed_a_size(size_t m, size_t k);
void sgemm_pack_a(bool trans_a, size_t m, size_t k, const float* a, size_t lda, float* packed);
// For callers that compute op(A) element by element straight into that layout: where op(A)[i][kk] goes, and the
// padding rows (m up to the microkernel's row multiple) that must be zero.
size_t sgemm_packed_a_offset(size_t m, size_t k, size_t i, size_t kk);
void sgemm_packed_a_zero_padding(size_t m, size_t k, float* packed);
void sgemm_packed_a(size_t m, size_t n, size_t k, float alpha, const float* packed_a, bool trans_b, const float* b,
                    size_t ldb, float beta, float* c, size_t ldc, const GemmEpilogue* epilogue = nullptr);

// A B operand that is never stored as a matrix (a convolution's im2col, gathered from the image as the GEMM needs
// it): pack writes op(B)'s rows [k0, k0 + kc), columns [j0, j0 + cols) as the microkernel's panels, each kc steps of
// nr floats, zero past cols. Called from the pool's threads at once, on disjoint blocks.
class BPanelSource {
 public:
  virtual void pack(size_t k0, size_t kc, size_t j0, size_t cols, size_t nr, float* dst) const = 0;

 protected:
  ~BPanelSource() = default;
};
// C (m×n, overwritten) = op(A)·B for op(A) packed by sgemm_pack_a and B from a source.
void sgemm_packed_a_source(size_t m, size_t n, size_t k, const float* packed_a, const BPanelSource& b, float* c,
                           size_t ldc, const GemmEpilogue* epilogue = nullptr);

// The other way round, for products whose B is the fixed operand (a convolution's weights, with output pixels as the
// rows of C): B prepacked once into the microkernel's NR-wide panels over all of K, A from a source that packs
// MR-wide panels (BPanelSource::pack with nr = MR), and each finished tile handed to a sink instead of stored as C.
size_t sgemm_packed_b_size(size_t k, size_t n);
// op(B) is k×n: B stored k×n, or n×k when trans_b.
void sgemm_pack_b(bool trans_b, size_t k, size_t n, const float* b, size_t ldb, float* packed);
size_t sgemm_tile_rows();     // the microkernel's MR: A's panels are this many rows wide
size_t sgemm_tile_columns();  // and its NR
// The columns the microkernel multiplies for n: whole NR-wide panels, the last one rounded up to the kernel's
// narrowest form (AVX-512: 196 -> 6·32 + 16 = 208).
size_t sgemm_padded_columns(size_t n);
// For sinks: a part of a tile (m <= 8 rows) stored transposed, with an epilogue by column (TileStoreColumns in
// ukernel.h), by this CPU's code.
struct TileEpilogue;
void sgemm_store_columns(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                         const TileEpilogue* ep);

// Receives C's tiles: rows [i0, i0 + m), columns [j0, j0 + n), element (i, j) at tile[i·ld + j]. Called from the
// pool's threads at once, for disjoint tiles.
class TileSink {
 public:
  virtual void store(size_t i0, size_t j0, size_t m, size_t n, const float* tile, size_t ld) const = 0;

 protected:
  ~TileSink() = default;
};
// C = A·B (m×n) for A (m×k) from a source and B packed by sgemm_pack_b, each tile of C to the sink.
void sgemm_source_a_packed_b(size_t m, size_t n, size_t k, const BPanelSource& a, const float* packed_b,
                             const TileSink& c);

}  // namespace resnet
