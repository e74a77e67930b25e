// Single-precision GEMM, row-major, BLAS semantics: C = alpha·op(A)·op(B) + beta·C.
#pragma once

#include <cstddef>

namespace resnet {

// What to do to each element of C once its sum is complete, while its tile is still in L1:
// C[i][j] = act(C[i][j] + row_bias[i] + residual[i·ld_residual + j]); act = ReLU when relu (NaN stays NaN).
struct GemmEpilogue {
  const float* row_bias;  // [m] or null
  const float* residual;  // m×n with row stride ld_residual, or null; must not overlap C
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

}  // namespace resnet
