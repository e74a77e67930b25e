// The N-API entry points, one group per feature file; addon.cc puts them in the export table.
#pragma once

#include <napi.h>

namespace resnet {

Napi::Value GemmBinding(const Napi::CallbackInfo& info);         // gemm/gemm_binding.cc
Napi::Value CpuInfoBinding(const Napi::CallbackInfo& info);      // cpu/cpu_binding.cc
Napi::Value PeakGflopsBinding(const Napi::CallbackInfo& info);   // cpu/cpu_binding.cc
Napi::Value SetNumThreadsBinding(const Napi::CallbackInfo& info);  // threadpool_binding.cc
Napi::Value GetNumThreadsBinding(const Napi::CallbackInfo& info);  // threadpool_binding.cc

}  // namespace resnet
