// Reading and writing model weights by file extension, so every command accepts the same formats.
import { extname } from 'node:path';
import { readPthWithNotes } from './pth/read.ts';
import { writePth } from './pth/write.ts';
import { readSafetensors, type TensorMap, writeSafetensors } from './safetensors.ts';

const FORMATS = { '.safetensors': 'safetensors', '.pth': 'pth', '.pt': 'pth' } as const;

function formatOf(file: string): 'safetensors' | 'pth' {
  const ext = extname(file).toLowerCase();
  if (!Object.hasOwn(FORMATS, ext)) {
    throw new Error(
      `${file}: unsupported weights format "${ext || '(none)'}"; expected ${Object.keys(FORMATS).join(', ')}`,
    );
  }
  return FORMATS[ext as keyof typeof FORMATS];
}

/** `onNote` hears what the reader changed, e.g. a stripped DataParallel "module." prefix; commands print it. */
export function readWeights(file: string, { onNote }: { onNote?: (note: string) => void } = {}): TensorMap {
  if (formatOf(file) === 'safetensors') return readSafetensors(file);
  const { tensors, notes } = readPthWithNotes(file);
  for (const note of notes) onNote?.(note);
  return tensors;
}

/** `metadata` is kept by safetensors only; a .pth holds just the tensors, as torch.save(state_dict) does. */
export function writeWeights(file: string, tensors: TensorMap, metadata?: Record<string, string>): void {
  if (formatOf(file) === 'safetensors') writeSafetensors(file, tensors, metadata);
  else writePth(file, tensors);
}
