// The native backend: every kernel of the table runs in the C++ addon (native/), on its thread pool, reading and
// writing the tensors' typed arrays in place. Shapes are checked by the ops before they get here.
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
  const b = load.binding;
  return {
    name: 'native',
    adaptiveAvgPool2d: b.adaptiveAvgPool2d,
    adaptiveAvgPool2dBackward: b.adaptiveAvgPool2dBackward,
    adamwUpdate: b.adamwUpdate,
    add: b.add,
    addRelu: b.addRelu,
    batchNormApply: b.batchNormApply,
    batchNormBackward: b.batchNormBackward,
    batchNormTrain: b.batchNormTrain,
    blocked: {
      convLayout: b.blockedConvLayout,
      packConv: b.packBlockedConv,
      conv: b.blockedConv,
      toBlocked: b.toBlocked,
      maxPool2d: b.maxPool2dToBlocked,
      fromBlocked: b.fromBlocked,
      globalAvgPool: b.blockedGlobalAvgPool,
    },
    conv2d: (g, x, w, bias, y) => b.conv2d(g, x, w, bias, null, false, y),
    conv2dBackward: b.conv2dBackward,
    conv2dFused: b.conv2d,
    conv2dFusedPacked: b.conv2dPacked,
    conv2dPackedLayout: b.conv2dPackedLayout,
    gemm: b.gemm,
    logSoftmax: b.logSoftmax,
    maxPool2d: b.maxPool2d,
    maxPool2dBackward: b.maxPool2dBackward,
    packConv2dWeight: b.packConv2dWeight,
    relu: b.relu,
    reluBackward: b.reluBackward,
    sgdUpdate: b.sgdUpdate,
    shortcutA: b.shortcutA,
    shortcutABackward: b.shortcutABackward,
  };
}
