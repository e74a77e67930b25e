// Loads the resnet_native addon (native/, built by node-gyp) and describes its exports. Never throws: a missing
// or broken build yields null and a reason, and the caller falls back to the js backend with one warning.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { BlockedKernels, Kernels } from '../kernels.ts';

export interface CpuInfo {
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  /** The instruction set the kernels dispatch to; RESNET_ISA=avx2_fma or scalar caps it at that set. */
  isa: 'avx512' | 'avx2_fma' | 'scalar';
  /** The GEMM microkernel in use, named by tile and ISA, e.g. 'sgemm_ukernel_6x16_avx2_fma'. */
  gemmKernel: string;
  /** Threads in the native pool, the calling thread included. */
  threads: number;
}

export interface PeakGflops {
  singleThread: number;
  allThreads: number;
  threads: number;
}

export interface NativeBinding {
  /**
   * Row-major C = alpha·op(A)·op(B) + beta·C with BLAS semantics (beta = 0 overwrites C, NaN included), in place on
   * the arrays' memory. op(A) is [M, K] (A stored [K, M] when transA), op(B) is [K, N] (B stored [N, K] when
   * transB). Throws a TypeError/RangeError when a leading dimension or array length does not fit the dims, or C
   * overlaps A or B. Runs on the native thread pool and blocks the calling thread.
   * Every kernel below has the Kernels table's contract, checks each array's length against the sizes it is given
   * (RangeError) and blocks the calling thread while the pool runs it.
   */
  gemm: Kernels['gemm'];
  /** y = act(conv(x, w) + bias + residual): Kernels.conv2dFused; conv2d is the call with no residual and no ReLU. */
  conv2d: Kernels['conv2dFused'];
  /** conv2d with weights from packConv2dWeight: Kernels.conv2dFusedPacked. */
  conv2dPacked: Kernels['conv2dFusedPacked'];
  packConv2dWeight: Kernels['packConv2dWeight'];
  conv2dPackedLayout: Kernels['conv2dPackedLayout'];
  conv2dBackward: Kernels['conv2dBackward'];
  blockedConvLayout: BlockedKernels['convLayout'];
  packBlockedConv: BlockedKernels['packConv'];
  blockedConv: BlockedKernels['conv'];
  toBlocked: BlockedKernels['toBlocked'];
  maxPool2dToBlocked: BlockedKernels['maxPool2d'];
  fromBlocked: BlockedKernels['fromBlocked'];
  blockedGlobalAvgPool: BlockedKernels['globalAvgPool'];
  batchNormTrain: Kernels['batchNormTrain'];
  batchNormApply: Kernels['batchNormApply'];
  batchNormBackward: Kernels['batchNormBackward'];
  relu: Kernels['relu'];
  reluBackward: Kernels['reluBackward'];
  add: Kernels['add'];
  addRelu: Kernels['addRelu'];
  maxPool2d: Kernels['maxPool2d'];
  maxPool2dBackward: Kernels['maxPool2dBackward'];
  adaptiveAvgPool2d: Kernels['adaptiveAvgPool2d'];
  adaptiveAvgPool2dBackward: Kernels['adaptiveAvgPool2dBackward'];
  logSoftmax: Kernels['logSoftmax'];
  shortcutA: Kernels['shortcutA'];
  shortcutABackward: Kernels['shortcutABackward'];
  sgdUpdate: Kernels['sgdUpdate'];
  adamwUpdate: Kernels['adamwUpdate'];
  /** Runs FMA loops for about `seconds` on one thread, then as long on all pool threads. */
  peakGflops(seconds: number): PeakGflops;
  cpuInfo(): CpuInfo;
  /** Resizes the pool shared by every native kernel (initially RESNET_NUM_THREADS, else the core count). */
  setNumThreads(n: number): void;
  getNumThreads(): number;
}

/** On success, `skipped` lists earlier candidates that failed (a broken RESNET_NATIVE_PATH), worth a warning. */
export type NativeLoad =
  | { binding: NativeBinding; path: string; skipped: string[] }
  | { binding: null; reason: string };

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);

/** Where the addon is looked for, in order: RESNET_NATIVE_PATH when set, then the package's build/Release. */
export function nativeAddonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const candidates: string[] = [];
  if (env.RESNET_NATIVE_PATH) candidates.push(env.RESNET_NATIVE_PATH);
  candidates.push(`${packageRoot}build/Release/resnet_native.node`);
  return candidates;
}

let cached: NativeLoad | undefined;

/** Loads the addon once per process; later calls return the same result. */
export function loadNativeAddon(): NativeLoad {
  cached ??= tryLoad(nativeAddonCandidates());
  return cached;
}

function tryLoad(candidates: string[]): NativeLoad {
  const failures: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      failures.push(`${path}: not found`);
      continue;
    }
    try {
      return { binding: require(path) as NativeBinding, path, skipped: failures };
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  }
  return {
    binding: null,
    reason:
      `native addon not loaded (${failures.join('; ')}). ` +
      'Build it with `npx node-gyp rebuild` (needs python3, make and a C++17 compiler), ' +
      'or point RESNET_NATIVE_PATH at a built resnet_native.node.',
  };
}
