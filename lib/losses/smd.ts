/**
 * SMD: hard-aware metric distillation. With `t̂`, `ŝ` L2-normalised,
 * `D_t[i,j] = ‖t̂_i − t̂_j‖` (teacher–teacher) and `D[i,j] = ‖t̂_i − ŝ_j‖`
 * (teacher anchor, student sample), for each anchor `i`:
 *
 * ```text
 * negatives  N_i = { j : D_t[i,j] > D[i,i] },   positives P_i = the rest (always holds i)
 * an = argmin_{j∈N_i} D[i,j]                   (hardest negative)
 * ap = argmax_{j∈P_i} D[i,j]                   (hardest positive)
 * w_an = max(D_t[i,an] − D[i,an], 0),  w_ap = max(D[i,ap] − D_t[i,ap], 0)   (no gradient)
 * L  = mean_i −log softmax([w_an·D[i,an] / τ, w_ap·D[i,ap] / τ])[0]
 * ```
 *
 * Distances are `sqrt(max(‖a‖² + ‖b‖² − 2a·b, 1e-12))` as in the official
 * code, except that the diagonal of `D_t` is set to its exact value 1e-6
 * (float32 cancellation would make it up to ~3e-4, and it enters `w_ap`
 * whenever an anchor is its own hardest positive). An anchor without
 * negatives contributes `w_an = 0` (its negative logit is 0). The selections
 * are discrete, so the loss is piecewise smooth; the gradient flows through
 * `D[i,an]` and `D[i,ap]` only.
 *
 * Reference: H. Liu and M. Ye, "Improving Self-supervised Lightweight Model
 * Learning via Hard-Aware Metric Distillation", ECCV 2022 (official code
 * `liuhao-lh/SMD`, τ = 0.04 for ResNet students).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, l2Normalize, stopGradient } from "./normalize.ts";
import { numberOption } from "./options.ts";
import { noGrad, pairwiseDistance } from "./_ops.ts";
import type { Scalar, Tensor, Tensor2D, Tensor3D } from "../tf_types.ts";

/** Options for {@linkcode smdLoss}. */
export interface SmdOptions {
  /**
   * Temperature τ of the two-way softmax (the official code switches to 0.004
   * for MobileNet / EfficientNet students).
   *
   * @default {0.04}
   */
  tau?: number;
}

/** The value standing in for "no negative" (the official code's 1e5). */
const FAR = 1e5;

/**
 * `[3, B, B]`: the negative mask `D_t[i,j] > D[i,i]`, then one-hot rows of the
 * hardest negative (smallest `D[i,j]` among negatives, FAR when none) and of
 * the hardest positive (largest `D[i,j]` among the rest).
 */
function selectHardest(dT: Tensor, d: Tensor): Tensor3D {
  const b = d.shape[0];
  const diag = tf.sum(tf.mul(d, tf.eye(b)), 1, true);
  const isNeg = tf.greater(dT, diag);
  const negative = tf.where(isNeg, d, tf.fill([b, b], FAR));
  const positive = tf.where(isNeg, tf.zerosLike(d), d);
  const hotAn = tf.oneHot(tf.argMin(negative, 1), b);
  const hotAp = tf.oneHot(tf.argMax(positive, 1), b);
  return tf.stack([
    tf.cast(isNeg, "float32"),
    tf.cast(hotAn, "float32"),
    tf.cast(hotAp, "float32"),
  ]) as Tensor3D;
}

/**
 * The SMD loss: a two-way cross-entropy per anchor between its hardest
 * negative and hardest positive cross distances, weighted by how far each
 * violates the teacher's distances (see the module doc).
 *
 * The teacher gets no gradient. Needs embeddings of equal width (teacher and
 * student live in one space).
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options τ.
 * @returns A scalar ≥ 0; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes or τ ≤ 0.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { smdLoss } from "./smd.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1], [-1, 0.2]]);
 * const s = tf.tensor2d([[0.9, 0.3], [0.5, 1], [-1, -0.1]]);
 * const loss = smdLoss(t, s);
 * console.log(await loss.data()); // about [0.813]
 * tf.dispose([t, s, loss]);
 * ```
 */
export function smdLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: SmdOptions = {},
): Scalar {
  const fn = "smdLoss";
  const tau = numberOption(fn, options, "tau", 0.04, { min: 0, minOpen: true });
  checkPair(fn, teacher, student);
  return tf.tidy(() => {
    const b = teacher.shape[0];
    const t = l2Normalize(stopGradient(teacher), 1);
    const s = l2Normalize(student, 1);
    // D_t[i,i] is exactly sqrt(1e-12) = 1e-6; float32 cancellation in
    // ‖a‖² + ‖a‖² − 2a·a would make it up to ~3e-4, which leaks into w_ap
    // whenever an anchor is its own hardest positive.
    const eye = tf.eye(b);
    const dT = tf.add(tf.mul(pairwiseDistance(t, t), tf.sub(1, eye)), tf.mul(eye, 1e-6));
    const d = pairwiseDistance(t, s);
    // The mask and the two selections are discrete: one no-gradient op makes
    // them, and the gradient reaches D only through the selected entries.
    const [isNeg, hotAn, hotAp] = tf.unstack(noGrad(selectHardest, dT, d));
    const negative = tf.add(tf.mul(d, isNeg), tf.mul(tf.sub(1, isNeg), FAR));
    const positive = tf.mul(d, tf.sub(1, isNeg));
    const pick = (x: Tensor, hot: Tensor) => ({
      value: tf.sum(tf.mul(x, hot), 1),
      teacher: tf.sum(tf.mul(dT, hot), 1),
    });
    const an = pick(negative, hotAn);
    const ap = pick(positive, hotAp);
    const wAn = stopGradient(tf.relu(tf.sub(an.teacher, an.value)));
    const wAp = stopGradient(tf.relu(tf.sub(ap.value, ap.teacher)));
    const logits = tf.div(tf.stack([tf.mul(wAn, an.value), tf.mul(wAp, ap.value)], 1), tau);
    const logP = tf.logSoftmax(logits as Tensor2D);
    return tf.neg(tf.mean(tf.slice(logP, [0, 0], [-1, 1]))) as Scalar;
  });
}
