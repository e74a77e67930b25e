// A run directory: what `resnet train` writes and what eval, predict and serve read back. config.json says how to
// rebuild the model and preprocess images; model.safetensors holds the best weights with torchvision keys.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Preprocess } from '../data/transforms.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { readWeights } from '../io/weights.ts';
import { buildModel, type Classifier } from '../models/registry.ts';

export interface RunConfig {
  arch: string;
  numClasses: number;
  classes: string[];
  inChannels: 1 | 3;
  preprocess: Preprocess;
  /** The training arguments, as resolved (defaults filled in). */
  train: Record<string, unknown>;
}

export const runFiles = {
  config: 'config.json',
  classIndices: 'class_indices.json',
  model: 'model.safetensors',
  checkpoint: 'checkpoint.safetensors',
  metrics: 'metrics.jsonl',
  report: 'report',
} as const;

export function writeRunConfig(dir: string, config: RunConfig): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, runFiles.config), `${JSON.stringify(config, null, 2)}\n`);
  const indices = Object.fromEntries(config.classes.map((name, i) => [String(i), name]));
  writeFileAtomic(join(dir, runFiles.classIndices), `${JSON.stringify(indices, null, 2)}\n`);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `${file} not found: is this a run directory written by "resnet train"?`
        : `${file}: ${(e as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

export function readRunConfig(dir: string): RunConfig {
  const file = join(dir, runFiles.config);
  const c = readJson(file) as Partial<RunConfig>;
  const problems: string[] = [];
  if (typeof c.arch !== 'string') problems.push('"arch" must be a string');
  if (!Array.isArray(c.classes) || c.classes.some((x) => typeof x !== 'string'))
    problems.push('"classes" must be a list of names');
  if (c.numClasses !== c.classes?.length) problems.push('"numClasses" must equal the number of classes');
  if (c.inChannels !== 1 && c.inChannels !== 3) problems.push('"inChannels" must be 1 or 3');
  if (typeof c.preprocess !== 'object' || c.preprocess === null) problems.push('"preprocess" is missing');
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`);
  return c as RunConfig;
}

/** The run's model in eval mode with its best weights loaded. */
export function loadRun(dir: string): { config: RunConfig; model: Classifier } {
  const config = readRunConfig(dir);
  const model = buildModel(config.arch, { numClasses: config.numClasses, inChannels: config.inChannels });
  const weights = join(dir, runFiles.model);
  try {
    model.loadStateDict(readWeights(weights));
  } catch (e) {
    throw new Error(`${weights}: ${(e as Error).message}`);
  }
  return { config, model: model.eval() };
}
