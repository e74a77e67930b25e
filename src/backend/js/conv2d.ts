// Convolution as im2col + GEMM per image and group, with both backward passes beside the forward. The GEMM is a
// parameter: the js backend passes its reference GEMM, the native backend its AVX2 one.
import type { ConvGeometry, Kernels } from '../kernels.ts';
import { col2im, im2col, isPointwise } from './im2col.ts';

type Gemm = Kernels['gemm'];
export type ConvKernels = Pick<
  Kernels,
  'conv2d' | 'conv2dFused' | 'conv2dFusedPacked' | 'packConv2dWeight' | 'conv2dPackedLayout' | 'conv2dBackward'
>;

export function im2colConvolution(gemm: Gemm): ConvKernels {
  return {
    conv2d: (g, x, w, bias, y) => conv2d(gemm, g, x, w, bias, y),
    conv2dFused: (g, x, w, bias, residual, relu, y) => conv2dFused(gemm, g, x, w, bias, residual, relu, y),
    // The reference layout is the plain one.
    packConv2dWeight: (_g, w) => w.slice(),
    conv2dPackedLayout: () => 'plain',
    conv2dFusedPacked: (g, x, w, bias, residual, relu, y) => conv2dFused(gemm, g, x, w, bias, residual, relu, y),
    conv2dBackward: (g, dy, x, w, dx, accumulate, dw) => {
      if (dx) conv2dBackwardInput(gemm, g, dy, w, dx, accumulate);
      if (dw) conv2dBackwardWeight(gemm, g, dy, x, dw);
    },
  };
}

interface GroupDims {
  cg: number; // input channels per group
  ocg: number; // output channels per group
  k: number; // cg·KH·KW, the GEMM depth
  p: number; // OH·OW, output pixels per image
}

function groupDims(g: ConvGeometry): GroupDims {
  const cg = g.c / g.groups;
  return { cg, ocg: g.oc / g.groups, k: cg * g.kh * g.kw, p: g.oh * g.ow };
}

// x is (N,C,H,W), w is (OC,C/g,KH,KW), y is (N,OC,OH,OW)
function conv2d(
  gemm: Gemm,
  g: ConvGeometry,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
): void {
  const { cg, ocg, k, p } = groupDims(g);
  const pointwise = isPointwise(g);
  const col = pointwise ? null : new Float32Array(k * p);
  for (let n = 0; n < g.n; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOffset = (n * g.c + grp * cg) * g.h * g.w;
      let b: Float32Array;
      if (col) {
        im2col(g, x, xOffset, cg, col);
        b = col;
      } else {
        b = x.subarray(xOffset, xOffset + k * p);
      }
      const yOffset = (n * g.oc + grp * ocg) * p;
      gemm(false, false, ocg, p, k, 1, w.subarray(grp * ocg * k), k, b, p, 0, y.subarray(yOffset), p);
    }
    if (bias) {
      for (let o = 0; o < g.oc; o++) {
        const start = (n * g.oc + o) * p;
        const bo = bias[o];
        for (let i = start; i < start + p; i++) y[i] += bo;
      }
    }
  }
}

// y = act(conv(x, w) + bias + residual)
function conv2dFused(
  gemm: Gemm,
  g: ConvGeometry,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  residual: Float32Array | null,
  relu: boolean,
  y: Float32Array,
): void {
  // The residual may be y itself (an inference block writing over its input): keep it before y is overwritten.
  const res = residual === y ? residual.slice() : residual;
  conv2d(gemm, g, x, w, bias, y);
  if (res) for (let i = 0; i < y.length; i++) y[i] += res[i];
  // NaN stays NaN, as in the relu kernel.
  if (relu) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
}

// dx (N,C,H,W) = col2im(wᵀ · dy) per image and group, overwritten or with accumulate added to dx
function conv2dBackwardInput(
  gemm: Gemm,
  g: ConvGeometry,
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  accumulate: boolean,
): void {
  const { cg, ocg, k, p } = groupDims(g);
  const pointwise = isPointwise(g);
  const dcol = pointwise ? null : new Float32Array(k * p);
  if (!accumulate) dx.fill(0);
  for (let n = 0; n < g.n; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const dyg = dy.subarray((n * g.oc + grp * ocg) * p);
      const wg = w.subarray(grp * ocg * k);
      const dxOffset = (n * g.c + grp * cg) * g.h * g.w;
      if (dcol) {
        gemm(true, false, k, p, ocg, 1, wg, k, dyg, p, 0, dcol, p);
        col2im(g, dcol, cg, dx, dxOffset);
      } else {
        gemm(true, false, k, p, ocg, 1, wg, k, dyg, p, accumulate ? 1 : 0, dx.subarray(dxOffset), p);
      }
    }
  }
}

// dw (OC,C/g,KH,KW) = Σₙ dy · colᵀ per group
function conv2dBackwardWeight(gemm: Gemm, g: ConvGeometry, dy: Float32Array, x: Float32Array, dw: Float32Array): void {
  const { cg, ocg, k, p } = groupDims(g);
  const pointwise = isPointwise(g);
  const col = pointwise ? null : new Float32Array(k * p);
  for (let n = 0; n < g.n; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOffset = (n * g.c + grp * cg) * g.h * g.w;
      let b: Float32Array;
      if (col) {
        im2col(g, x, xOffset, cg, col);
        b = col;
      } else {
        b = x.subarray(xOffset, xOffset + k * p);
      }
      const dyg = dy.subarray((n * g.oc + grp * ocg) * p);
      gemm(false, true, ocg, k, p, 1, dyg, p, b, p, n === 0 ? 0 : 1, dw.subarray(grp * ocg * k), k);
    }
  }
  if (g.n === 0) dw.fill(0);
}
