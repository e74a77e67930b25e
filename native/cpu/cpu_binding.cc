// cpuInfo() and peakGflops(seconds) for JS: what the kernels dispatch to, and the FMA peak to compare them with.
#include "../bindings.h"
#include "../gemm/ukernel.h"
#include "../napi_args.h"
#include "../threadpool.h"
#include "features.h"
#include "peak.h"

namespace resnet {

Napi::Value CpuInfoBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object out = Napi::Object::New(env);
  out.Set("avx2", f.avx2);
  out.Set("fma", f.fma);
  out.Set("avx512f", f.avx512f);
  out.Set("isa", isa_name(kernel_isa()));
  out.Set("gemmKernel", sgemm_kernel().name);
  out.Set("threads", static_cast<double>(num_threads()));
  return out;
}

Napi::Value PeakGflopsBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expect_args(info, 1, "peakGflops");
  const double seconds = arg_number(info, 0, "peakGflops", "seconds");
  if (!(seconds > 0 && seconds <= 60)) throw Napi::RangeError::New(env, "peakGflops: seconds must be in (0, 60]");
  const PeakGflops peak = measure_peak_gflops(seconds);
  Napi::Object out = Napi::Object::New(env);
  out.Set("singleThread", peak.single_thread);
  out.Set("allThreads", peak.all_threads);
  out.Set("threads", static_cast<double>(peak.threads));
  return out;
}

}  // namespace resnet
