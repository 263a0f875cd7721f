/**
 * SLD, a DINO-style distillation baseline: each sample's embedding is turned
 * into a distribution over the feature axis, sharper for the teacher, and the
 * student is trained with the cross-entropy
 *
 * ```text
 * L = -(1/B) Σ_i Σ_j softmax(t_i / τ_T)_j · log_softmax(s_i / τ_S)_j
 * ```
 *
 * on the raw (not normalised) embeddings, with τ_T = 0.07 and τ_S = 0.1 as in
 * the CoSS code's `dino` loss. There is no centring or sharpening schedule.
 *
 * Reference: the `dino` loss of `paganpasta/coss-pytorch` (losses.py), after
 * M. Caron et al., "Emerging Properties in Self-Supervised Vision
 * Transformers", ICCV 2021, arXiv:2104.14294.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, stopGradient } from "./normalize.ts";
import { numberOption } from "./options.ts";
import { softCrossEntropy } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode sldLoss}. */
export interface SldOptions {
  /**
   * Teacher temperature τ_T.
   * @default {0.07}
   */
  tauTeacher?: number;
  /**
   * Student temperature τ_S.
   * @default {0.1}
   */
  tauStudent?: number;
}

/**
 * The SLD loss: cross-entropy between `softmax(t/τ_T)` and
 * `log_softmax(s/τ_S)` over the feature axis, averaged over samples.
 *
 * The teacher gets no gradient. Its minimum, reached when the two
 * distributions agree, is the teacher distribution's entropy, not 0.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options τ_T and τ_S.
 * @returns A scalar ≥ 0; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes or a temperature ≤ 0.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { sldLoss } from "./sld.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[0, 0, 0]]);
 * const s = tf.tensor2d([[0, 0, 0]]);
 * const loss = sldLoss(t, s);
 * console.log(await loss.data()); // about [1.0986]: log 3, both uniform
 * tf.dispose([t, s, loss]);
 * ```
 */
export function sldLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: SldOptions = {},
): Scalar {
  const fn = "sldLoss";
  const positive = { min: 0, minOpen: true };
  const tauT = numberOption(fn, options, "tauTeacher", 0.07, positive);
  const tauS = numberOption(fn, options, "tauStudent", 0.1, positive);
  checkPair(fn, teacher, student);
  return tf.tidy(() =>
    softCrossEntropy(
      tf.div(stopGradient(teacher), tauT) as Tensor2D,
      tf.div(student, tauS) as Tensor2D,
    )
  );
}
