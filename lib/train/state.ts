/**
 * The trainable state a checkpoint saves and a resume restores, shared by
 * distillation (loop.ts) and teacher pretraining (pretrain/): the variables
 * under stable names, and the optimizer's slots renamed to match.
 *
 * tfjs names variables in creation order, so the same model built twice gets
 * other names; a checkpoint therefore keys every variable, and every slot's
 * variable part (`kind/<variable>`), by the stable names the caller gives.
 * What else a run restores (RNG states, the sampler's cursor, a method's
 * queues) travels in the checkpoint's `rng` and `extra` fields, which the
 * caller owns.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { restoreVariables } from "../io/checkpoint.ts";
import type { Optimizer } from "../optim/optim.ts";

/** Optimizer slots `kind/<variable>` with the variable part renamed through `names`. */
function renameSlots(
  slots: Record<string, tf.Tensor>,
  names: Map<string, string>,
): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(slots)) {
    const cut = k.indexOf("/");
    out[cut < 0 ? k : `${k.slice(0, cut)}/${names.get(k.slice(cut + 1)) ?? k.slice(cut + 1)}`] = t;
  }
  return out;
}

/**
 * Variables by stable name plus the optimizer that updates them.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { createOptimizer } from "../optim/optim.ts";
 * import { TrainState } from "./state.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const w = tf.variable(tf.scalar(1));
 * const optimizer = createOptimizer({
 *   name: "sgd", lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0,
 *   betas: [0.9, 0.999], eps: 1e-8, clipNorm: null,
 * }, [w]);
 * const state = new TrainState({ "student/w": w }, optimizer);
 * const slots = state.slots();
 * console.log(Object.keys(slots)); // ["step", "momentum/student/w"]: stable names
 * state.restore({ "student/w": tf.scalar(2) }, slots);
 * console.log(await w.data()); // [2]
 * tf.dispose(Object.values(slots));
 * optimizer.dispose();
 * w.dispose();
 * ```
 */
export class TrainState {
  readonly #stable: Map<string, string>;
  readonly #tfjs: Map<string, string>;

  /**
   * @param variables Every trained (and saved) variable, by stable name.
   * @param optimizer The optimizer over them.
   */
  constructor(
    readonly variables: Record<string, tf.Variable>,
    readonly optimizer: Optimizer,
  ) {
    this.#stable = new Map(Object.entries(variables).map(([n, v]) => [v.name, n]));
    this.#tfjs = new Map(Object.entries(variables).map(([n, v]) => [n, v.name]));
  }

  /**
   * The optimizer's slots under stable names: new tensors the caller disposes.
   *
   * @param state The optimizer's state, when already taken (`optimizer.state()`).
   * @returns Slot tensors keyed `kind/<stable name>`.
   */
  slots(state: Record<string, tf.Tensor> = this.optimizer.state()): Record<string, tf.Tensor> {
    return renameSlots(state, this.#stable);
  }

  /**
   * Restore the variables and the optimizer's slots from a checkpoint's
   * tensors (stable names); the caller still owns and disposes them.
   *
   * @param variables Saved variables by stable name (extra names are an error of restoreVariables).
   * @param slots Saved optimizer slots keyed `kind/<stable name>`.
   */
  restore(variables: Record<string, tf.Tensor>, slots: Record<string, tf.Tensor>): void {
    restoreVariables(this.variables, variables);
    this.optimizer.setState(renameSlots(slots, this.#tfjs));
  }
}

/** Dispose every tensor a loaded checkpoint holds (variables and optimizer slots). */
export function disposeCheckpoint(
  ck: { variables: Record<string, tf.Tensor>; optimizer: Record<string, tf.Tensor> },
): void {
  for (const t of [...Object.values(ck.variables), ...Object.values(ck.optimizer)]) t.dispose();
}
