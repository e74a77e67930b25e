// Reference optimizer updates with torch.optim's formulas (SGD with momentum, AdamW), in float64 arithmetic.
import type { Kernels } from '../kernels.ts';

export const sgdUpdate: Kernels['sgdUpdate'] = (
  param,
  grad,
  momentumBuf,
  lr,
  momentum,
  dampening,
  weightDecay,
  nesterov,
  firstStep,
) => {
  if (momentum !== 0 && !momentumBuf) throw new Error('sgdUpdate: momentumBuf is required when momentum != 0');
  for (let i = 0; i < param.length; i++) {
    let d = grad[i] + weightDecay * param[i];
    if (momentumBuf && momentum !== 0) {
      // torch starts the buffer at the first gradient itself, undamped.
      momentumBuf[i] = firstStep ? d : momentum * momentumBuf[i] + (1 - dampening) * d;
      d = nesterov ? d + momentum * momentumBuf[i] : momentumBuf[i];
    }
    param[i] -= lr * d;
  }
};

export const adamwUpdate: Kernels['adamwUpdate'] = (
  param,
  grad,
  expAvg,
  expAvgSq,
  lr,
  beta1,
  beta2,
  eps,
  weightDecay,
  step,
) => {
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < param.length; i++) {
    param[i] *= 1 - lr * weightDecay;
    expAvg[i] = beta1 * expAvg[i] + (1 - beta1) * grad[i];
    expAvgSq[i] = beta2 * expAvgSq[i] + (1 - beta2) * grad[i] * grad[i];
    param[i] -= (stepSize * expAvg[i]) / (Math.sqrt(expAvgSq[i]) / biasCorrection2Sqrt + eps);
  }
};
