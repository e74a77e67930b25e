// resnet summary: the layer table with output shapes, parameters and multiply-adds.
import { buildModel } from '../models/registry.ts';
import { summary } from '../models/summary.ts';
import { optionalInt, parse, requireString } from './args.ts';

const usage = 'resnet summary --arch NAME [--num-classes N] [--in-channels C] [--size S] [--json]';

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function summaryCommand(argv: string[]): void {
  const { values } = parse(
    argv,
    {
      arch: { type: 'string' },
      'num-classes': { type: 'string' },
      'in-channels': { type: 'string' },
      size: { type: 'string' },
      json: { type: 'boolean' },
    },
    usage,
  );
  const arch = requireString(values, 'arch', usage);
  const inChannels = optionalInt(values, 'in-channels') ?? 3;
  const model = buildModel(arch, { numClasses: optionalInt(values, 'num-classes'), inChannels });
  const size = optionalInt(values, 'size') ?? (arch.match(/^resnet(20|32|44|56|110)$/) ? 32 : 224);
  const s = summary(model, [1, inChannels, size, size]);
  if (values.json) {
    console.log(
      JSON.stringify({
        arch,
        input: s.inputShape,
        params: s.params,
        trainable_params: s.trainableParams,
        macs: s.macs,
        layers: s.rows,
      }),
    );
    return;
  }
  const header = ['layer', 'type', 'output shape', 'params', 'mult-adds'];
  const table = s.rows.map((r) => [
    r.name,
    r.type,
    `[${r.outputShape.join(', ')}]`,
    formatCount(r.params),
    formatCount(r.macs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(`${arch}, input [${s.inputShape.join(', ')}]`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
  console.log(`\ntotal params: ${formatCount(s.params)}`);
  console.log(`trainable params: ${formatCount(s.trainableParams)}`);
  console.log(`mult-adds: ${formatCount(s.macs)} (${(s.macs / 1e9).toFixed(2)} G)`);
}
