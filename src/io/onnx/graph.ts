// An ONNX graph under construction (nodes, initializers, one input and one output with a dynamic batch) and its
// serialization as a ModelProto, with field numbers from onnx/onnx.proto.
import { Message } from './protobuf.ts';

/** An INT, an INTS, or (wrapped, since JS numbers do not say) a FLOAT attribute. */
type Attribute = number | readonly number[] | { float: number };

const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INTS = 7;

// The IR version that introduced each opset range (onnx/docs/Versioning.md), so older runtimes accept the file.
function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

function tensorProto(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Message {
  const raw = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(raw.buffer);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  else for (let i = 0; i < data.length; i++) view.setBigInt64(8 * i, data[i], true);
  return new Message()
    .packedInts(1, dims)
    .int(2, data instanceof Float32Array ? FLOAT : INT64)
    .string(8, name)
    .bytes(9, raw);
}

/** A float tensor value with shape [batch, ...rest], "batch" being symbolic. */
function valueInfo(name: string, rest: readonly number[]): Message {
  const shape = new Message().message(1, new Message().string(2, 'batch'));
  for (const d of rest) shape.message(1, new Message().int(1, d));
  const tensorType = new Message().int(1, FLOAT).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

export class Graph {
  readonly #nodes: Message[] = [];
  readonly #initializers: Message[] = [];
  readonly #names = new Set<string>();
  #counter = 0;

  /** A fresh value name based on `hint` (a module path), unique in the graph. */
  name(hint: string): string {
    let name = hint;
    while (this.#names.has(name)) name = `${hint}_${++this.#counter}`;
    this.#names.add(name);
    return name;
  }

  initializer(hint: string, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    const name = this.name(hint);
    this.#initializers.push(tensorProto(name, dims, data));
    return name;
  }

  /** Adds a node with one output and returns that output's name. */
  node(opType: string, inputs: readonly string[], hint: string, attributes: Record<string, Attribute> = {}): string {
    const output = this.name(hint);
    const node = new Message();
    for (const input of inputs) node.string(1, input);
    node.string(2, output).string(3, output).string(4, opType);
    for (const [key, value] of Object.entries(attributes)) {
      const attribute = new Message().string(1, key);
      if (typeof value === 'number') attribute.int(3, value).int(20, ATTRIBUTE_INT);
      else if ('float' in value) attribute.float(2, value.float).int(20, ATTRIBUTE_FLOAT);
      else attribute.packedInts(8, value).int(20, ATTRIBUTE_INTS);
      node.message(5, attribute);
    }
    this.#nodes.push(node);
    return output;
  }

  /** The ModelProto with `input` and `output` as the graph's only input and output, both batch-dynamic. */
  serialize(opts: {
    input: string;
    inputShape: readonly number[];
    output: string;
    outputShape: readonly number[];
    opset: number;
    graphName: string;
  }): Uint8Array {
    const graph = new Message();
    for (const node of this.#nodes) graph.message(1, node);
    graph.string(2, opts.graphName);
    for (const init of this.#initializers) graph.message(5, init);
    graph.message(11, valueInfo(opts.input, opts.inputShape));
    graph.message(12, valueInfo(opts.output, opts.outputShape));
    return new Message()
      .int(1, irVersionFor(opts.opset))
      .string(2, 'resnet-ts')
      .message(7, graph)
      .message(8, new Message().string(1, '').int(2, opts.opset))
      .finish();
  }
}
