// im2col / col2im for one image and one group: the unfolded patch matrix col [C/g·KH·KW, OH·OW] that turns
// a convolution into a GEMM with the weight matrix [OC/g, C/g·KH·KW].
import type { ConvGeometry } from '../kernels.ts';

/** Fills col from the channels [c0, c0 + cg) of the image starting at x[xOffset]; padding reads as 0. */
export function im2col(g: ConvGeometry, x: Float32Array, xOffset: number, cg: number, col: Float32Array): void {
  const { h, w, oh, ow, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const plane = oh * ow;
  let row = 0;
  for (let ci = 0; ci < cg; ci++) {
    const xc = xOffset + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const out = row * plane;
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * strideH - padH + ky * dilationH;
          const o = out + oy * ow;
          if (iy < 0 || iy >= h) {
            col.fill(0, o, o + ow);
            continue;
          }
          const xr = xc + iy * w;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * strideW - padW + kx * dilationW;
            col[o + ox] = ix >= 0 && ix < w ? x[xr + ix] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds each col entry back into dx (which the caller has zeroed). */
export function col2im(g: ConvGeometry, col: Float32Array, cg: number, dx: Float32Array, dxOffset: number): void {
  const { h, w, oh, ow, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const plane = oh * ow;
  let row = 0;
  for (let ci = 0; ci < cg; ci++) {
    const xc = dxOffset + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const src = row * plane;
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * strideH - padH + ky * dilationH;
          if (iy < 0 || iy >= h) continue;
          const xr = xc + iy * w;
          const o = src + oy * ow;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * strideW - padW + kx * dilationW;
            if (ix >= 0 && ix < w) dx[xr + ix] += col[o + ox];
          }
        }
      }
    }
  }
}

/** A 1×1, stride-1, unpadded convolution needs no unfolding: the input plane already is col. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
}
