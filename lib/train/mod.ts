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
} from "../io/checkpoint.ts";
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
} from "../pretrain/pretrain.ts";
export * from "../config/config.ts";
export {
  clipByGlobalNorm,
  createOptimizer,
  type Optimizer,
  OPTIMIZER_NAMES,
  type OptimizerConfig,
  validateOptimizerConfig,
} from "../optim/optim.ts";
export {
  learningRate,
  SCHEDULE_NAMES,
  type ScheduleConfig,
  validateScheduleConfig,
} from "../optim/schedule.ts";
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
} from "../eval/evaluate.ts";
export { type OpenedTeacher, openTeacher, type OpenTeacherOptions } from "../teacher/open.ts";
export {
  type EvalData,
  evalTransform,
  evaluateStudent,
  type EvaluateStudentInput,
  openEvalData,
} from "../eval/report_run.ts";
export {
  locateSaved,
  openSavedStudent,
  type SavedLocation,
  type SavedStudent,
} from "../eval/saved.ts";
export {
  evaluateSaved,
  type EvaluateSavedOptions,
  type EvaluateSavedResult,
} from "../eval/eval_saved.ts";
