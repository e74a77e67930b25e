// Transfer learning: load every backbone tensor of a pretrained checkpoint whose name and shape match, let `fc` keep
// its fresh initialisation when the class count differs, and freeze the backbone when asked.
import { readWeights } from '../io/weights.ts';
import type { Classifier } from '../models/registry.ts';
import type { Parameter } from '../nn/module.ts';
import { shapeString } from '../tensor/tensor.ts';

const isHead = (name: string) => name === 'fc' || name.startsWith('fc.');

/** Loads what fits from `file` into `model` and returns the lines that say what was loaded, skipped and re-initialised. */
export function loadPretrained(model: Classifier, file: string): string[] {
  const notes: string[] = [];
  const source = readWeights(file, { onNote: (n) => notes.push(`pretrained ${file}: ${n}`) });
  const own = model.stateDict();
  const fits = new Map<string, typeof own extends Map<string, infer T> ? T : never>();
  const reinitialised: string[] = [];
  const skipped: string[] = [];
  for (const [name, target] of own) {
    const value = source.get(name);
    const sameShape =
      value && value.shape.length === target.shape.length && value.shape.every((d, i) => d === target.shape[i]);
    if (value && sameShape) fits.set(name, value);
    else if (isHead(name))
      reinitialised.push(
        `${name}${value ? ` (checkpoint ${shapeString(value.shape)}, model ${shapeString(target.shape)})` : ''}`,
      );
    else
      skipped.push(
        `${name}${value ? ` (checkpoint ${shapeString(value.shape)}, model ${shapeString(target.shape)})` : ' (not in checkpoint)'}`,
      );
  }
  const unused = [...source.keys()].filter((k) => !own.has(k));
  if (fits.size === 0)
    throw new Error(
      `${file}: no tensor matches ${model.constructor.name}'s names and shapes; is it a checkpoint of this architecture?`,
    );
  model.loadStateDict(fits, { strict: false });
  const lines = [...notes, `pretrained ${file}: loaded ${fits.size} of ${own.size} tensors`];
  if (reinitialised.length > 0) lines.push(`  re-initialised: ${reinitialised.join(', ')}`);
  if (skipped.length > 0) lines.push(`  skipped (kept their initialisation): ${skipped.join(', ')}`);
  if (unused.length > 0)
    lines.push(
      `  unused from the checkpoint: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? `, … (${unused.length})` : ''}`,
    );
  return lines;
}

/** Splits parameters into backbone and head (fc); with freeze 'backbone' the backbone stops requiring gradients. */
export function trainableParameters(
  model: Classifier,
  freeze: 'backbone' | 'none',
): { backbone: Parameter[]; head: Parameter[] } {
  const backbone: Parameter[] = [];
  const head: Parameter[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (isHead(name)) head.push(p);
    else if (freeze === 'backbone') p.requiresGrad = false;
    else backbone.push(p);
  }
  if (head.length === 0 && freeze === 'backbone') throw new Error('--freeze backbone needs a model with an fc layer');
  return { backbone, head };
}
