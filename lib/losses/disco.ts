/**
 * DisCo's distillation term: the summed squared error between the
 * L2-normalised student and teacher embeddings,
 * `L_mse = Σ_i ‖ŝ_i − t̂_i‖² = Σ_i (2 − 2 cos(s_i, t_i))` (PyTorch's
 * `MSELoss(reduction="sum")`, so it grows with the batch size).
 *
 * DisCo adds this to the student's own MoCo loss; the "only-mse" variant the
 * CoSS paper compares with drops it, and that is what {@linkcode discoLoss}
 * computes unless `views` are given. With `views` it adds
 * `contrastWeight · InfoNCE(ŝ; k̂, Q, τ)`: the student query against the
 * (detached) key embedding `k̂` of a second augmented view as the positive and
 * a queue `Q` of earlier keys as negatives. The training methods in
 * `lib/methods` use only-mse; the second view, its momentum encoder and the
 * key queue are left to a caller that has them.
 *
 * Reference: Y. Gao et al., "DisCo: Remedy Self-supervised Learning on
 * Lightweight Models with Distilled Contrastive Learning", ECCV 2022,
 * arXiv:2104.09124 (official code `Yuting-Gao/DisCo-pytorch`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, l2Normalize, stopGradient } from "./normalize.ts";
import { checkCompanion, numberOption } from "./options.ts";
import { infoNce } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode discoLoss}; they only matter when `views` are given. */
export interface DiscoOptions {
  /**
   * Weight of the MoCo term.
   * @default {1}
   */
  contrastWeight?: number;
  /**
   * InfoNCE temperature (MoCo v2's).
   * @default {0.2}
   */
  tau?: number;
}

/** The student's own contrastive inputs, for the full (not only-mse) DisCo loss. */
export interface DiscoViews {
  /** `[batch, dim]` key embeddings of a second view of each sample (momentum student; no gradient). */
  key: Tensor2D;
  /** `[K, dim]` normalised keys of earlier batches, the negatives (no gradient). */
  queue: Tensor2D;
}

/** DisCo's loss and its parts. */
export interface DiscoTerms {
  /** `mse + contrastWeight · contrast`, or `mse` alone without views. */
  loss: Scalar;
  /** The summed squared error of the normalised embeddings. */
  mse: Scalar;
  /** The InfoNCE term, present only when views were given. */
  contrast?: Scalar;
}

/**
 * DisCo's loss with its parts, for logging. See {@linkcode discoLoss} for the
 * arguments and the errors; every returned scalar belongs to the caller.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { discoTerms } from "./disco.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const { loss, mse } = discoTerms(t, s);
 * console.log(await loss.data(), await mse.data()); // about [2] [2]: 0 + (2 − 2·0)
 * tf.dispose([t, s, loss, mse]);
 * ```
 */
export function discoTerms(
  teacher: Tensor2D,
  student: Tensor2D,
  views?: DiscoViews,
  options: DiscoOptions = {},
): DiscoTerms {
  const fn = "discoLoss";
  const weight = numberOption(fn, options, "contrastWeight", 1, { min: 0 });
  const tau = numberOption(fn, options, "tau", 0.2, { min: 0, minOpen: true });
  checkPair(fn, teacher, student);
  if (views !== undefined) {
    checkCompanion(fn, "views.key", views.key, student, "student", true);
    checkCompanion(fn, "views.queue", views.queue, student, "student");
  }
  return tf.tidy(() => {
    const s = l2Normalize(student, 1);
    const mse = tf.sum(tf.squaredDifference(s, l2Normalize(stopGradient(teacher), 1))) as Scalar;
    if (views === undefined) return { loss: tf.clone(mse), mse };
    const key = l2Normalize(stopGradient(views.key), 1);
    const contrast = infoNce(s, key, stopGradient(views.queue), tau);
    return { loss: tf.add(mse, tf.mul(contrast, weight)) as Scalar, mse, contrast };
  });
}

/**
 * The DisCo loss: `Σ_i ‖ŝ_i − t̂_i‖²` ("only-mse"), plus
 * `contrastWeight · InfoNCE` when the student's second-view `views` are given.
 *
 * The teacher, key and queue get no gradient. An all-zero row normalises to
 * zero (PyTorch's `F.normalize`), so it adds 1 and a finite gradient.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param views Optional second-view key and key queue for the MoCo term.
 * @param options Weight and temperature of the MoCo term.
 * @returns A scalar ≥ 0; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes, a negative weight or a
 * temperature ≤ 0.
 * @throws {TypeError} For a non-float32 tensor or views without a key/queue.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { discoLoss } from "./disco.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[3, 4], [0, 2]]);
 * const s = tf.tensor2d([[6, 8], [1, 1]]);
 * const loss = discoLoss(t, s);
 * console.log(await loss.data()); // about [0.586]: 0 + (2 − √2)
 * tf.dispose([t, s, loss]);
 * ```
 */
export function discoLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  views?: DiscoViews,
  options: DiscoOptions = {},
): Scalar {
  return tf.tidy(() => discoTerms(teacher, student, views, options).loss);
}
