// The native backend: the C++ addon's kernels where it has them (today: the AVX2/FMA GEMM, which carries the
// convolutions and linear layers), the js reference kernels for the rest. It replaces the js backend kernel by kernel.
import { im2colConvolution } from '../js/conv2d.ts';
import { jsKernels } from '../js/index.ts';
import type { Kernels } from '../kernels.ts';
import { loadNativeAddon } from './addon.ts';

let warned = false;

/** The native kernel table, or null (after one warning on stderr) when the addon cannot be loaded here. */
export function nativeKernels(): Kernels | null {
  const load = loadNativeAddon();
  if (!load.binding) {
    if (!warned && !process.env.RESNET_BACKEND) {
      process.emitWarning(`resnet-ts: native addon unavailable, using the js backend (${load.reason})`);
    }
    warned = true;
    return null;
  }
  const gemm: Kernels['gemm'] = load.binding.gemm;
  return { ...jsKernels, name: 'native', gemm, ...im2colConvolution(gemm) };
}
