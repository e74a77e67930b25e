#!/usr/bin/env node
// The `resnet` command: dispatches to one file per subcommand and turns errors into one readable line.
import { UsageError } from './args.ts';
import { benchCommand } from './bench.ts';
import { convertCommand } from './convert.ts';
import { demoCommand } from './demo.ts';
import { evalCommand } from './eval.ts';
import { forwardCommand } from './forward.ts';
import { predictCommand } from './predict.ts';
import { serveCommand } from './serve.ts';
import { summaryCommand } from './summary.ts';
import { trainCommand } from './train.ts';

const commands: Record<string, (argv: string[]) => void | Promise<void>> = {
  bench: benchCommand,
  convert: convertCommand,
  demo: demoCommand,
  eval: evalCommand,
  forward: forwardCommand,
  predict: predictCommand,
  serve: serveCommand,
  summary: summaryCommand,
  train: trainCommand,
};

const help = `resnet — the ResNet family in TypeScript

usage: resnet <command> [options]

commands:
  demo      the main job on a built-in dataset: train, evaluate, predict, report (no download)
  train     train or transfer-learn a ResNet on an image folder into a run directory
  eval      accuracy, per-class precision/recall/F1 and confusion matrix of a run on a folder
  predict   top-k classes and probabilities of images with a trained run
  serve     HTTP prediction server and web page (top-k bars, Grad-CAM) for a trained run
  bench     images per second and peak memory of inference or a training step
  forward   logits (and loss, gradients) of a model on a safetensors input
  summary   layer table with output shapes, parameters and multiply-adds
  convert   weights between .pth and .safetensors, or to ONNX

Run "resnet <command> --help" for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`resnet: unknown command "${name}"\n\n${help}`);
    return 2;
  }
  try {
    await command(rest);
    return 0;
  } catch (e) {
    const err = e as Error;
    console.error(`resnet ${name}: ${err.message}`);
    if (process.env.RESNET_DEBUG) console.error(err.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}

// Piping into `head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));
