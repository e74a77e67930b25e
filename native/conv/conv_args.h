// The convolution geometry object that JS passes (src/ops/conv2d.ts's ConvGeometry), read and checked, and the checks
// the convolution bindings share.
#pragma once

#include <napi.h>

#include "../napi_args.h"
#include "conv.h"

namespace resnet {

// info[i] as a ConvShape; throws a RangeError or TypeError naming fn when it is not a consistent geometry.
ConvShape arg_conv_shape(const Napi::CallbackInfo& info, size_t i, const char* fn);

// The arrays of a forward pass's epilogue for s: bias (or null) [OC], residual (or null) and y the output's size, and a
// residual that is y itself (an inference block writing its output over its input) or apart from it, never part of
// it. A RangeError naming fn and the array otherwise.
void expect_epilogue_arrays(Napi::Env env, const ConvShape& s, const Float32Span& bias, const Float32Span& residual,
                            const Float32Span& y, const char* fn);

}  // namespace resnet
