/**
 * RKD: relational knowledge distillation. The student copies the teacher's
 * pairwise distances (normalised by their mean) and the angles of every
 * triplet, both compared with smooth-L1 (β = 1):
 *
 * ```text
 * ψ_D(i,j)   = ‖e_i − e_j‖ / mean_{k≠l} ‖e_k − e_l‖           (0 on the diagonal)
 * ψ_A(i,j,k) = ⟨(e_j − e_i)/‖e_j − e_i‖, (e_k − e_i)/‖e_k − e_i‖⟩  (0 when j = i or k = i)
 * distance   = mean over B² pairs of smoothL1(ψ_D^S − ψ_D^T)
 * angle      = mean over B³ triplets of smoothL1(ψ_A^S − ψ_A^T)
 * L          = 25 · distance + 50 · angle
 * ```
 *
 * Distances are `sqrt(max(‖a‖² + ‖b‖² − 2a·b, 1e-12))`, as in the official
 * code. Teacher and student widths may differ. Memory grows as B²·dim for the
 * angle term, so keep batches of a few hundred at most.
 *
 * Reference: W. Park, D. Kim, Y. Lu and M. Cho, "Relational Knowledge
 * Distillation", CVPR 2019, arXiv:1904.05068 (weights 25 / 50 as in the CRD
 * benchmark code).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { l2Normalize, stopGradient } from "./_normalize.ts";
import { checkBatchPair, numberOption } from "./_options.ts";
import { pairwiseDistance, smoothL1Mean } from "./_ops.ts";
import type { Scalar, Tensor2D, Tensor3D } from "../tf_types.ts";

/** Options for {@linkcode rkdLoss}. */
export interface RkdOptions {
  /**
   * Weight of the distance term.
   * @default {25}
   */
  distanceWeight?: number;
  /**
   * Weight of the angle term.
   * @default {50}
   */
  angleWeight?: number;
}

/** RKD's loss and its two unweighted terms. */
export interface RkdTerms {
  /** `distanceWeight · distance + angleWeight · angle`. */
  loss: Scalar;
  /** Smooth-L1 between the mean-normalised distance matrices. */
  distance: Scalar;
  /** Smooth-L1 between the triplet angle cosines. */
  angle: Scalar;
}

/** Pairwise distances with a zero diagonal, divided by the mean off-diagonal distance. */
function normalisedDistances(e: Tensor2D): Tensor2D {
  const b = e.shape[0];
  const d = tf.mul(pairwiseDistance(e, e), tf.sub(1, tf.eye(b)));
  return tf.div(d, tf.div(tf.sum(d), b * (b - 1))) as Tensor2D;
}

/** `[B, B, B]` cosines of the angle at `e_i` between `e_j` and `e_k`. */
function angles(e: Tensor2D): Tensor3D {
  const diff = tf.sub(tf.expandDims(e, 0), tf.expandDims(e, 1)); // [i, j] = e_j − e_i
  const unit = l2Normalize(diff, 2) as Tensor3D;
  return tf.matMul(unit, unit, false, true);
}

/**
 * RKD's loss with both terms, for logging. See {@linkcode rkdLoss} for the
 * arguments and the errors; every returned scalar belongs to the caller.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { rkdTerms } from "./rkd.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[0, 0], [1, 0], [0, 1]]);
 * const s = tf.mul(t, 3) as tf.Tensor2D; // a scaled copy keeps every relation
 * const { loss, distance, angle } = rkdTerms(t, s);
 * console.log(await loss.data()); // [0] up to rounding
 * tf.dispose([t, s, loss, distance, angle]);
 * ```
 */
export function rkdTerms(
  teacher: Tensor2D,
  student: Tensor2D,
  options: RkdOptions = {},
): RkdTerms {
  const fn = "rkdLoss";
  const wD = numberOption(fn, options, "distanceWeight", 25, { min: 0 });
  const wA = numberOption(fn, options, "angleWeight", 50, { min: 0 });
  checkBatchPair(fn, teacher, student, 2);
  return tf.tidy(() => {
    const t = stopGradient(teacher);
    const distance = smoothL1Mean(normalisedDistances(student), normalisedDistances(t));
    const angle = smoothL1Mean(angles(student), angles(t));
    const loss = tf.add(tf.mul(distance, wD), tf.mul(angle, wA)) as Scalar;
    return { loss, distance, angle };
  });
}

/**
 * The RKD loss: `distanceWeight · distance + angleWeight · angle` (see the
 * module doc). The teacher gets no gradient.
 *
 * @param teacher Teacher embeddings `[batch, teacherDim]` (frozen).
 * @param student Student embeddings `[batch, studentDim]`.
 * @param options The two weights.
 * @returns A scalar ≥ 0; the caller disposes it.
 * @throws {RangeError} For a batch below 2 (no pairs), mismatched batches,
 * empty or non-rank-2 shapes, or a negative weight.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { rkdLoss } from "./rkd.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[0, 0], [1, 0], [0, 1]]);
 * const s = tf.tensor2d([[0, 0], [2, 0], [0, 1]]);
 * const loss = rkdLoss(t, s);
 * console.log(await loss.data()); // about [0.652]: the right angle and the distance ratios changed
 * tf.dispose([t, s, loss]);
 * ```
 */
export function rkdLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: RkdOptions = {},
): Scalar {
  return tf.tidy(() => rkdTerms(teacher, student, options).loss);
}
