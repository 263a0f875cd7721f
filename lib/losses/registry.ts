/**
 * The loss registry configs name losses from. Each entry maps
 * `(teacher, student, options)` to the scalar to minimise plus named terms
 * for logging; baselines plug in here.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type CossOptions, cossTerms } from "./coss.ts";

/** A registered loss: the value to minimise and extra scalars to log (the caller disposes all). */
export type RegisteredLoss = (
  teacher: tf.Tensor2D,
  student: tf.Tensor2D,
  options: Record<string, unknown>,
) => { loss: tf.Scalar; terms: Record<string, tf.Scalar> };

/** Losses by config name. */
export const LOSSES: Readonly<Record<string, RegisteredLoss>> = {
  coss: (teacher, student, options) => {
    const { loss, co, ss } = cossTerms(teacher, student, options as CossOptions);
    return { loss, terms: { co, ss } };
  },
};

/** Names {@linkcode getLoss} accepts. */
export const LOSS_NAMES: readonly string[] = Object.keys(LOSSES);

/**
 * The loss registered as `name`.
 *
 * @example
 * ```ts
 * import { getLoss } from "./registry.ts";
 * console.log(typeof getLoss("coss")); // "function"
 * ```
 *
 * @throws {RangeError} For an unknown name, listing the known ones.
 */
export function getLoss(name: string): RegisteredLoss {
  const fn = LOSSES[name];
  if (!fn) throw new RangeError(`Unknown loss "${name}": expected one of ${LOSS_NAMES.join(", ")}`);
  return fn;
}
