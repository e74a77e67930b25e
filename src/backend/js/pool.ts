// Reference pooling: max pooling with argmax indices, and adaptive average pooling with PyTorch's windows.
import type { PoolGeometry } from '../kernels.ts';

// x is (N·C, H, W), y and indices are (N·C, OH, OW)
export function maxPool2d(g: PoolGeometry, x: Float32Array, y: Float32Array, indices: Int32Array | null): void {
  const { h, w, oh, ow, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const planes = g.n * g.c;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * h * w;
    const yo = pl * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best = Number.NEGATIVE_INFINITY;
        let bestIndex = -1;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * strideH - padH + ky * dilationH;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * strideW - padW + kx * dilationW;
            if (ix < 0 || ix >= w) continue;
            const v = x[xo + iy * w + ix];
            // NaN wins, as in PyTorch, so a diverged activation is not silently dropped.
            if (bestIndex < 0 || v > best || Number.isNaN(v)) {
              best = v;
              bestIndex = iy * w + ix;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        y[yo + oy * ow + ox] = best;
        if (indices) indices[yo + oy * ow + ox] = bestIndex;
      }
    }
  }
}

export function maxPool2dBackward(g: PoolGeometry, dy: Float32Array, indices: Int32Array, dx: Float32Array): void {
  const planeIn = g.h * g.w;
  const planeOut = g.oh * g.ow;
  dx.fill(0);
  for (let pl = 0; pl < g.n * g.c; pl++) {
    for (let i = 0; i < planeOut; i++) {
      const o = pl * planeOut + i;
      dx[pl * planeIn + indices[o]] += dy[o];
    }
  }
}

/** PyTorch's adaptive window: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
function windowStart(i: number, inSize: number, outSize: number): number {
  return Math.floor((i * inSize) / outSize);
}

function windowEnd(i: number, inSize: number, outSize: number): number {
  return Math.ceil(((i + 1) * inSize) / outSize);
}

export function adaptiveAvgPool2d(
  nc: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
  x: Float32Array,
  y: Float32Array,
): void {
  for (let pl = 0; pl < nc; pl++) {
    const xo = pl * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = windowStart(oy, h, oh);
      const y1 = windowEnd(oy, h, oh);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = windowStart(ox, w, ow);
        const x1 = windowEnd(ox, w, ow);
        let sum = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += x[xo + iy * w + ix];
        y[(pl * oh + oy) * ow + ox] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

export function adaptiveAvgPool2dBackward(
  nc: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
  dy: Float32Array,
  dx: Float32Array,
): void {
  dx.fill(0);
  for (let pl = 0; pl < nc; pl++) {
    const xo = pl * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = windowStart(oy, h, oh);
      const y1 = windowEnd(oy, h, oh);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = windowStart(ox, w, ow);
        const x1 = windowEnd(ox, w, ow);
        const share = dy[(pl * oh + oy) * ow + ox] / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx[xo + iy * w + ix] += share;
      }
    }
  }
}
