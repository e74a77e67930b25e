// resnet demo: the main job end to end with no download. It draws a small image-folder dataset of shapes, trains a
// CIFAR ResNet-20 on it, evaluates it, predicts a few held-out images, and says where the report is.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeShapesDataset } from '../data/shapes.ts';
import { predictImages } from '../train/predict.ts';
import { loadRun } from '../train/runDir.ts';
import { train } from '../train/trainer.ts';
import { applyThreads, optionalInt, parse } from './args.ts';
import { reporterFor, trainOptions } from './train.ts';

const usage =
  'resnet demo [--out DIR] [--epochs N] [--per-class N] [--quick] [--seed N] [--threads T] [--no-progress] [--json]';

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      out: { type: 'string' },
      epochs: { type: 'string' },
      'per-class': { type: 'string' },
      quick: { type: 'boolean' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      'no-progress': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    usage,
  );
  applyThreads(values);
  const quick = values.quick === true;
  const out = (values.out as string | undefined) ?? 'runs/demo';
  const seed = optionalInt(values, 'seed', 0) ?? 0;
  const dataDir = join(out, 'data');
  const perClass = optionalInt(values, 'per-class') ?? (quick ? 24 : 300);
  const say = (line: string) => (values.json ? undefined : console.error(line));
  say(`resnet demo: drawing a ${perClass}-per-class shapes dataset into ${dataDir}`);
  const classes = await writeShapesDataset(dataDir, { perClass, valPerClass: quick ? 8 : 60, size: 32, seed });
  say(`training resnet20 on ${classes.length} classes (${classes.join(', ')})`);
  const options = trainOptions({
    data: dataDir,
    arch: 'resnet20',
    out: join(out, 'run'),
    epochs: values.epochs ?? (quick ? '1' : '6'),
    'batch-size': '64',
    lr: '0.1',
    nesterov: true,
    'weight-decay': '5e-4',
    schedule: 'onecycle',
    'img-size': '32',
    augment: 'cifar',
    seed: String(seed),
  });
  const result = await train(options, reporterFor(values));
  const { config, model } = loadRun(result.runDir);
  const valDir = join(dataDir, 'val');
  const examples = readdirSync(valDir)
    .sort()
    .map((c) => join(valDir, c, readdirSync(join(valDir, c)).sort()[0]));
  const predictions = await predictImages(model, config, examples, 3);
  if (values.json) {
    console.log(
      JSON.stringify({
        event: 'demo',
        runDir: result.runDir,
        report: result.reportDir,
        bestValAcc: result.bestValAcc,
        predictions,
      }),
    );
    return;
  }
  console.log(
    `\nvalidation accuracy ${(result.evalReport.top1 * 100).toFixed(1)}% on ${result.evalReport.count} images`,
  );
  console.log('predictions on one held-out image per class:');
  for (const p of predictions) {
    const top = p.top.map((t) => `${t.class} ${(t.prob * 100).toFixed(1)}%`).join(', ');
    console.log(`  ${p.image}: ${top}`);
  }
  console.log(`\nreport: ${join(result.reportDir, 'summary.md')} (curves.png, confusion.png beside it)`);
  console.log(`next: resnet predict --model ${result.runDir} IMAGE   |   resnet serve --model ${result.runDir}`);
}
