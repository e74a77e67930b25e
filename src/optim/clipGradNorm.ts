// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_.
import type { Tensor } from '../tensor/tensor.ts';

/**
 * Scales every gradient by maxNorm / (norm + 1e-6) when the L2 norm of all of them together is above maxNorm, as
 * torch.nn.utils.clip_grad_norm_ (whose factor, clamped to 1, leaves them alone below it). Returns the norm before
 * clipping. Tensors without a gradient are skipped.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  let sq = 0;
  for (const p of params) if (p.grad) for (const g of p.grad.data) sq += g * g;
  const norm = Math.sqrt(sq);
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad) for (let i = 0; i < p.grad.data.length; i++) p.grad.data[i] *= scale;
  }
  return norm;
}
