// resnet eval: top-1/top-5 accuracy, per-class precision/recall/F1 and the confusion matrix of a trained run on a
// folder's validation images (DIR/val, or the same seeded split of DIR/train that training held out).
import { scanImageFolder } from '../data/imageFolder.ts';
import { DataLoader, describeSkipped } from '../data/loader.ts';
import { loadRun } from '../train/runDir.ts';
import { evaluate } from '../train/trainer.ts';
import { applyThreads, parse, requireString } from './args.ts';

const usage = 'resnet eval --model RUN_DIR --data DIR [--batch-size B] [--json] [--threads T]';

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      model: { type: 'string' },
      data: { type: 'string' },
      json: { type: 'boolean' },
      'batch-size': { type: 'string' },
      threads: { type: 'string' },
    },
    usage,
  );
  applyThreads(values);
  const runDir = requireString(values, 'model', usage);
  const dataDir = requireString(values, 'data', usage);
  const { config, model } = loadRun(runDir);
  const seed = typeof config.train.seed === 'number' ? config.train.seed : 0;
  const valSplit = typeof config.train.valSplit === 'number' ? config.train.valSplit : 0.1;
  const folder = scanImageFolder(dataDir, { valSplit, seed });
  // Labels follow the run's class order; a folder class the model never saw cannot be scored.
  const unknown = folder.classes.filter((c) => !config.classes.includes(c));
  if (unknown.length > 0) {
    throw new Error(
      `${dataDir}: classes not in ${runDir}'s model: ${unknown.join(', ')} (model classes: ${config.classes.join(', ')})`,
    );
  }
  const samples = folder.val.map((s) => ({ ...s, label: config.classes.indexOf(folder.classes[s.label]) }));
  const batchSize = Number(values['batch-size'] ?? 64);
  const loader = new DataLoader(samples, {
    batchSize,
    shuffle: false,
    train: false,
    preprocess: config.preprocess,
    seed,
  });
  const { loss, report } = await evaluate(model, loader, config.numClasses);
  if (values.json) {
    const perClass = Object.fromEntries(report.perClass.map((c, i) => [config.classes[i], c]));
    console.log(
      JSON.stringify({
        images: report.count,
        loss,
        top1: report.top1,
        top5: report.top5,
        perClass,
        confusion: report.confusion,
        classes: config.classes,
      }),
    );
    return;
  }
  const width = Math.max(5, ...config.classes.map((c) => c.length));
  console.log(
    `${report.count} images: loss ${loss.toFixed(4)}, top-1 ${(report.top1 * 100).toFixed(2)}%, top-5 ${(report.top5 * 100).toFixed(2)}%`,
  );
  console.log(`\n${'class'.padEnd(width)}  precision  recall     F1  support`);
  report.perClass.forEach((c, i) => {
    console.log(
      `${config.classes[i].padEnd(width)}  ${c.precision.toFixed(3).padStart(9)}  ${c.recall.toFixed(3).padStart(6)}  ${c.f1.toFixed(3).padStart(5)}  ${String(c.support).padStart(7)}`,
    );
  });
  console.log('\nconfusion matrix (rows: true class, columns: predicted)');
  for (const [i, row] of report.confusion.entries())
    console.log(`${config.classes[i].padEnd(width)}  ${row.map((v) => String(v).padStart(5)).join(' ')}`);
  if (loader.skipped.size > 0) console.error(`warning: ${describeSkipped(loader.skipped)}`);
}
