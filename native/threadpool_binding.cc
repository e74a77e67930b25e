// setNumThreads(n) / getNumThreads() for JS: the size of the pool that every native kernel shares.
#include "bindings.h"
#include "napi_args.h"
#include "threadpool.h"

namespace resnet {

Napi::Value SetNumThreadsBinding(const Napi::CallbackInfo& info) {
  expect_args(info, 1, "setNumThreads");
  // An upper bound keeps a typo from spawning thousands of threads.
  const size_t n = arg_size(info, 0, "setNumThreads", "n", 1);
  if (n > 1024) throw Napi::RangeError::New(info.Env(), "setNumThreads: n must be at most 1024");
  set_num_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetNumThreadsBinding(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(num_threads()));
}

}  // namespace resnet
