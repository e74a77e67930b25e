// Direct convolution on blocked tensors (nchwc.h): every kernel size and stride the ResNets use, 1×1 included, as
// runs of the microkernel. A tap is a fixed offset into the input, so a run needs no im2col and no packing: where a
// window would read padding, its pixel drops those taps instead, and the pixels that keep the same taps form one run
// (a 3×3 padding-1 layer's interior, each edge, each corner).
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

// Output pixels that keep the same taps, in row-major order: one run's pixels, across rows. Offsets are from the
// image's first input pixel: x_at is each pixel's first valid window pixel, tap_offset each kept tap's offset from
// it, so that every address formed is in the image; y_at is the output pixel's.
struct PixelClass {
  Range ky, kx;
  std::vector<int32_t> tap_offset, tap_index, x_at, y_at;
};
std::vector<PixelClass> pixel_classes(const ConvShape& s) {
  std::vector<PixelClass> classes;
  for (size_t oy = 0; oy < s.oh; oy++) {
    const Range ky = taps_along(oy, s.stride_h, s.pad_h, s.kh, s.h);
    for (size_t ox = 0; ox < s.ow; ox++) {
      const Range kx = taps_along(ox, s.stride_w, s.pad_w, s.kw, s.w);
      auto c = std::find_if(classes.begin(), classes.end(), [&](const PixelClass& k) {
        return k.ky.lo == ky.lo && k.ky.hi == ky.hi && k.kx.lo == kx.lo && k.kx.hi == kx.hi;
      });
      if (c == classes.end()) {
        PixelClass k{ky, kx, {}, {}, {}, {}};
        for (size_t ty = ky.lo; ty < ky.hi; ty++) {
          for (size_t tx = kx.lo; tx < kx.hi; tx++) {
            k.tap_offset.push_back(static_cast<int32_t>(((ty - ky.lo) * s.w + (tx - kx.lo)) * kBlock));
            k.tap_index.push_back(static_cast<int32_t>(ty * s.kw + tx));
          }
        }
        classes.push_back(std::move(k));
        c = classes.end() - 1;
      }
      // A window of no valid taps reads nothing; its pixel is the image's first.
      const size_t iy = ky.lo < ky.hi ? oy * s.stride_h + ky.lo - s.pad_h : 0;
      const size_t ix = kx.lo < kx.hi ? ox * s.stride_w + kx.lo - s.pad_w : 0;
      c->x_at.push_back(static_cast<int32_t>((iy * s.w + ix) * kBlock));
      c->y_at.push_back(static_cast<int32_t>((oy * s.ow + ox) * kBlock));
    }
  }
  return classes;
}

// Runs are cut into pieces of at most this many full tiles (48 pixels), the last piece taking the remainder, so that
// the threads can share an image and every piece but the last runs full tiles (pieces of 39 and 40 pixels ran
// 5-pixel tiles: layer3's 196-pixel planes in 5 near-equal pieces).
constexpr size_t kPieceTiles = 8;

// Pixels [first, end) of pixel class `of` (the whole plane for a 1×1 unpadded convolution).
struct Piece {
  size_t of, first, end;
};
void cut_into_pieces(size_t of, size_t count, std::vector<Piece>& pieces) {
  const size_t tiles = count / kTileRows, n = std::max<size_t>(1, ceil_div(tiles, kPieceTiles));
  for (size_t i = 0; i < n; i++) {
    pieces.push_back({of, tiles * i / n * kTileRows, i + 1 == n ? count : tiles * (i + 1) / n * kTileRows});
  }
}

// Weights up to this size stay in L2 (1 MB a core) beside a piece's input, so that the groups can take turns on each
// piece ([8,256,56,56]→128: 8.1-8.2 → 7.7 ms alone).
constexpr size_t kGroupsInnerBytes = 512 * 1024;

// The most weights of a group that a direct convolution's tiles take at a time (L2/4; see conv_forward).
constexpr size_t kSliceBytes = 256 * 1024;

