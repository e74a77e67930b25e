// Grad-CAM (Selvaraju et al. 2017) on a classifier's last conv stage: where the network looked for a class.
// The trunk runs once without a graph; only the head (global average pooling + fc) is differentiated.
import { backward, isGradEnabled, noGrad } from '../autograd/tape.ts';
import type { DecodedImage } from '../data/image.ts';
import type { Preprocess } from '../data/transforms.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { Classifier } from '../models/registry.ts';
import { adaptiveAvgPool2d } from '../ops/adaptiveAvgPool2d.ts';
import { flatten } from '../ops/reshape.ts';
import { shapeString, Tensor } from '../tensor/tensor.ts';
import { loadForModel } from '../train/predict.ts';
import type { RunConfig } from '../train/runDir.ts';
import { camToPng } from './camImage.ts';

export interface GradCam {
  /** h×w row-major, ReLU'd and min-max normalised to [0, 1] (all zeros when the map is flat). */
  cam: Float32Array;
  h: number;
  w: number;
  /** The class explained: the one asked for, else the top-scoring one. */
  classIndex: number;
  /** The model's logits for the image (numClasses values). */
  logits: Float32Array;
}

/** Grad-CAM of one image x (1, C, H, W). The model should be in eval mode, as for any prediction. */
export function gradCam(model: Classifier, x: Tensor, classIndex?: number): GradCam {
  if (x.shape.length !== 4 || x.shape[0] !== 1) {
    throw new Error(`gradCam: input must be one image of shape [1, C, H, W], got ${shapeString(x.shape)}`);
  }
  return gradCamFromFeatureMaps(
    model,
    noGrad(() => model.featureMaps(x)),
    classIndex,
  );
}

/**
 * Grad-CAM from one image's last-stage output maps (1, K, h, w), as model.featureMaps gives it, so a batch can
 * share one trunk pass: alpha_k = mean over positions of d logit_c / d maps_k, cam = ReLU(sum_k alpha_k maps_k).
 */
export function gradCamFromFeatureMaps(model: Classifier, maps: Tensor, classIndex?: number): GradCam {
  if (maps.shape.length !== 4 || maps.shape[0] !== 1) {
    throw new Error(`gradCam: feature maps must be [1, K, h, w], got ${shapeString(maps.shape)}`);
  }
  if (!model.fc)
    throw new Error('gradCam: the model has no fc (built with includeTop: false), so no class score to explain');
  if (!isGradEnabled())
    throw new Error('gradCam: called inside noGrad(), but it needs the gradient of the class score');
  const [, k, h, w] = maps.shape;
  const leaf = new Tensor(maps.data, maps.shape, true);
  // Only the maps need a gradient: switching fc's parameters off through backward keeps their .grad untouched.
  const params = model.fc.parameters();
  const wanted = params.map((p) => p.requiresGrad);
  for (const p of params) p.requiresGrad = false;
  let logits: Tensor;
  let c: number;
  try {
    logits = headLogits(model, leaf);
    c = classIndex ?? argmax(logits.data);
    if (!Number.isInteger(c) || c < 0 || c >= logits.numel) {
      throw new Error(`gradCam: class index ${classIndex} is out of range for ${logits.numel} classes`);
    }
    const seed = Tensor.zeros(logits.shape);
    seed.data[c] = 1;
    backward(logits, seed);
  } finally {
    params.forEach((p, i) => {
      p.requiresGrad = wanted[i];
    });
  }
  const grad = leaf.grad!.data;

  const positions = h * w;
  const cam = new Float64Array(positions);
  for (let ch = 0; ch < k; ch++) {
    let alpha = 0;
    for (let i = 0; i < positions; i++) alpha += grad[ch * positions + i];
    alpha /= positions;
    for (let i = 0; i < positions; i++) cam[i] += alpha * maps.data[ch * positions + i];
  }
  return { cam: normalise(cam), h, w, classIndex: c, logits: logits.data.slice() };
}

/** The classifier's head on last-stage maps (N, K, h, w): global average pooling, flatten, fc → (N, classes). */
export function headLogits(model: Classifier, maps: Tensor): Tensor {
  if (!model.fc) throw new Error('headLogits: the model has no fc (built with includeTop: false)');
  return model.fc.forward(flatten(adaptiveAvgPool2d(maps, 1), 1));
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** ReLU, then (v − min) / (max − min) as pytorch-grad-cam scales its maps. */
function normalise(cam: Float64Array): Float32Array {
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (let i = 0; i < cam.length; i++) {
    cam[i] = Math.max(cam[i], 0);
    lo = Math.min(lo, cam[i]);
    hi = Math.max(hi, cam[i]);
  }
  const out = new Float32Array(cam.length);
  if (hi > lo) for (let i = 0; i < cam.length; i++) out[i] = (cam[i] - lo) / (hi - lo);
  return out;
}

/**
 * The image as the network saw it, back from one preprocessed CHW input (after resize, crop and Normalize):
 * the picture a map from that input lines up with.
 */
export function networkView(chw: Float32Array, p: Preprocess): DecodedImage {
  const { inChannels: channels, imgSize: size } = p;
  const plane = size * size;
  if (chw.length !== channels * plane) {
    throw new Error(`networkView: input has ${chw.length} values, expected ${channels}×${size}×${size}`);
  }
  const data = new Uint8Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const v = (chw[c * plane + i] * p.std[c] + p.mean[c]) * 255;
      data[i * channels + c] = Math.min(Math.max(Math.round(v), 0), 255);
    }
  }
  return { data, width: size, height: size, channels };
}

/**
 * `resnet predict --cam OUT.png`: Grad-CAM of one image file with a run's model, blended over the network's view
 * of the image (imgSize×imgSize, after the eval resize and crop) and written as a PNG. Returns the map and logits.
 */
export async function writeCamPng(
  model: Classifier,
  config: RunConfig,
  imagePath: string,
  outPng: string,
  { classIndex, opacity = 0.5 }: { classIndex?: number; opacity?: number } = {},
): Promise<GradCam> {
  const x = await loadForModel(imagePath, config);
  const result = gradCam(model, x, classIndex);
  writeFileAtomic(outPng, await camToPng(result, networkView(x.data, config.preprocess), opacity));
  return result;
}
