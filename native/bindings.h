// The N-API entry points, one group per feature file; addon.cc puts them in the export table.
#pragma once

#include <napi.h>

namespace resnet {

Napi::Value GemmBinding(const Napi::CallbackInfo& info);         // gemm/gemm_binding.cc
Napi::Value CpuInfoBinding(const Napi::CallbackInfo& info);      // cpu/cpu_binding.cc
Napi::Value PeakGflopsBinding(const Napi::CallbackInfo& info);   // cpu/cpu_binding.cc
Napi::Value SetNumThreadsBinding(const Napi::CallbackInfo& info);  // threadpool_binding.cc
Napi::Value GetNumThreadsBinding(const Napi::CallbackInfo& info);  // threadpool_binding.cc

Napi::Value Conv2dBinding(const Napi::CallbackInfo& info);               // conv/conv_binding.cc
Napi::Value Conv2dBackwardBinding(const Napi::CallbackInfo& info);  // conv/conv_binding.cc
Napi::Value Conv2dPackedBinding(const Napi::CallbackInfo& info);          // conv/conv_binding.cc
Napi::Value PackConv2dWeightBinding(const Napi::CallbackInfo& info);      // conv/conv_binding.cc
Napi::Value Conv2dPackedLayoutBinding(const Napi::CallbackInfo& info);    // conv/conv_binding.cc

Napi::Value BlockedConvLayoutBinding(const Napi::CallbackInfo& info);     // nchwc/nchwc_binding.cc
Napi::Value PackBlockedConvBinding(const Napi::CallbackInfo& info);       // nchwc/nchwc_binding.cc
Napi::Value BlockedConvBinding(const Napi::CallbackInfo& info);           // nchwc/nchwc_binding.cc
Napi::Value ToBlockedBinding(const Napi::CallbackInfo& info);             // nchwc/nchwc_binding.cc
Napi::Value FromBlockedBinding(const Napi::CallbackInfo& info);           // nchwc/nchwc_binding.cc
Napi::Value BlockedGlobalAvgPoolBinding(const Napi::CallbackInfo& info);  // nchwc/nchwc_binding.cc

Napi::Value BatchNormTrainBinding(const Napi::CallbackInfo& info);     // layers/batch_norm.cc
Napi::Value BatchNormApplyBinding(const Napi::CallbackInfo& info);     // layers/batch_norm.cc
Napi::Value BatchNormBackwardBinding(const Napi::CallbackInfo& info);  // layers/batch_norm.cc

Napi::Value ReluBinding(const Napi::CallbackInfo& info);          // layers/elementwise.cc
Napi::Value ReluBackwardBinding(const Napi::CallbackInfo& info);  // layers/elementwise.cc
Napi::Value AddBinding(const Napi::CallbackInfo& info);           // layers/elementwise.cc
Napi::Value AddReluBinding(const Napi::CallbackInfo& info);       // layers/elementwise.cc
Napi::Value LogSoftmaxBinding(const Napi::CallbackInfo& info);    // layers/elementwise.cc

Napi::Value MaxPool2dBinding(const Napi::CallbackInfo& info);                  // layers/pool.cc
Napi::Value MaxPool2dBackwardBinding(const Napi::CallbackInfo& info);          // layers/pool.cc
Napi::Value MaxPool2dToBlockedBinding(const Napi::CallbackInfo& info);         // layers/pool.cc
Napi::Value AdaptiveAvgPool2dBinding(const Napi::CallbackInfo& info);          // layers/pool.cc
Napi::Value AdaptiveAvgPool2dBackwardBinding(const Napi::CallbackInfo& info);  // layers/pool.cc

Napi::Value ShortcutABinding(const Napi::CallbackInfo& info);          // layers/shortcut.cc
Napi::Value ShortcutABackwardBinding(const Napi::CallbackInfo& info);  // layers/shortcut.cc

Napi::Value SgdUpdateBinding(const Napi::CallbackInfo& info);    // optim/optim.cc
Napi::Value AdamwUpdateBinding(const Napi::CallbackInfo& info);  // optim/optim.cc

}  // namespace resnet
