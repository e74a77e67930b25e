// The convolution geometry object that JS passes (src/ops/conv2d.ts's ConvGeometry), read and checked.
#pragma once

#include <napi.h>

#include "conv.h"

namespace resnet {

// info[i] as a ConvShape; throws a RangeError or TypeError naming fn when it is not a consistent geometry.
ConvShape arg_conv_shape(const Napi::CallbackInfo& info, size_t i, const char* fn);

}  // namespace resnet
