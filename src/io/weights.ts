// Reading and writing model weights by file extension, so every command accepts the same formats.
import { extname } from 'node:path';
import { readSafetensors, type TensorMap, writeSafetensors } from './safetensors.ts';

function formatOf(file: string): '.safetensors' {
  const ext = extname(file).toLowerCase();
  if (ext !== '.safetensors') {
    throw new Error(`${file}: unsupported weights format "${ext || '(none)'}"; expected .safetensors`);
  }
  return ext;
}

export function readWeights(file: string): TensorMap {
  formatOf(file);
  return readSafetensors(file);
}

export function writeWeights(file: string, tensors: TensorMap, metadata?: Record<string, string>): void {
  formatOf(file);
  writeSafetensors(file, tensors, metadata);
}
