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
