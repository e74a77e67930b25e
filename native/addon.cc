// resnet_native: the export table of the addon. Each entry lives in its feature's own file (see bindings.h).
#include <napi.h>

#include "bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New(env, resnet::CpuInfoBinding, "cpuInfo"));
  exports.Set("gemm", Napi::Function::New(env, resnet::GemmBinding, "gemm"));
  exports.Set("getNumThreads", Napi::Function::New(env, resnet::GetNumThreadsBinding, "getNumThreads"));
  exports.Set("peakGflops", Napi::Function::New(env, resnet::PeakGflopsBinding, "peakGflops"));
  exports.Set("setNumThreads", Napi::Function::New(env, resnet::SetNumThreadsBinding, "setNumThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(resnet_native, Init)
