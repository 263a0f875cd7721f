/**
 * Any registered stateless loss (`coss`, `cosine`, `rkd`, …) as a
 * {@linkcode DistillMethod}: `loss` calls the registry entry, and there is no
 * state to update, save or restore.
 *
 * @module
 */
import { getLoss, type RegisteredLoss } from "../losses/registry.ts";
import type { DistillMethod, MethodLoss, MethodState, StepContext } from "./types.ts";
import type { Tensor2D } from "../tf_types.ts";

/**
 * A stateless loss behind the method interface.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { StatelessMethod } from "./stateless.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const method = new StatelessMethod("rkd", {});
 * const t = tf.randomNormal([4, 3], 0, 1, "float32", 1) as tf.Tensor2D;
 * const s = tf.randomNormal([4, 3], 0, 1, "float32", 2) as tf.Tensor2D;
 * const { loss, terms } = method.loss(t, s, { indices: [0, 1, 2, 3], step: 0 });
 * console.log(Object.keys(terms)); // ["distance", "angle"]
 * tf.dispose([t, s, loss, ...Object.values(terms)]);
 * ```
 */
export class StatelessMethod implements DistillMethod {
  readonly #fn: RegisteredLoss;
  readonly #options: Record<string, unknown>;

  /**
   * Wrap the registered loss `name` with fixed `options`.
   *
   * @throws {RangeError} For a name the loss registry does not know.
   */
  constructor(readonly name: string, options: Record<string, unknown>) {
    this.#fn = getLoss(name);
    this.#options = { ...options };
  }

  /** The registry loss of this batch. */
  loss(teacher: Tensor2D, student: Tensor2D, _ctx: StepContext): MethodLoss {
    return this.#fn(teacher, student, this.#options);
  }

  /** Nothing to update. */
  update(): void {}

  /** An empty state. */
  state(): MethodState {
    return { tensors: {}, meta: {} };
  }

  /**
   * Accept only an empty state.
   *
   * @throws {RangeError} When `state` holds tensors.
   */
  setState(state: MethodState): void {
    const names = Object.keys(state?.tensors ?? {});
    if (names.length > 0) {
      throw new RangeError(
        `${this.name}: a stateless method got state tensors ${names.join(", ")}`,
      );
    }
  }

  /** Nothing to free. */
  dispose(): void {}
}
