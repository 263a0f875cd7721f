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
 * code; the angles come from the same Gram matrix (B³ elementwise work rather
 * than the official code's B³·dim), after centring each batch (a shift changes
 * neither). Coincident points (an image twice in a batch) give angle 0 with a
 * zero gradient, where the official code's normalisation of a zero vector
 * gives a gradient of order 1e12. Teacher and student widths may differ.
 * Memory grows as B³ for the angle term, so keep batches of a few hundred at
 * most.
 *
 * Reference: W. Park, D. Kim, Y. Lu and M. Cho, "Relational Knowledge
 * Distillation", CVPR 2019, arXiv:1904.05068 (weights 25 / 50 as in the CRD
 * benchmark code).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { stopGradient } from "./normalize.ts";
import { checkBatchPair, numberOption } from "./options.ts";
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

/** The batch minus its mean row. */
const centre = (e: Tensor2D): Tensor2D => tf.sub(e, tf.mean(e, 0, true));

/**
 * Squared distances closer than this fraction of `‖e_i‖² + ‖e_j‖²` count as
 * coincident points (cosine 0, as for j = i): float32 cannot resolve their
 * direction from the Gram matrix (its rounding is about 1e-7 of the norms).
 */
const COINCIDENT = 1e-6;

/**
 * `[B, B, B]` cosines of the angle at `e_i` between `e_j` and `e_k`, from the
 * Gram matrix G: `⟨e_j − e_i, e_k − e_i⟩ = G_jk − G_ij − G_ik + G_ii`, divided
 * by both lengths. That is B³ elementwise work and B²·dim multiply-adds, where
 * normalising the B² difference vectors and multiplying them (the official
 * code) costs B³·dim: at B = 256, dim = 128 a training step went from about
 * 11 s to well under one on one wasm thread.
 */
function angles(e: Tensor2D): Tensor3D {
  const b = e.shape[0];
  const g = tf.matMul(e, e, false, true);
  const sq = tf.sum(tf.square(e), 1);
  const sqCol = tf.reshape(sq, [b, 1]);
  const sqRow = tf.reshape(sq, [1, b]);
  const d2 = tf.sub(tf.add(sqCol, sqRow), tf.mul(g, 2));
  // 1 / ‖e_j − e_i‖, and 0 for j = i or coincident points.
  // (tf.step: 1 above 0, else 0, with a zero gradient.)
  const apart = tf.step(tf.sub(d2, tf.mul(tf.add(sqCol, sqRow), COINCIDENT)));
  const inv = tf.mul(tf.mul(apart, tf.sub(1, tf.eye(b))), tf.rsqrt(tf.maximum(d2, 1e-12)));
  // h_ij = G_ij − G_ii / 2, so ⟨e_j − e_i, e_k − e_i⟩ = G_jk − h_ij − h_ik.
  const h = tf.sub(g, tf.mul(sqCol, 0.5));
  const dot = tf.sub(tf.sub(tf.expandDims(g, 0), tf.expandDims(h, 2)), tf.expandDims(h, 1));
  return tf.mul(tf.mul(dot, tf.expandDims(inv, 2)), tf.expandDims(inv, 1)) as Tensor3D;
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
    // Distances and angles do not change under a shift; centring the batch first keeps the Gram
    // matrix's float32 rounding relative to the batch's spread, not to its distance from 0.
    const s = centre(student);
    const tc = centre(t);
    const distance = smoothL1Mean(normalisedDistances(s), normalisedDistances(tc));
    const angle = smoothL1Mean(angles(s), angles(tc));
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
