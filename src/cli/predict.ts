// resnet predict: each image's top-k classes and probabilities with a trained run.

import { findImages } from '../data/imageFolder.ts';
import { writeCamPng } from '../explain/gradcam.ts';
import { predictImages } from '../train/predict.ts';
import { loadRun } from '../train/runDir.ts';
import { applyThreads, optionalInt, parse, requireString, UsageError } from './args.ts';

const usage = 'resnet predict --model RUN_DIR IMAGE|DIR… [--topk K] [--json] [--cam OUT.png] [--threads T]';

export async function predictCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      model: { type: 'string' },
      topk: { type: 'string' },
      json: { type: 'boolean' },
      cam: { type: 'string' },
      threads: { type: 'string' },
    },
    usage,
  );
  applyThreads(values);
  const { config, model } = loadRun(requireString(values, 'model', usage));
  if (positionals.length === 0) throw new UsageError(`no images given\n\nusage: ${usage}`);
  const images = findImages(positionals);
  if (images.length === 0) throw new UsageError(`no image files in ${positionals.join(', ')}`);
  // The seed recipe prints every class's probability; past 10 classes, the top 5 are more readable.
  const topk = Math.min(
    optionalInt(values, 'topk') ?? (config.numClasses <= 10 ? config.numClasses : 5),
    config.numClasses,
  );
  const predictions = await predictImages(model, config, images, topk);
  if (values.cam) {
    if (images.length !== 1) throw new UsageError('--cam draws one image: pass exactly one IMAGE');
    await writeCamPng(model, config, images[0], values.cam);
  }
  if (values.json) {
    console.log(JSON.stringify(predictions));
    return;
  }
  for (const p of predictions) {
    console.log(p.image);
    for (const t of p.top) console.log(`  ${(t.prob * 100).toFixed(2).padStart(6)}%  ${t.class}`);
  }
  if (values.cam) console.error(`Grad-CAM written to ${values.cam}`);
}
