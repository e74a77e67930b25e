// Single-precision GEMM, row-major, BLAS semantics: C = alpha·op(A)·op(B) + beta·C.
#pragma once

#include <cstddef>

namespace resnet {

// op(A) is m×k (A stored m×k, or k×m when trans_a), op(B) is k×n (B stored k×n, or n×k when trans_b), C is m×n.
// beta == 0 overwrites C without reading it. Arguments are trusted: callers validate them (gemm_binding.cc).
// Runs on the thread pool; C must not overlap A or B.
void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
           const float* b, size_t ldb, float beta, float* c, size_t ldc);

}  // namespace resnet
