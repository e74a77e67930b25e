// Direct convolution on blocked tensors (nchwc.h): every kernel size and stride the ResNets use, 1×1 included, as
// runs of the microkernel along output rows. A tap is a fixed offset into the input, so a run needs no im2col and no
// packing: where a window would read padding, the run drops those taps instead (the first and last output columns,
// the first and last rows), and pixels with the same valid taps form one run.
#include <algorithm>
#include <vector>

#include "../parallel.h"
#include "../scratch.h"
#include "nchwc.h"

namespace resnet::nchwc {

bool conv_eligible(const ConvShape& s) {
  return s.groups == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.c % kBlock == 0 && s.oc % kBlock == 0;
}

namespace {

size_t group_floats(const ConvShape& s, size_t g) { return s.c * s.kh * s.kw * group_blocks(s, g) * kBlock; }

// Where a group's packing starts: every group before it is group_width() blocks wide.
size_t group_offset(const ConvShape& s, size_t g) { return g * s.c * s.kh * s.kw * group_width() * kBlock; }

// The valid range [lo, hi) of kernel offsets for output coordinate o along an axis of `in` inputs.
struct Range {
  size_t lo, hi;
};
Range taps_along(size_t o, size_t stride, size_t pad, size_t kernel, size_t in) {
  const long long first = static_cast<long long>(o * stride) - static_cast<long long>(pad);
  const long long lo = std::max<long long>(0, -first);
  const long long hi = std::min<long long>(static_cast<long long>(kernel), static_cast<long long>(in) - first);
  return {static_cast<size_t>(lo), static_cast<size_t>(std::max(lo, hi))};
}

// One output row's runs: output columns grouped by their valid kx range.
struct ColumnRun {
  size_t ox0, ox1;
  Range kx;
};
std::vector<ColumnRun> column_runs(const ConvShape& s) {
  std::vector<ColumnRun> runs;
  for (size_t ox = 0; ox < s.ow; ox++) {
    const Range kx = taps_along(ox, s.stride_w, s.pad_w, s.kw, s.w);
    if (!runs.empty() && runs.back().kx.lo == kx.lo && runs.back().kx.hi == kx.hi) {
      runs.back().ox1 = ox + 1;
    } else {
      runs.push_back({ox, ox + 1, kx});
    }
  }
  return runs;
}

// A 1×1 unpadded convolution's output plane is one row, cut into pieces of at most this many full tiles (48 pixels),
// the last piece taking the plane's remainder, so that the threads can share an image and every piece but the last
// runs full tiles (pieces of 39 and 40 pixels ran 5-pixel tiles: 196 pixels in 5 near-equal pieces, layer3's
// planes). A strided one's (gathered first, below) as well, where runs along its output rows ran tiles of 4 and 3 on
// 7-pixel rows (resnet50's layer4 downsample).
constexpr size_t kFlatPieceTiles = 8;

// Piece `row` of `rows` of a flat plane of `plane` pixels: [first, end).
struct Piece {
  size_t first, end;
};
Piece flat_piece(size_t plane, size_t row, size_t rows) {
  const size_t tiles = plane / kTileRows;
  return {tiles * row / rows * kTileRows, row + 1 == rows ? plane : tiles * (row + 1) / rows * kTileRows};
}

// Weights up to this size stay in L2 (1 MB a core) beside a row's input, so that the groups can take turns on each
// row ([8,256,56,56]→128: 8.1-8.2 → 7.7 ms alone).
constexpr size_t kGroupsInnerBytes = 512 * 1024;

// The input pixels a strided 1×1 convolution reads, of one image, as a blocked plane of the output's size.
void gather_pixels(const ConvShape& s, const float* xi, float* out) {
  const size_t blocks = s.c / kBlock;
  for (size_t cb = 0; cb < blocks; cb++) {
    const float* plane = xi + cb * s.h * s.w * kBlock;
    for (size_t oy = 0; oy < s.oh; oy++) {
      for (size_t ox = 0; ox < s.ow; ox++) {
        std::copy_n(plane + (oy * s.stride_h * s.w + ox * s.stride_w) * kBlock, kBlock, out);
        out += kBlock;
      }
    }
  }
}

}  // namespace

size_t conv_packed_size(const ConvShape& s) {
  size_t total = 0;
  for (size_t g = 0; g < groups_of(s); g++) total += group_floats(s, g);
  return total;
}

void conv_pack(const ConvShape& s, const float* w, float* packed) {
  const size_t taps = s.kh * s.kw;
  for (size_t g = 0; g < groups_of(s); g++) {
    const size_t width = group_blocks(s, g) * kBlock;
    float* out = packed + group_offset(s, g);
    for (size_t c = 0; c < s.c; c++) {
      for (size_t t = 0; t < taps; t++) {
        for (size_t o = 0; o < width; o++) {
          const size_t oc = g * group_width() * kBlock + o;
          out[(((c / kBlock) * taps + t) * kBlock + c % kBlock) * width + o] = w[(oc * s.c + c) * taps + t];
        }
      }
    }
  }
}

void conv_forward(const ConvShape& s, const float* x, const float* packed, const ConvEpilogue& ep, float* y) {
  const size_t cb_in = s.c / kBlock, plane_in = s.h * s.w * kBlock, plane_out = s.oh * s.ow * kBlock;
  const size_t groups = groups_of(s), taps_total = s.kh * s.kw;
  // 1×1 unpadded convolutions read one input pixel per output pixel: the output plane is one row, cut into pieces.
  const bool flat = s.kh == 1 && s.kw == 1 && s.pad_h == 0 && s.pad_w == 0;
  // Rows of work per image: output rows, or pieces of the flat plane.
  const size_t plane = s.oh * s.ow, rows = flat ? std::max<size_t>(1, ceil_div(plane / kTileRows, kFlatPieceTiles)) : s.oh;
  const std::vector<ColumnRun> columns = flat ? std::vector<ColumnRun>{} : column_runs(s);
  // Items (image, group, row). Where all the weights stay in L2, groups innermost: each row's input is read from
  // memory once, and the groups read it back from L2. Otherwise rows innermost: a thread's range walks each group's
  // weights once per image, and the image's input is read once per group.
  const size_t items = s.n * groups * rows;
  const bool groups_inner = conv_packed_size(s) * sizeof(float) <= kGroupsInnerBytes;
  // A strided 1×1 convolution first copies the input pixels it reads, an image at a time, into scratch: there they
  // are the plane of a stride-1 one, whose runs read them back from L2 for every group, where in place they lay
  // every other cache line of every other row, spread over 4× the memory.
  const bool gather = flat && (s.stride_h > 1 || s.stride_w > 1);
  auto work = [&](size_t i0, size_t i1) {
    int32_t offsets[64], indices[64];  // taps of a run (3×3: 9; 7×7: 49)
    float* gathered = gather ? thread_scratch<kNchwcGather>(cb_in * plane * kBlock) : nullptr;
    size_t gathered_image = SIZE_MAX;
    for (size_t item = i0; item < i1; item++) {
      const size_t img = item / (groups * rows);
      const size_t g = groups_inner ? item % groups : item / rows % groups;
      const size_t row = groups_inner ? item / groups % rows : item % rows;
      Run r{};
      r.blocks_in = cb_in;
      r.x_block = plane_in;
      r.taps_total = taps_total;
      r.w = packed + group_offset(s, g);
      r.blocks_out = group_blocks(s, g);
      r.y_block = plane_out;
      r.bias = ep.bias ? ep.bias + g * group_width() * kBlock : nullptr;
      r.relu = ep.relu;
      r.tap_offset = offsets;
      r.tap_index = indices;
      const float* xi = x + img * cb_in * plane_in;
      const size_t out_at = (img * (s.oc / kBlock) + g * group_width()) * plane_out;
      if (flat) {
        const auto [p0, p1] = flat_piece(plane, row, rows);
        offsets[0] = indices[0] = 0;
        r.taps = 1;
        r.y = y + out_at + p0 * kBlock;
        r.residual = ep.residual ? ep.residual + (r.y - y) : nullptr;
        r.count = p1 - p0;
        r.x = xi + p0 * kBlock;
        r.x_step = kBlock;
        if (gather) {
          if (img != gathered_image) {
            gather_pixels(s, xi, gathered);
            gathered_image = img;
          }
          r.x = gathered + p0 * kBlock;
          r.x_block = plane * kBlock;
        }
        run(r);
        continue;
      }
      const Range ky = taps_along(row, s.stride_h, s.pad_h, s.kh, s.h);
      const long long iy0 = static_cast<long long>(row * s.stride_h) - static_cast<long long>(s.pad_h);
      for (const ColumnRun& c : columns) {
        const long long ix0 = static_cast<long long>(c.ox0 * s.stride_w) - static_cast<long long>(s.pad_w);
        size_t taps = 0;
        for (size_t ty = ky.lo; ty < ky.hi; ty++) {
          for (size_t tx = c.kx.lo; tx < c.kx.hi; tx++) {
            // Offsets from the run's first input pixel (iy0, ix0), which may lie in the padding.
            offsets[taps] = static_cast<int32_t>(
                (static_cast<long long>(ty) * static_cast<long long>(s.w) + static_cast<long long>(tx)) * kBlock);
            indices[taps] = static_cast<int32_t>(ty * s.kw + tx);
            taps++;
          }
        }
        // The pointer to (iy0, ix0) is formed only through the offsets added to it: start at a valid pixel.
        const long long base = (iy0 * static_cast<long long>(s.w) + ix0) * static_cast<long long>(kBlock);
        r.x = xi;
        for (size_t t = 0; t < taps; t++) offsets[t] = static_cast<int32_t>(offsets[t] + base);
        r.x_step = s.stride_w * kBlock;
        r.taps = taps;
        r.y = y + out_at + (row * s.ow + c.ox0) * kBlock;
        r.residual = ep.residual ? ep.residual + (r.y - y) : nullptr;
        r.count = c.ox1 - c.ox0;
        run(r);
      }
    }
  };
  // Whole images per thread when they divide well; otherwise the threads split the items, each a contiguous range.
  parallel_ranges(items, 1, work);
}

}  // namespace resnet::nchwc
