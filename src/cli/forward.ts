// resnet forward: logits (and optionally loss and parameter gradients) for a safetensors input, the
// contract that parity with torchvision is checked through.
import { noGrad } from '../autograd/tape.ts';
import { readSafetensors, type TensorMap, writeSafetensors } from '../io/safetensors.ts';
import { readWeights } from '../io/weights.ts';
import { buildModel } from '../models/registry.ts';
import { crossEntropy } from '../ops/crossEntropy.ts';
import { IntTensor, shapeString, Tensor } from '../tensor/tensor.ts';
import { optionalInt, parse, requireString, UsageError } from './args.ts';

const usage =
  'resnet forward --arch NAME [--num-classes N] [--in-channels C] [--weights FILE] --input IN.safetensors --output OUT.safetensors [--train] [--grads GRADS.safetensors]';

export function forwardCommand(argv: string[]): void {
  const { values } = parse(
    argv,
    {
      arch: { type: 'string' },
      'num-classes': { type: 'string' },
      'in-channels': { type: 'string' },
      weights: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      train: { type: 'boolean' },
      grads: { type: 'string' },
    },
    usage,
  );
  const inputFile = requireString(values, 'input', usage);
  const outputFile = requireString(values, 'output', usage);
  const model = buildModel(requireString(values, 'arch', usage), {
    numClasses: optionalInt(values, 'num-classes'),
    inChannels: optionalInt(values, 'in-channels'),
  });
  if (values.weights)
    model.loadStateDict(readWeights(values.weights, { onNote: (n) => console.error(`${values.weights}: ${n}`) }));
  model.train(values.train === true);

  const tensors = readSafetensors(inputFile);
  const input = tensors.get('input');
  if (!(input instanceof Tensor) || input.shape.length !== 4) {
    throw new UsageError(
      `${inputFile}: expected a float tensor "input" of shape [N, C, H, W]${input ? `, got ${input.dtype} ${shapeString(input.shape)}` : ''}`,
    );
  }

  if (!values.grads) {
    const output = noGrad(() => model.forward(input));
    writeSafetensors(outputFile, new Map([['output', output]]));
    return;
  }
  const labels = tensors.get('labels');
  if (!(labels instanceof IntTensor) || labels.shape.length !== 1 || labels.shape[0] !== input.shape[0]) {
    throw new UsageError(`${inputFile}: --grads needs an int64 tensor "labels" of shape [${input.shape[0]}]`);
  }
  const output = model.forward(input);
  const loss = crossEntropy(output, labels);
  loss.backward();
  const grads: TensorMap = new Map([['loss', loss.detach()]]);
  for (const [name, p] of model.namedParameters()) grads.set(name, p.grad ?? Tensor.zeros(p.shape));
  writeSafetensors(outputFile, new Map([['output', output.detach()]]));
  writeSafetensors(values.grads, grads);
}
