// Inference: models compiled into fused, BN-folded forward functions (see compile.ts).
export { compileForInference, type StepTimer } from './compile.ts';
export { type FoldedConv, foldBatchNorm } from './foldBatchNorm.ts';
