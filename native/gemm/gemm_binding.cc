// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) for JS: checks every dimension and array
// length against the leading dimensions, then runs sgemm on the arrays' memory in place.
#include <string>

#include "../bindings.h"
#include "../napi_args.h"
#include "sgemm.h"

namespace resnet {
namespace {

struct Operand {
  const char* name;
  const char* ld_name;
  Float32Span span;
  size_t rows, cols, ld;  // as stored, row-major
};

[[noreturn]] void fail(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, "gemm: " + message);
}

// Elements from the first to one past the last that the call touches; 0 when the matrix is empty.
size_t extent(const Operand& x) { return x.rows == 0 || x.cols == 0 ? 0 : (x.rows - 1) * x.ld + x.cols; }

void check_operand(Napi::Env env, const Operand& x, const char* dims) {
  if (x.ld < x.cols || x.ld == 0) {
    fail(env, std::string(x.ld_name) + " (" + std::to_string(x.ld) + ") must be >= max(1, " +
                  std::to_string(x.cols) + "), the row length of " + x.name + " stored as " + dims);
  }
  if (x.span.length < extent(x)) {
    fail(env, std::string(x.name) + " has " + std::to_string(x.span.length) + " elements, needs " +
                  std::to_string(extent(x)) + " for " + dims + " with " + x.ld_name + "=" + std::to_string(x.ld));
  }
}

bool overlaps(const Operand& x, const Operand& y) {
  return ranges_overlap(x.span.data, extent(x), y.span.data, extent(y));
}

}  // namespace

Napi::Value GemmBinding(const Napi::CallbackInfo& info) {
  const char* fn = "gemm";
  Napi::Env env = info.Env();
  expect_args(info, 13, fn);
  const bool trans_a = arg_bool(info, 0, fn, "transA");
  const bool trans_b = arg_bool(info, 1, fn, "transB");
  const size_t m = arg_size(info, 2, fn, "M");
  const size_t n = arg_size(info, 3, fn, "N");
  const size_t k = arg_size(info, 4, fn, "K");
  const float alpha = static_cast<float>(arg_number(info, 5, fn, "alpha"));
  const Operand a{"A", "lda", arg_float32_array(info, 6, fn, "A"), trans_a ? k : m, trans_a ? m : k,
                  arg_size(info, 7, fn, "lda")};
  const Operand b{"B", "ldb", arg_float32_array(info, 8, fn, "B"), trans_b ? n : k, trans_b ? k : n,
                  arg_size(info, 9, fn, "ldb")};
  const float beta = static_cast<float>(arg_number(info, 10, fn, "beta"));
  const Operand c{"C", "ldc", arg_float32_array(info, 11, fn, "C"), m, n, arg_size(info, 12, fn, "ldc")};

  check_operand(env, a, trans_a ? "[K, M] (transA)" : "[M, K]");
  check_operand(env, b, trans_b ? "[N, K] (transB)" : "[K, N]");
  check_operand(env, c, "[M, N]");
  if (overlaps(c, a) || overlaps(c, b)) fail(env, "C must not share memory with A or B");

  sgemm(trans_a, trans_b, m, n, k, alpha, a.span.data, a.ld, b.span.data, b.ld, beta, c.span.data, c.ld);
  return env.Undefined();
}

}  // namespace resnet