// The input pixels a strided 1×1 convolution reads, of one image, as a blocked plane of the output's size.
void gather_pixels(const ConvShape& s, const float* xi, float* out) {
  const size_t blocks = s.c / kBlock;
  for (size_t cb = 0; cb < blocks; cb++) {
    const float* plane = xi + cb * s.h * s.w * kBlock;
    for (size_t oy = 0; oy < s.oh; oy++) {
      // The lines of the row two ahead: every other line of every other row, which the hardware prefetchers follow
      // poorly (resnet50's strided downsamples at batch 8, alternating in one process: layer2's 9.4 → 9.2 ms).
      const float* ahead = plane + (oy + 2) * s.stride_h * s.w * kBlock;
      const bool prefetch = oy + 2 < s.oh;
      for (size_t ox = 0; ox < s.ow; ox++) {
        if (prefetch) __builtin_prefetch(ahead + ox * s.stride_w * kBlock);
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
  const size_t groups = groups_of(s), plane = s.oh * s.ow;
  // 1×1 unpadded convolutions read one input pixel per output pixel: the output plane is one run, its pixels evenly
  // spaced. Otherwise one run per class of pixels that keep the same taps.
  const bool flat = s.kh == 1 && s.kw == 1 && s.pad_h == 0 && s.pad_w == 0;
  const std::vector<PixelClass> classes = flat ? std::vector<PixelClass>{} : pixel_classes(s);
  std::vector<Piece> pieces;
  if (flat) {
    cut_into_pieces(0, plane, pieces);
  } else {
    for (size_t k = 0; k < classes.size(); k++) cut_into_pieces(k, classes[k].x_at.size(), pieces);
  }
  // Items (image, group, piece). Where all the weights stay in L2 and the input is at least as wide as the output,
  // groups innermost: each piece's input is read from memory once, and the groups read it back from L2. Otherwise
  // pieces innermost: a thread's range walks each group's weights once per image, and the image's input is read once
  // per group, while the output (and residual) go by in a few long streams rather than in pieces of all of its
  // blocks in turn. For widening 1×1 layers (a bottleneck's conv3 and downsample), resnet50 at batch 8, per-call
  // medians of 16-20 forwards alternating in one process: layer1's and layer2's 41.2 → 40.8 ms and 91.7 → 91.1
  // (with layers 3-4, already so) in two runs; at batch 1, 5.0 → 4.9.
  const size_t per_group = pieces.size(), items = s.n * groups * per_group;
  const bool groups_inner = conv_packed_size(s) * sizeof(float) <= kGroupsInnerBytes && s.oc <= s.c;
  // A strided 1×1 convolution first copies the input pixels it reads, an image at a time, into scratch: there they
  // are the plane of a stride-1 one, whose runs read them back from L2 for every group, where in place they lay
  // every other cache line of every other row, spread over 4× the memory.
  const bool gather = flat && (s.stride_h > 1 || s.stride_w > 1);
  const int32_t zero = 0;
  // Where a tile reads 32 input blocks or more (each its own stream of lines, pages apart: more than the hardware
  // prefetchers follow) of a residual stream wider than the output (a bottleneck's conv1, whose input was not just
  // written by the layer before), each block's lines of the next tile are prefetched. resnet50 at batch 8, per-call
  // medians of 16 forwards alternating in one process: layer3's conv1 4.18 → 3.76 ms, layer4's 4.07 → 3.95, the
  // two strided stages' first 7.9-8.1 → 7.5-7.6; all calls 238.1 → 236.1 and 241.3 → 239.0 ms in two runs. The
  // narrower inputs lost by it: conv3's, which come hot from the 3×3 before, and layer1's conv1 (whose block's conv3
  // then ran 5% slower).
  const bool prefetch = flat && !gather && cb_in >= 32 && s.c > s.oc;
  // A direct convolution whose group of weights is larger than kSliceBytes (3×3 on 128 channels or more) runs its
  // input blocks in slices of at most that much: each thread takes a group's slice over all of its items (images,
  // pieces), adding into y after the first, while the slice stays in L2; otherwise every tile of every image streamed
  // the whole group's weights from L3 or memory. resnet50's layer4.0 conv2 (9.4 MB of weights, 1.2 MB a group) at
  // batch 8, medians of 16 forwards alternating in one process: 10.1-10.3 → 8.8-8.9 ms; alone, hot, level (8.0-8.4).
  // Slices of 128 to 512 KB ran alike.
  const size_t slices = flat ? 1 : std::min(cb_in, ceil_div(group_floats(s, 0) * sizeof(float), kSliceBytes));
  auto work = [&](size_t i0, size_t i1) {
    float* gathered = gather ? thread_scratch<kNchwcGather>(cb_in * plane * kBlock) : nullptr;
    size_t gathered_image = SIZE_MAX;
    auto group_of = [&](size_t item) { return groups_inner ? item % groups : item / per_group % groups; };
    auto one = [&](size_t item, size_t slice) {
      const size_t img = item / (groups * per_group);
      const size_t g = group_of(item);
      const Piece& piece = pieces[groups_inner ? item / groups % per_group : item % per_group];
      Run r{};
      r.blocks_in = cb_in;
      r.x_block = plane_in;
      r.taps_total = s.kh * s.kw;
      r.w = packed + group_offset(s, g);
      r.blocks_out = group_blocks(s, g);
      r.y_block = plane_out;
      r.bias = ep.bias ? ep.bias + g * group_width() * kBlock : nullptr;
      r.relu = ep.relu;
      r.count = piece.end - piece.first;
      const float* xi = x + img * cb_in * plane_in;
      float* yi = y + (img * (s.oc / kBlock) + g * group_width()) * plane_out;
      if (flat) {
        r.tap_offset = r.tap_index = &zero;
        r.taps = 1;
        r.x = xi + piece.first * kBlock;
        r.x_step = kBlock;
        r.prefetch_ahead = prefetch ? kTileRows * kBlock : 0;
        r.y = yi + piece.first * kBlock;
        if (gather) {
          if (img != gathered_image) {
            gather_pixels(s, xi, gathered);
            gathered_image = img;
          }
          r.x = gathered + piece.first * kBlock;
          r.x_block = plane * kBlock;
        }
      } else {
        const PixelClass& c = classes[piece.of];
        r.tap_offset = c.tap_offset.data();
        r.tap_index = c.tap_index.data();
        r.taps = c.tap_offset.size();
        r.x = xi;
        r.x_at = c.x_at.data() + piece.first;
        r.y = yi;
        r.y_at = c.y_at.data() + piece.first;
      }
      r.residual = ep.residual ? ep.residual + (r.y - y) : nullptr;
      if (slices > 1) {
        const size_t cb0 = cb_in * slice / slices, cb1 = cb_in * (slice + 1) / slices;
        r.blocks_in = cb1 - cb0;
        r.x += cb0 * r.x_block;
        r.w += cb0 * r.taps_total * kBlock * r.blocks_out * kBlock;
        if (slice > 0) {
          r.bias = nullptr;
          r.residual = r.y;
        }
        if (slice + 1 < slices) r.relu = false;
      }
      run(r);
    };
    if (slices == 1) {
      for (size_t item = i0; item < i1; item++) one(item, 0);
      return;
    }
    // A slice's epilogue adds the bias (and the residual) first, y after; the last applies the ReLU.
    for (size_t g = 0; g < groups; g++) {
      for (size_t slice = 0; slice < slices; slice++) {
        for (size_t item = i0; item < i1; item++) {
          if (group_of(item) == g) one(item, slice);
        }
      }
    }
  };
  // Whole images per thread when they divide well; otherwise the threads split the items, each a contiguous range.
  parallel_ranges(items, 1, work);
}

}  // namespace resnet::nchwc
