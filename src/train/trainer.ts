// The training loop: transfer-learn or train a ResNet on an image folder, evaluate every epoch, keep the best
// weights, and leave a resumable checkpoint after every epoch (and on SIGINT) so that nothing is ever lost.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { noGrad } from '../autograd/tape.ts';
import { scanImageFolder } from '../data/imageFolder.ts';
import { DataLoader, describeSkipped } from '../data/loader.ts';
import { computeMeanStd } from '../data/stats.ts';
import { makePreprocess } from '../data/transforms.ts';
import { compileForInference } from '../infer/compile.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { writeWeights } from '../io/weights.ts';
import { buildModel, type Classifier } from '../models/registry.ts';
import type { Parameter } from '../nn/module.ts';
import { crossEntropy } from '../ops/crossEntropy.ts';
import { AdamW } from '../optim/adamw.ts';
import { clipGradNorm } from '../optim/clipGradNorm.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { makeSchedule, type ScheduleName } from '../optim/schedules.ts';
import { SGD } from '../optim/sgd.ts';
import { releaseGrads, stepScope } from '../tensor/pool.ts';
import { defaultGenerator, manualSeed } from '../tensor/random.ts';
import { type LoopState, loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { ClassificationMeter, countCorrect, type EvalReport } from './metrics.ts';
import type { Reporter } from './progress.ts';
import { type EpochMetrics, writeReport } from './report.ts';
import { loadRun, type RunConfig, readRunConfig, runFiles, writeRunConfig } from './runDir.ts';
import { loadPretrained, trainableParameters } from './transfer.ts';

export interface TrainOptions {
  data: string;
  arch: string;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: 'sgd' | 'adamw';
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  labelSmoothing: number;
  clipGradNorm: number;
  imgSize: number;
  inChannels: 1 | 3;
  augment: 'imagenet' | 'cifar' | 'none';
  valSplit: number;
  pretrained: string | null;
  freeze: 'backbone' | 'none';
  lrBackbone: number | null;
  seed: number;
  resume: boolean;
  strictImages: boolean;
  workers: number | null;
}

export interface TrainResult {
  runDir: string;
  bestValAcc: number;
  bestEpoch: number;
  metrics: EpochMetrics[];
  evalReport: EvalReport;
  reportDir: string;
}

/** Training stopped on purpose or by a numeric failure; the run directory still holds the last good checkpoint. */
export class TrainingStopped extends Error {
  override name = 'TrainingStopped';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Evaluates `model` on a loader in eval mode: mean loss and the classification report. */
export async function evaluate(
  model: Classifier,
  loader: DataLoader,
  numClasses: number,
): Promise<{ loss: number; report: EvalReport }> {
  model.eval();
  // BN folded into the convolutions and conv+add+ReLU fused: the eval forward at a fraction of the cost.
  const forward = compileForInference(model);
  const meter = new ClassificationMeter(numClasses);
  let lossSum = 0;
  for await (const batch of loader.epoch(0)) {
    noGrad(() => {
      const logits = forward(batch.x);
      lossSum += crossEntropy(logits, batch.labels).item() * batch.labels.length;
      meter.add(logits.data, batch.labels);
    });
  }
  const report = meter.report();
  return { loss: lossSum / Math.max(1, report.count), report };
}

/** Train mode, except that a frozen backbone keeps its BatchNorm in eval mode (running statistics fixed). */
function setTrainMode(model: Classifier, freeze: TrainOptions['freeze']): void {
  model.train();
  if (freeze === 'backbone') {
    model.eval();
    model.fc?.train();
  }
}

function makeOptimizer(o: TrainOptions, model: Classifier): Optimizer {
  const { backbone, head } = trainableParameters(model, o.freeze);
  const groups: { params: Parameter[]; lr?: number }[] = [{ params: head }];
  if (backbone.length > 0) groups.unshift({ params: backbone, lr: o.lrBackbone ?? o.lr });
  if (o.optimizer === 'adamw') return new AdamW(groups, { lr: o.lr, weightDecay: o.weightDecay });
  return new SGD(groups, { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
}

/** Keeps only the metrics of epochs before `epoch` (1-based numbering in the file), so a resumed run logs each once. */
function readMetrics(file: string, beforeEpoch: number): EpochMetrics[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EpochMetrics)
    .filter((m) => m.epoch <= beforeEpoch);
}

function checkResumable(previous: RunConfig, current: RunConfig, dir: string): void {
  const same = previous.arch === current.arch && previous.classes.join('\n') === current.classes.join('\n');
  if (!same)
    throw new Error(
      `${dir}: cannot resume: the run was ${previous.arch} on [${previous.classes.join(', ')}], now ${current.arch} on [${current.classes.join(', ')}]`,
    );
}

/**
 * A checkpoint from a resnet-ts run keeps that run's normalisation: its features were learned on inputs scaled that
 * way (as torchvision's pretrained weights come with their own transforms).
 */
function pretrainedNormalisation(file: string, inChannels: number): { mean: number[]; std: number[] } | undefined {
  const dir = dirname(file);
  if (!existsSync(join(dir, runFiles.config))) return undefined;
  const { preprocess } = readRunConfig(dir);
  return preprocess.inChannels === inChannels ? { mean: preprocess.mean, std: preprocess.std } : undefined;
}

export async function train(o: TrainOptions, reporter: Reporter): Promise<TrainResult> {
  const folder = scanImageFolder(o.data, { valSplit: o.valSplit, seed: o.seed });
  const { classes } = folder;
  const inherited = o.pretrained ? pretrainedNormalisation(o.pretrained, o.inChannels) : undefined;
  const statsOf = inherited ?? (o.inChannels === 1 ? await computeMeanStd(folder.train, 1) : undefined);
  const preprocess = makePreprocess({
    augment: o.augment,
    imgSize: o.imgSize,
    inChannels: o.inChannels,
    mean: statsOf?.mean,
    std: statsOf?.std,
  });
  const config: RunConfig = {
    arch: o.arch,
    numClasses: classes.length,
    classes,
    inChannels: o.inChannels,
    preprocess,
    train: { ...o },
  };
  const checkpointFile = join(o.out, runFiles.checkpoint);
  const metricsFile = join(o.out, runFiles.metrics);
  const resuming = o.resume && existsSync(checkpointFile);
  if (resuming) checkResumable(readRunConfig(o.out), config, o.out);
  else if (existsSync(checkpointFile))
    reporter.info(`${o.out} holds an earlier run; starting over (pass --resume to continue it)`);
  mkdirSync(o.out, { recursive: true });
  writeRunConfig(o.out, config);
  if (inherited) reporter.info(`normalisation of the pretrained run: mean [${inherited.mean}], std [${inherited.std}]`);
  reporter.info(
    `data: ${classes.length} classes, ${folder.train.length} training and ${folder.val.length} validation images (${o.data})`,
  );

  manualSeed(o.seed);
  const model = buildModel(o.arch, { numClasses: classes.length, inChannels: o.inChannels });
  if (o.pretrained && !resuming) for (const line of loadPretrained(model, o.pretrained)) reporter.info(line);
  const optimizer = makeOptimizer(o, model);
  const params = optimizer.groups.flatMap((g) => g.params);
  const loaderOptions = {
    batchSize: o.batchSize,
    preprocess,
    seed: o.seed,
    workers: o.workers ?? undefined,
    strictImages: o.strictImages,
  };
  const trainLoader = new DataLoader(folder.train, { ...loaderOptions, shuffle: true, train: true });
  const valLoader = new DataLoader(folder.val, { ...loaderOptions, shuffle: false, train: false });
  const stepsPerEpoch = Math.ceil(folder.train.length / o.batchSize);
  const schedule = makeSchedule({ name: o.schedule, epochs: o.epochs, stepsPerEpoch, warmupEpochs: o.warmupEpochs });

  let state: Omit<LoopState, 'optimizerScalars'> = {
    epoch: 0,
    batch: 0,
    globalStep: 0,
    epochLossSum: 0,
    epochCorrect: 0,
    epochSeen: 0,
    epochSeconds: 0,
    bestValAcc: -1,
    bestEpoch: 0,
    rng: defaultGenerator.getState(),
  };
  if (resuming) {
    state = loadCheckpoint(checkpointFile, model, optimizer);
    defaultGenerator.setState(state.rng);
    reporter.info(`resuming ${o.out} at epoch ${state.epoch + 1}, step ${state.batch}`);
  }
  const metrics = readMetrics(metricsFile, state.epoch);
  writeFileAtomic(metricsFile, metrics.map((m) => `${JSON.stringify(m)}\n`).join(''));

  let warnedSkips = 0;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const save = () => saveCheckpoint(checkpointFile, model, optimizer, { ...state, rng: defaultGenerator.getState() });
  try {
    while (state.epoch < o.epochs) {
      setTrainMode(model, o.freeze);
      let started = performance.now();
      for await (const batch of trainLoader.epoch(state.epoch, state.batch)) {
        const { lrFactor, momentum } = schedule(state.globalStep);
        optimizer.setLrFactor(lrFactor);
        if (momentum !== undefined) {
          if (optimizer instanceof SGD && optimizer.momentum > 0) optimizer.momentum = momentum;
          if (optimizer instanceof AdamW) optimizer.beta1 = momentum;
        }
        // One step in a pool scope: activations and gradients go back to the pool, so steps do not allocate.
        const { value, correct } = stepScope(() => {
          const logits = model.forward(batch.x);
          const loss = crossEntropy(logits, batch.labels, { labelSmoothing: o.labelSmoothing });
          const value = loss.item();
          if (!Number.isFinite(value)) {
            throw new TrainingStopped(
              `loss is ${value} at epoch ${state.epoch + 1}, step ${state.batch + 1}; stopped. The last good checkpoint is ${checkpointFile}; lower --lr or add --clip-grad-norm`,
              1,
            );
          }
          releaseGrads(params);
          loss.backward();
          if (o.clipGradNorm > 0) clipGradNorm(params, o.clipGradNorm);
          optimizer.step();
          return { value, correct: countCorrect(logits.data, classes.length, batch.labels) };
        });
        const n = batch.labels.length;
        state.epochLossSum += value * n;
        state.epochCorrect += correct;
        state.epochSeen += n;
        state.batch++;
        state.globalStep++;
        const now = performance.now();
        state.epochSeconds += (now - started) / 1000;
        started = now;
        const imgPerS = state.epochSeen / Math.max(1e-9, state.epochSeconds);
        reporter.step({
          epoch: state.epoch + 1,
          epochs: o.epochs,
          step: state.batch,
          steps: stepsPerEpoch,
          loss: state.epochLossSum / state.epochSeen,
          acc: state.epochCorrect / state.epochSeen,
          imgPerS,
          etaS: ((stepsPerEpoch - state.batch) * o.batchSize) / imgPerS,
        });
        if (interrupted) {
          save();
          throw new TrainingStopped(`interrupted; saved ${checkpointFile}. Continue with --resume`, 130);
        }
      }
      const val = await evaluate(model, valLoader, classes.length);
      const skipped = new Map([...trainLoader.skipped, ...valLoader.skipped]);
      if (skipped.size > warnedSkips) reporter.info(`warning: ${describeSkipped(skipped)}`);
      warnedSkips = skipped.size;
      const record: EpochMetrics = {
        epoch: state.epoch + 1,
        train_loss: state.epochLossSum / Math.max(1, state.epochSeen),
        train_acc: state.epochCorrect / Math.max(1, state.epochSeen),
        val_loss: val.loss,
        val_acc: val.report.top1,
        lr: optimizer.groups[optimizer.groups.length - 1].lr,
        sec: state.epochSeconds,
        img_per_s: state.epochSeen / Math.max(1e-9, state.epochSeconds),
      };
      if (record.val_acc > state.bestValAcc) {
        state.bestValAcc = record.val_acc;
        state.bestEpoch = record.epoch;
        writeWeights(join(o.out, runFiles.model), model.stateDict(), { arch: o.arch });
      }
      metrics.push(record);
      appendFileSync(metricsFile, `${JSON.stringify(record)}\n`);
      reporter.epoch({ ...record });
      Object.assign(state, {
        epoch: state.epoch + 1,
        batch: 0,
        epochLossSum: 0,
        epochCorrect: 0,
        epochSeen: 0,
        epochSeconds: 0,
      });
      save();
      if (interrupted) throw new TrainingStopped(`interrupted; saved ${checkpointFile}. Continue with --resume`, 130);
    }
  } finally {
    process.off('SIGINT', onSigint);
    reporter.done();
  }

  // The report describes the saved (best) model, not the last epoch's.
  const best = loadRun(o.out).model;
  const final = await evaluate(best, valLoader, classes.length);
  const reportDir = await writeReport(o.out, o.arch, classes, metrics, final.report);
  return {
    runDir: o.out,
    bestValAcc: state.bestValAcc,
    bestEpoch: state.bestEpoch,
    metrics,
    evalReport: final.report,
    reportDir,
  };
}
