// Prediction on image files with a trained run: decode, the run's eval preprocessing, a batched forward pass, and
// each image's top-k classes with softmax probabilities.
import { noGrad } from '../autograd/tape.ts';
import { decodeImage } from '../data/image.ts';
import { evalTransform } from '../data/transforms.ts';
import { compileForInference } from '../infer/compile.ts';
import type { Classifier } from '../models/registry.ts';
import { Tensor } from '../tensor/tensor.ts';
import { softmax, topK } from './metrics.ts';
import type { RunConfig } from './runDir.ts';

export interface Prediction {
  image: string;
  top: { class: string; index: number; prob: number }[];
}

/** Decodes an image and applies the run's eval preprocessing: CHW [C, S, S]. Throws ImageDecodeError. */
export async function preprocessImage(
  input: string | Uint8Array,
  config: RunConfig,
  opts: { name?: string; maxPixels?: number } = {},
): Promise<Float32Array> {
  const img = await decodeImage(input, { channels: config.inChannels, ...opts });
  return evalTransform(img, config.preprocess);
}

/** The preprocessed image as a [1, C, S, S] tensor, ready for the run's model. */
export async function loadForModel(input: string | Uint8Array, config: RunConfig, name?: string): Promise<Tensor> {
  const s = config.preprocess.imgSize;
  return new Tensor(await preprocessImage(input, config, { name }), [1, config.inChannels, s, s]);
}

export async function predictImages(
  model: Classifier,
  config: RunConfig,
  images: string[],
  topk: number,
  batchSize = 16,
): Promise<Prediction[]> {
  model.eval();
  const forward = compileForInference(model);
  const k = config.numClasses;
  const s = config.preprocess.imgSize;
  const c = config.inChannels;
  const out: Prediction[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const names = images.slice(start, start + batchSize);
    const inputs = await Promise.all(names.map((f) => loadForModel(f, config)));
    const x = new Float32Array(names.length * c * s * s);
    for (const [i, t] of inputs.entries()) x.set(t.data, i * t.numel);
    const logits = noGrad(() => forward(new Tensor(x, [names.length, c, s, s])));
    const probs = softmax(logits.data, k);
    names.forEach((image, r) => {
      const top = topK(logits.data, k, r, topk).map((index) => ({
        class: config.classes[index],
        index,
        prob: probs[r * k + index],
      }));
      out.push({ image, top });
    });
  }
  return out;
}
