// The resume checkpoint: model tensors, optimizer buffers and the loop's position in one safetensors file, written
// atomically (temporary file, fsync, rename) so that a crash at any moment leaves the last complete checkpoint.
import { readSafetensorsWithMetadata, type TensorMap, writeSafetensors } from '../io/safetensors.ts';
import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Tensor } from '../tensor/tensor.ts';

/** Where the loop stands: the next batch to run is batch `batch` of epoch `epoch` (both from 0). */
export interface LoopState {
  epoch: number;
  batch: number;
  globalStep: number;
  /** Running sums of the epoch so far, so a resumed epoch reports what an uninterrupted one would. */
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  epochSeconds: number;
  bestValAcc: number;
  bestEpoch: number;
  rng: number[];
  optimizerScalars: Record<string, number>;
}

const metadataKey = 'resnet-ts.checkpoint';

export function saveCheckpoint(
  file: string,
  model: Module,
  optimizer: Optimizer,
  state: Omit<LoopState, 'optimizerScalars'>,
): void {
  const tensors: TensorMap = new Map();
  for (const [k, t] of model.stateDict()) tensors.set(`model.${k}`, t);
  const opt = optimizer.stateDict();
  for (const [k, b] of opt.buffers) tensors.set(`optimizer.${k}`, new Tensor(b, [b.length]));
  const loop: LoopState = { ...state, optimizerScalars: opt.scalars };
  writeSafetensors(file, tensors, { [metadataKey]: JSON.stringify(loop) });
}

/** Restores model and optimizer from `file` and returns where to continue. */
export function loadCheckpoint(file: string, model: Module, optimizer: Optimizer): LoopState {
  const { tensors, metadata } = readSafetensorsWithMetadata(file);
  const raw = metadata[metadataKey];
  if (!raw) throw new Error(`${file}: not a resnet-ts training checkpoint (no "${metadataKey}" metadata)`);
  const state = JSON.parse(raw) as LoopState;
  const modelTensors: TensorMap = new Map();
  const buffers = new Map<string, Float32Array>();
  for (const [k, t] of tensors) {
    if (k.startsWith('model.')) modelTensors.set(k.slice(6), t);
    else if (k.startsWith('optimizer.') && t instanceof Tensor) buffers.set(k.slice(10), t.data);
  }
  try {
    model.loadStateDict(modelTensors);
    optimizer.loadStateDict({ buffers, scalars: state.optimizerScalars });
  } catch (e) {
    throw new Error(`${file}: checkpoint does not fit this run (${(e as Error).message})`);
  }
  return state;
}
