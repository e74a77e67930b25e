// Reference kernels of the option-A shortcut (Kernels.shortcutA): a strided copy into zero-padded channels, and back.

/** Each kept input element and its output position: fn(input offset, output offset) over the whole batch. */
function forEachKept(
  n: number,
  c: number,
  h: number,
  w: number,
  stride: number,
  padChannels: number,
  fn: (xi: number, yi: number) => void,
): void {
  const [oh, ow, oc] = [Math.ceil(h / stride), Math.ceil(w / stride), c + 2 * padChannels];
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          fn(((b * c + ch) * h + oy * stride) * w + ox * stride, ((b * oc + ch + padChannels) * oh + oy) * ow + ox);
        }
      }
    }
  }
}

export function shortcutA(
  n: number,
  c: number,
  h: number,
  w: number,
  stride: number,
  padChannels: number,
  x: Float32Array,
  y: Float32Array,
): void {
  y.fill(0);
  forEachKept(n, c, h, w, stride, padChannels, (xi, yi) => {
    y[yi] = x[xi];
  });
}

export function shortcutABackward(
  n: number,
  c: number,
  h: number,
  w: number,
  stride: number,
  padChannels: number,
  dy: Float32Array,
  dx: Float32Array,
): void {
  dx.fill(0);
  forEachKept(n, c, h, w, stride, padChannels, (xi, yi) => {
    dx[xi] = dy[yi];
  });
}
