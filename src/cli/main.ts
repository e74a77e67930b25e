#!/usr/bin/env node
// The `resnet` command: dispatches to one file per subcommand and turns errors into one readable line.
import { UsageError } from './args.ts';
import { forwardCommand } from './forward.ts';
import { summaryCommand } from './summary.ts';

const commands: Record<string, (argv: string[]) => void | Promise<void>> = {
  forward: forwardCommand,
  summary: summaryCommand,
};

const help = `resnet — the ResNet family in TypeScript

usage: resnet <command> [options]

commands:
  forward   logits (and loss, gradients) of a model on a safetensors input
  summary   layer table with output shapes, parameters and multiply-adds

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
