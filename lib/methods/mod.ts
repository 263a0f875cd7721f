/**
 * Distillation methods: the state the baselines keep between batches (SEED's
 * and BINGO's teacher queues, BINGO's neighbour bags, CompRess's queues and
 * per-image bank) around the pure losses of `lib/losses`, behind one per-run
 * interface, {@linkcode DistillMethod}, that the training loop calls per step.
 *
 * - {@linkcode createMethod}: a method by config name ({@linkcode METHOD_NAMES},
 *   options and defaults in {@linkcode METHOD_DEFAULTS}).
 * - {@linkcode SeedMethod}, {@linkcode BingoMethod}, {@linkcode CompressMethod}:
 *   the stateful ones; {@linkcode StatelessMethod} wraps every other loss.
 *
 * @example A SEED step
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { createMethod } from "./mod.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const method = createMethod("seed", { queueSize: 16 }, { teacherDim: 8, datasetSize: 100, seed: 0 });
 * const teacher = tf.randomNormal([4, 8], 0, 1, "float32", 1) as tf.Tensor2D;
 * const student = tf.variable(tf.randomNormal([4, 8], 0, 1, "float32", 2));
 * const { value, grads } = tf.variableGrads(() => {
 *   const r = method.loss(teacher, student as tf.Tensor2D, { indices: [0, 1, 2, 3], step: 0 });
 *   return r.loss;
 * }, [student]);
 * method.update(); // after the optimizer step
 * const state = method.state();
 * console.log(await value.data(), state.meta); // a loss, { queuePtr: 4 }
 * tf.dispose([teacher, student, value, ...Object.values(grads), ...Object.values(state.tensors)]);
 * method.dispose();
 * ```
 *
 * @module
 */
// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type { Scalar, Tensor, Tensor2D } from "../tf_types.ts";
export type { BingoOptions, SeedOptions } from "../losses/mod.ts";
export type { NeighbourLists } from "../data/sampler.ts";
export type {
  DistillMethod,
  MethodLoss,
  MethodSetup,
  MethodState,
  PositiveEmbeddings,
  StepContext,
} from "./types.ts";
export {
  createMethod,
  METHOD_DEFAULTS,
  METHOD_NAMES,
  type MethodOptionDefault,
  STATEFUL_METHOD_NAMES,
} from "./registry.ts";
export { SeedMethod, type SeedMethodOptions } from "./seed.ts";
export { BingoMethod, type BingoMethodOptions } from "./bingo.ts";
export { CompressMethod, type CompressMethodOptions } from "./compress.ts";
export { StatelessMethod } from "./stateless.ts";
