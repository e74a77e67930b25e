// The convolution geometry object that JS passes (src/ops/conv2d.ts's ConvGeometry), read and checked, and the checks
// the convolution bindings share.
#pragma once

#include <napi.h>

#include "../napi_args.h"
#include "conv.h"

namespace resnet {

// info[i] as a ConvShape; throws a RangeError or TypeError naming fn when it is not a consistent geometry.
ConvShape arg_conv_shape(const Napi::CallbackInfo& info, size_t i, const char* fn);

// A residual may be y itself (an inference block writing its output over its input) but not part of it: a RangeError
// naming fn otherwise.
void expect_residual_not_overlapping(Napi::Env env, const Float32Span& residual, const Float32Span& y,
                                     const char* fn);

}  // namespace resnet
