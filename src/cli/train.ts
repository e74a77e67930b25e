// resnet train: train or transfer-learn a ResNet on an image folder into a run directory.
import { augments } from '../data/transforms.ts';
import { scheduleNames } from '../optim/schedules.ts';
import { makeReporter, type Reporter } from '../train/progress.ts';
import { TrainingStopped, type TrainOptions, train } from '../train/trainer.ts';
import { applyThreads, choice, optionalInt, optionalNumber, parse, requireString, UsageError } from './args.ts';

const usage = `resnet train --data DIR --arch NAME [--out RUN_DIR] [--epochs N] [--batch-size B] [--lr RATE]
    [--optimizer sgd|adamw] [--momentum M] [--nesterov] [--weight-decay WD]
    [--schedule cosine|onecycle|step|none] [--warmup-epochs E] [--label-smoothing S] [--clip-grad-norm G]
    [--img-size S] [--in-channels 1|3] [--augment imagenet|cifar|none] [--val-split F]
    [--pretrained FILE] [--freeze backbone|none] [--lr-backbone RATE] [--seed N] [--resume]
    [--threads T] [--workers W] [--strict-images] [--no-progress] [--json]`;

export const trainFlags = {
  data: { type: 'string' },
  arch: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  momentum: { type: 'string' },
  nesterov: { type: 'boolean' },
  'weight-decay': { type: 'string' },
  schedule: { type: 'string' },
  'warmup-epochs': { type: 'string' },
  'label-smoothing': { type: 'string' },
  'clip-grad-norm': { type: 'string' },
  'img-size': { type: 'string' },
  'in-channels': { type: 'string' },
  augment: { type: 'string' },
  'val-split': { type: 'string' },
  pretrained: { type: 'string' },
  freeze: { type: 'string' },
  'lr-backbone': { type: 'string' },
  seed: { type: 'string' },
  resume: { type: 'boolean' },
  threads: { type: 'string' },
  workers: { type: 'string' },
  'strict-images': { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** The options with the documented defaults (README "Training"): a torchvision-style fine-tuning recipe. */
export function trainOptions(values: Record<string, unknown>, usageText = usage): TrainOptions {
  const arch = requireString(values, 'arch', usageText);
  const inChannels = optionalInt(values, 'in-channels') ?? 3;
  if (inChannels !== 1 && inChannels !== 3) throw new UsageError(`--in-channels must be 1 or 3, got ${inChannels}`);
  const optimizer = choice(values, 'optimizer', ['sgd', 'adamw'] as const, 'sgd');
  return {
    data: requireString(values, 'data', usageText),
    arch,
    out: (values.out as string | undefined) ?? `runs/${arch}`,
    epochs: optionalInt(values, 'epochs') ?? 10,
    batchSize: optionalInt(values, 'batch-size') ?? 32,
    lr: optionalNumber(values, 'lr', { min: 0 }) ?? (optimizer === 'adamw' ? 1e-3 : 0.01),
    optimizer,
    momentum: optionalNumber(values, 'momentum', { min: 0, max: 1 }) ?? 0.9,
    nesterov: values.nesterov === true,
    weightDecay: optionalNumber(values, 'weight-decay', { min: 0 }) ?? (optimizer === 'adamw' ? 1e-2 : 1e-4),
    schedule: choice(values, 'schedule', scheduleNames, 'cosine'),
    warmupEpochs: optionalNumber(values, 'warmup-epochs', { min: 0 }) ?? 0,
    labelSmoothing: optionalNumber(values, 'label-smoothing', { min: 0, max: 1 }) ?? 0,
    clipGradNorm: optionalNumber(values, 'clip-grad-norm', { min: 0 }) ?? 0,
    imgSize: optionalInt(values, 'img-size') ?? 224,
    inChannels,
    augment: choice(values, 'augment', augments, 'imagenet'),
    valSplit: optionalNumber(values, 'val-split', { min: 0, max: 0.9 }) ?? 0.1,
    pretrained: (values.pretrained as string | undefined) ?? null,
    freeze: choice(values, 'freeze', ['backbone', 'none'] as const, 'none'),
    lrBackbone: optionalNumber(values, 'lr-backbone', { min: 0 }) ?? null,
    seed: optionalInt(values, 'seed', 0) ?? 0,
    resume: values.resume === true,
    strictImages: values['strict-images'] === true,
    workers: optionalInt(values, 'workers', 0) ?? null,
  };
}

export function reporterFor(values: Record<string, unknown>): Reporter {
  if (values.json) return makeReporter('json');
  return makeReporter(process.stderr.isTTY && !values['no-progress'] ? 'bar' : 'lines');
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, trainFlags, usage);
  applyThreads(values);
  const options = trainOptions(values);
  const reporter = reporterFor(values);
  try {
    const result = await train(options, reporter);
    const done = `best validation accuracy ${(result.bestValAcc * 100).toFixed(2)}% (epoch ${result.bestEpoch}); run: ${result.runDir}, report: ${result.reportDir}/summary.md`;
    if (values.json)
      console.log(
        JSON.stringify({
          event: 'done',
          runDir: result.runDir,
          bestValAcc: result.bestValAcc,
          bestEpoch: result.bestEpoch,
          report: result.reportDir,
        }),
      );
    else console.error(done);
  } catch (e) {
    if (e instanceof TrainingStopped) {
      console.error(`resnet train: ${e.message}`);
      process.exit(e.exitCode);
    }
    throw e;
  }
}
