// The public API of resnet-ts.
export { backward, isGradEnabled, noGrad } from './autograd/tape.ts';
export { kernels, registerBackend, setBackend } from './backend/index.ts';
export type { Kernels } from './backend/kernels.ts';
export { type DecodedImage, decodeImage, ImageDecodeError } from './data/image.ts';
export { findImages, type ImageFolder, type Sample, scanImageFolder } from './data/imageFolder.ts';
export { type Batch, DataLoader, describeSkipped, type LoaderOptions } from './data/loader.ts';
export { writeShapesDataset } from './data/shapes.ts';
export { computeMeanStd } from './data/stats.ts';
export { evalTransform, makePreprocess, type Preprocess, trainTransform } from './data/transforms.ts';
export { type CamMap, camToPng, heatmapToPng, jet, overlayRgb, upsampleCam } from './explain/camImage.ts';
export { type GradCam, gradCam, gradCamFromFeatureMaps, networkView, writeCamPng } from './explain/gradcam.ts';
export { exportOnnx, type OnnxExportOptions } from './io/onnx/export.ts';
export { PthError } from './io/pth/error.ts';
export { type PthContents, parsePth, readPth, readPthWithNotes } from './io/pth/read.ts';
export { serializePth, writePth } from './io/pth/write.ts';
export {
  parseSafetensors,
  readSafetensors,
  readSafetensorsWithMetadata,
  SafetensorsError,
  serializeSafetensors,
  type TensorMap,
  writeSafetensors,
} from './io/safetensors.ts';
export { readWeights, writeWeights } from './io/weights.ts';
export { CifarResNet, resnet20, resnet32, resnet44, resnet56, resnet110, ShortcutA } from './models/cifar.ts';
export { architectures, buildModel, type Classifier, type ModelOptions } from './models/registry.ts';
export {
  BasicBlock,
  Bottleneck,
  conv1x1,
  conv3x3,
  ResNet,
  type ResNetOptions,
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  resnet152,
  resnext50_32x4d,
  resnext101_32x8d,
  resnext101_64x4d,
  wide_resnet50_2,
  wide_resnet101_2,
} from './models/resnet.ts';
export { type Summary, type SummaryRow, summary } from './models/summary.ts';
export * as init from './nn/init.ts';
export {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from './nn/layers.ts';
export { type LoadResult, Module, Parameter, type StateDict } from './nn/module.ts';
export { formatProfile, type ProfileRow, Profiler } from './nn/profile.ts';
export { adaptiveAvgPool2d } from './ops/adaptiveAvgPool2d.ts';
export { add } from './ops/add.ts';
export { batchNorm2d } from './ops/batchNorm2d.ts';
export { conv2d } from './ops/conv2d.ts';
export { crossEntropy, logSoftmax } from './ops/crossEntropy.ts';
export { linear } from './ops/linear.ts';
export { maxPool2d } from './ops/maxPool2d.ts';
export { mean, mulConstant, sum } from './ops/reduce.ts';
export { relu } from './ops/relu.ts';
export { flatten, reshape } from './ops/reshape.ts';
export { shortcutA } from './ops/shortcutA.ts';
export { AdamW, makeSchedule, Optimizer, SGD, scheduleNames } from './optim/index.ts';
export { type RunningServer, type ServeOptions, startServer } from './serve/server.ts';
export { type PoolStats, poolStats, releaseGrads, setPoolEnabled, stepScope } from './tensor/pool.ts';
export { defaultGenerator, Generator, manualSeed } from './tensor/random.ts';
export { type AnyTensor, IntTensor, type Shape, Tensor } from './tensor/tensor.ts';
export { ClassificationMeter, type EvalReport } from './train/metrics.ts';
export { loadForModel, type Prediction, predictImages } from './train/predict.ts';
export { loadRun, type RunConfig, readRunConfig } from './train/runDir.ts';
export { evaluate, TrainingStopped, type TrainOptions, train } from './train/trainer.ts';
export { loadPretrained } from './train/transfer.ts';
