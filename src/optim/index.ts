// Optimizers and learning-rate schedules.
export { AdamW, type AdamWOptions } from './adamw.ts';
export { clipGradNorm } from './clipGradNorm.ts';
export { type GroupSpec, Optimizer, type OptimizerState, type ParamGroup } from './optimizer.ts';
export { makeSchedule, type Schedule, type ScheduleName, type ScheduleOptions, scheduleNames } from './schedules.ts';
export { SGD, type SGDOptions } from './sgd.ts';
