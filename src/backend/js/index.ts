// The reference backend: plain TypeScript kernels, the oracle that every faster backend is tested against.
import type { Kernels } from '../kernels.ts';
import { batchNormApply, batchNormBackward, batchNormTrain } from './batchNorm.ts';
import { im2colConvolution } from './conv2d.ts';
import { add, addRelu, relu, reluBackward } from './elementwise.ts';
import { gemm } from './gemm.ts';
import { logSoftmax } from './logSoftmax.ts';
import { adamwUpdate, sgdUpdate } from './optim.ts';
import { adaptiveAvgPool2d, adaptiveAvgPool2dBackward, maxPool2d, maxPool2dBackward } from './pool.ts';
import { shortcutA, shortcutABackward } from './shortcut.ts';

export const jsKernels: Kernels = {
  name: 'js',
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  adamwUpdate,
  add,
  addRelu,
  batchNormApply,
  batchNormBackward,
  batchNormTrain,
  ...im2colConvolution(gemm),
  gemm,
  logSoftmax,
  maxPool2d,
  maxPool2dBackward,
  relu,
  reluBackward,
  sgdUpdate,
  shortcutA,
  shortcutABackward,
};
