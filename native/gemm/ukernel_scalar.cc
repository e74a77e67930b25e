// The portable microkernel: plain C++ that the compiler vectorises for the baseline ISA (SSE2 on x86-64, NEON on
// arm64). A 4×8 tile keeps its accumulators in 8 of the 16 baseline vector registers.
#include "ukernel.h"

namespace resnet {

void tile_epilogue_row(const TileEpilogue& ep, size_t i, float* row, size_t n) {
  const float bias = ep.bias ? ep.bias[i] : 0.0f;
  if (ep.residual) {
    const float* res = ep.residual + i * ep.ld_residual;
    for (size_t j = 0; j < n; j++) row[j] += bias + res[j];
  } else if (ep.bias) {
    for (size_t j = 0; j < n; j++) row[j] += bias;
  }
  if (ep.relu) {
    for (size_t j = 0; j < n; j++) row[j] = row[j] < 0.0f ? 0.0f : row[j];
  }
}

void sgemm_ukernel_4x8_scalar(size_t kc, const float* ap, const float* bp, float* c, size_t ldc, float alpha,
                              float beta, size_t m, size_t n, const TileEpilogue* ep) {
  constexpr size_t MR = 4, NR = 8;
  float acc[MR][NR] = {};
  for (size_t k = 0; k < kc; k++) {
    for (size_t i = 0; i < MR; i++) {
      for (size_t j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    }
    ap += MR;
    bp += NR;
  }
  for (size_t i = 0; i < m; i++) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      for (size_t j = 0; j < n; j++) row[j] = alpha * acc[i][j];
    } else {
      for (size_t j = 0; j < n; j++) row[j] = alpha * acc[i][j] + beta * row[j];
    }
    if (ep) tile_epilogue_row(*ep, i, row, n);
  }
}

void sgemm_store_columns_scalar(const float* tile, size_t ld, size_t m, size_t n, float* dst, size_t ldd,
                                const TileEpilogue* ep) {
  for (size_t j = 0; j < n; j++) {
    const float bias = ep && ep->bias ? ep->bias[j] : 0.0f;
    const float* res = ep && ep->residual ? ep->residual + j * ep->ld_residual : nullptr;
    float* out = dst + j * ldd;
    for (size_t i = 0; i < m; i++) {
      float v = tile[i * ld + j] + bias;
      if (res) v += res[i];
      out[i] = ep && ep->relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN
    }
  }
}

}  // namespace resnet
