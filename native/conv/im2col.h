// im2col / col2im for one image and one group, over a range of input channels so that callers can split the
// channels across threads. col is [cg·KH·KW, OH·OW] (im2col: a band of output rows); channel ci's rows start at
// row ci·KH·KW.
#pragma once

#include <cstddef>

#include "conv.h"

namespace resnet {

// Fills the col rows of channels [c0, c1) from the group's input planes x (channel 0 of the group at x), for the
// output rows [oy0, oy1) only: col is then [cg·KH·KW, (oy1 − oy0)·OW], rows ld apart (0: packed, (oy1 − oy0)·OW;
// wider when several images' columns sit side by side). Padding reads as 0.
void im2col(const ConvShape& s, const float* x, size_t c0, size_t c1, size_t oy0, size_t oy1, float* col,
            size_t ld = 0);
// The adjoint for the output rows [oy0, oy1) (col [cg·KH·KW, (oy1 − oy0)·OW], rows ld apart as in im2col): adds
// each col entry into the planes of channels [c0, c1) of dx, which the caller has zeroed before the first band.
void col2im(const ConvShape& s, const float* col, size_t c0, size_t c1, size_t oy0, size_t oy1, float* dx,
            size_t ld = 0);

}  // namespace resnet
