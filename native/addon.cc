// resnet_native: the export table of the addon. Each entry lives in its feature's own file (see bindings.h).
#include <napi.h>

#include <utility>

#include "bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> table[] = {
      {"adamwUpdate", resnet::AdamwUpdateBinding},
      {"adaptiveAvgPool2d", resnet::AdaptiveAvgPool2dBinding},
      {"adaptiveAvgPool2dBackward", resnet::AdaptiveAvgPool2dBackwardBinding},
      {"add", resnet::AddBinding},
      {"addRelu", resnet::AddReluBinding},
      {"batchNormApply", resnet::BatchNormApplyBinding},
      {"batchNormBackward", resnet::BatchNormBackwardBinding},
      {"batchNormTrain", resnet::BatchNormTrainBinding},
      {"blockedConv", resnet::BlockedConvBinding},
      {"blockedConvLayout", resnet::BlockedConvLayoutBinding},
      {"blockedGlobalAvgPool", resnet::BlockedGlobalAvgPoolBinding},
      {"conv2d", resnet::Conv2dBinding},
      {"conv2dBackward", resnet::Conv2dBackwardBinding},
      {"conv2dPacked", resnet::Conv2dPackedBinding},
      {"conv2dPackedLayout", resnet::Conv2dPackedLayoutBinding},
      {"cpuInfo", resnet::CpuInfoBinding},
      {"fromBlocked", resnet::FromBlockedBinding},
      {"gemm", resnet::GemmBinding},
      {"getNumThreads", resnet::GetNumThreadsBinding},
      {"logSoftmax", resnet::LogSoftmaxBinding},
      {"maxPool2d", resnet::MaxPool2dBinding},
      {"maxPool2dBackward", resnet::MaxPool2dBackwardBinding},
      {"maxPool2dToBlocked", resnet::MaxPool2dToBlockedBinding},
      {"packBlockedConv", resnet::PackBlockedConvBinding},
      {"packConv2dWeight", resnet::PackConv2dWeightBinding},
      {"peakGflops", resnet::PeakGflopsBinding},
      {"relu", resnet::ReluBinding},
      {"reluBackward", resnet::ReluBackwardBinding},
      {"setNumThreads", resnet::SetNumThreadsBinding},
      {"sgdUpdate", resnet::SgdUpdateBinding},
      {"shortcutA", resnet::ShortcutABinding},
      {"shortcutABackward", resnet::ShortcutABackwardBinding},
      {"toBlocked", resnet::ToBlockedBinding},
  };
  for (const auto& [name, fn] : table) exports.Set(name, Napi::Function::New(env, fn, name));
  return exports;
}

}  // namespace

NODE_API_MODULE(resnet_native, Init)
