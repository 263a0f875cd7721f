/**
 * Training infrastructure: crash-safe checkpoints of model variables,
 * batch-norm statistics, optimizer state, step/epoch, RNG state and config.
 *
 * @module
 */
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointState,
  loadCheckpoint,
  type LoadedCheckpoint,
  type RestoreReport,
  restoreVariables,
  type RestoreVariablesOptions,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint.ts";
export {
  DEFAULT_PRETRAIN_CONFIG,
  gitCommit,
  loadPretrainConfig,
  ntXentLoss,
  parsePretrainConfig,
  pretrain,
  type PretrainConfig,
  PretrainConfigError,
  type PretrainMethod,
  type PretrainOptions,
  type PretrainResult,
  stringifyPretrainConfig,
} from "./pretrain.ts";
export * from "./config.ts";
export {
  clipByGlobalNorm,
  createOptimizer,
  type Optimizer,
  OPTIMIZER_NAMES,
  type OptimizerConfig,
  validateOptimizerConfig,
} from "./optim.ts";
export {
  learningRate,
  SCHEDULE_NAMES,
  type ScheduleConfig,
  validateScheduleConfig,
} from "./schedule.ts";
export { distill, type DistillOptions, type DistillResult } from "./loop.ts";
export {
  type EvaluatedModel,
  evaluateRun,
  type EvaluateRunInput,
  type EvaluateRunResult,
  type KnnProtocolInput,
  PixelEmbedder,
  quickKnn,
  type QuickKnnInput,
} from "./evaluate.ts";
export { type OpenedTeacher, openTeacher, type OpenTeacherOptions } from "./teachers.ts";
export {
  type EvalData,
  evalTransform,
  evaluateStudent,
  type EvaluateStudentInput,
  openEvalData,
} from "./report_run.ts";
export { locateSaved, openSavedStudent, type SavedLocation, type SavedStudent } from "./saved.ts";
export {
  evaluateSaved,
  type EvaluateSavedOptions,
  type EvaluateSavedResult,
} from "./eval_saved.ts";
