// resnet convert: weights between .pth/.pt and .safetensors, and (as an output) ONNX, chosen by file extension.
import { extname } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { exportOnnx } from '../io/onnx/export.ts';
import type { TensorMap } from '../io/safetensors.ts';
import { readWeights, writeWeights } from '../io/weights.ts';
import { CifarResNet } from '../models/cifar.ts';
import { buildModel } from '../models/registry.ts';
import { optionalInt, parse, UsageError } from './args.ts';

const usage =
  'resnet convert IN OUT [--arch NAME] [--num-classes N] [--in-channels C] [--img-size S] [--fold-bn] [--opset N]';

/** A dimension of a state-dict tensor, for options that the weights already imply. */
function dimOf(tensors: TensorMap, key: string, axis: number): number | undefined {
  return tensors.get(key)?.shape[axis];
}

export function convertCommand(argv: string[]): void {
  const { values, positionals } = parse(
    argv,
    {
      arch: { type: 'string' },
      'num-classes': { type: 'string' },
      'in-channels': { type: 'string' },
      'img-size': { type: 'string' },
      'fold-bn': { type: 'boolean' },
      opset: { type: 'string' },
    },
    usage,
  );
  if (positionals.length !== 2) {
    throw new UsageError(`expected IN and OUT, got ${positionals.length} paths\n\nusage: ${usage}`);
  }
  const [input, output] = positionals;
  if (extname(input).toLowerCase() === '.onnx') throw new UsageError(`${input}: ONNX is an output format only`);
  const toOnnx = extname(output).toLowerCase() === '.onnx';
  for (const option of ['img-size', 'fold-bn', 'opset'] as const) {
    if (!toOnnx && values[option] !== undefined) throw new UsageError(`--${option} applies only to an .onnx output`);
  }
  const tensors = readWeights(input, { onNote: (note) => console.error(note) });

  if (!values.arch) {
    if (toOnnx) throw new UsageError(`an .onnx output needs --arch\n\nusage: ${usage}`);
    writeWeights(output, tensors);
    console.log(`wrote ${output} (${tensors.size} tensors)`);
    return;
  }
  // Defaults come from the weights themselves: fc's rows are the classes, conv1's input channels the image's.
  const numClasses = optionalInt(values, 'num-classes') ?? dimOf(tensors, 'fc.weight', 0);
  const inChannels = optionalInt(values, 'in-channels') ?? dimOf(tensors, 'conv1.weight', 1);
  const model = buildModel(values.arch, { numClasses, inChannels, includeTop: tensors.has('fc.weight') });
  model.loadStateDict(tensors);
  model.eval();
  if (!toOnnx) {
    writeWeights(output, model.stateDict());
    console.log(`wrote ${output} (${tensors.size} tensors, checked against ${values.arch})`);
    return;
  }
  const imgSize = optionalInt(values, 'img-size') ?? (model instanceof CifarResNet ? 32 : 224);
  const bytes = exportOnnx(model, {
    inChannels: inChannels ?? 3,
    imgSize,
    foldBn: values['fold-bn'] === true,
    opset: optionalInt(values, 'opset'),
  });
  writeFileAtomic(output, bytes);
  console.log(`wrote ${output} (ONNX, ${values.arch}, input [batch, ${inChannels ?? 3}, ${imgSize}, ${imgSize}])`);
}
