// What an inference worker does with a batch of request bodies: decode each (header checked first), one trunk pass
// for the whole batch, top-k per image, and Grad-CAM pictures for the requests that ask. Never throws: each body
// gets an outcome, an answer or an HTTP status with a message.
import sharp from 'sharp';
import { noGrad } from '../autograd/tape.ts';
import { ImageDecodeError } from '../data/image.ts';
import { camToPng, heatmapToPng, rgbToPng } from '../explain/camImage.ts';
import { gradCamFromFeatureMaps, headLogits, networkView } from '../explain/gradcam.ts';
import type { Classifier } from '../models/registry.ts';
import { Tensor } from '../tensor/tensor.ts';
import { softmax, topK } from '../train/metrics.ts';
import { preprocessImage } from '../train/predict.ts';
import type { RunConfig } from '../train/runDir.ts';

export interface PredictRequest {
  bytes: Uint8Array;
  topk: number;
  /** Draw Grad-CAM for the top class. */
  cam: boolean;
  /** Heat-map weight in the `cam` overlay, in [0, 1]. */
  opacity: number;
}

export interface TopEntry {
  class: string;
  index: number;
  prob: number;
}

/** Grad-CAM pictures as PNG data URLs, all imgSize×imgSize: the network's view of the image lines up with them. */
export interface CamPictures {
  /** The class explained (the top one). */
  camIndex: number;
  /** Heat map blended over the view at the requested opacity. */
  cam: string;
  /** The jet-coloured heat map alone, for clients that blend it themselves (the page's slider). */
  heatmap: string;
  /** The image as the network saw it, after the eval resize and crop. */
  view: string;
}

export type PredictOutcome = ({ ok: true; top: TopEntry[] } & Partial<CamPictures>) | FailedOutcome;

interface FailedOutcome {
  ok: false;
  status: number;
  error: string;
}

const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

export class Predictor {
  constructor(
    readonly model: Classifier,
    readonly config: RunConfig,
    readonly maxPixels: number,
  ) {
    model.eval();
  }

  /** One forward pass and Grad-CAM on a blank input, so that the first request does not pay for compiling them. */
  warmUp(): void {
    const { imgSize: s, inChannels: c } = this.config.preprocess;
    const maps = noGrad(() => this.model.featureMaps(Tensor.zeros([1, c, s, s])));
    gradCamFromFeatureMaps(this.model, maps);
  }

  async predict(batch: PredictRequest[]): Promise<PredictOutcome[]> {
    const outcomes: PredictOutcome[] = new Array(batch.length);
    const inputs = await Promise.all(
      batch.map((r) =>
        this.prepare(r.bytes).catch(
          (e: Error): FailedOutcome => ({ ok: false, status: 500, error: `cannot prepare the image: ${e.message}` }),
        ),
      ),
    );
    const valid: number[] = [];
    inputs.forEach((x, i) => {
      if (x instanceof Float32Array) valid.push(i);
      else outcomes[i] = x;
    });
    if (valid.length === 0) return outcomes;
    try {
      const answers = await this.infer(
        valid.map((i) => inputs[i] as Float32Array),
        valid.map((i) => batch[i]),
      );
      valid.forEach((i, j) => {
        outcomes[i] = answers[j];
      });
    } catch (e) {
      for (const i of valid)
        outcomes[i] = { ok: false, status: 500, error: `inference failed: ${(e as Error).message}` };
    }
    return outcomes;
  }

  /** The preprocessed CHW input, or the outcome that refuses the body. */
  private async prepare(bytes: Uint8Array): Promise<Float32Array | FailedOutcome> {
    let width: number | undefined;
    let height: number | undefined;
    try {
      // Header only, so sharp's own pixel limit is off here: the size is checked against ours just below.
      ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
    } catch (e) {
      return { ok: false, status: 422, error: `cannot read the image header: ${(e as Error).message}` };
    }
    if (width && height && width * height > this.maxPixels) {
      return {
        ok: false,
        status: 413,
        error: `image is ${width}×${height} = ${width * height} pixels, over the server's limit of ${this.maxPixels}`,
      };
    }
    try {
      return await preprocessImage(bytes, this.config, { name: 'the request body', maxPixels: this.maxPixels });
    } catch (e) {
      if (e instanceof ImageDecodeError) return { ok: false, status: 422, error: e.message };
      throw e;
    }
  }

  private async infer(inputs: Float32Array[], requests: PredictRequest[]): Promise<PredictOutcome[]> {
    const { imgSize: s, inChannels: c } = this.config.preprocess;
    const k = this.config.numClasses;
    const x = new Float32Array(inputs.length * c * s * s);
    for (const [i, input] of inputs.entries()) x.set(input, i * input.length);
    const maps = noGrad(() => this.model.featureMaps(new Tensor(x, [inputs.length, c, s, s])));
    const logits = noGrad(() => headLogits(this.model, maps));
    const probs = softmax(logits.data, k);
    const [, channels, h, w] = maps.shape;
    const perImage = channels * h * w;
    return Promise.all(
      requests.map(async (r, i): Promise<PredictOutcome> => {
        const top = topK(logits.data, k, i, r.topk).map((index) => ({
          class: this.config.classes[index],
          index,
          prob: probs[i * k + index],
        }));
        if (!r.cam) return { ok: true, top };
        const one = new Tensor(maps.data.subarray(i * perImage, (i + 1) * perImage), [1, channels, h, w]);
        const map = gradCamFromFeatureMaps(this.model, one, top[0].index);
        const view = networkView(inputs[i], this.config.preprocess);
        const [cam, heatmap, viewPng] = await Promise.all([
          camToPng(map, view, r.opacity),
          heatmapToPng(map, s, s),
          rgbToPng(view.data, s, s, view.channels),
        ]);
        return {
          ok: true,
          top,
          camIndex: map.classIndex,
          cam: dataUrl(cam),
          heatmap: dataUrl(heatmap),
          view: dataUrl(viewPng),
        };
      }),
    );
  }
}
