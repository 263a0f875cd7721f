/**
 * CompRess: compress a teacher's embedding space by matching each sample's
 * similarities to a bank of anchor points. With `t̂`, `ŝ` L2-normalised, a
 * bank `M_t` of teacher embeddings and a bank `M_s` of (momentum) student
 * embeddings of the same anchor images, row for row:
 *
 * ```text
 * p_T = softmax(t̂ · M_tᵀ / τ),   p_S = softmax(ŝ · M_sᵀ / τ)
 * L   = (1/B) Σ_i KL(p_T[i] ‖ p_S[i])
 * ```
 *
 * Teacher and student widths may differ (CompRess needs no projection head).
 * The banks are arguments; the queues and the momentum-student keys that fill
 * them live in `lib/methods`.
 *
 * Reference: S. Abbasi Koohpayegani, A. Tejankar and H. Pirsiavash,
 * "CompRess: Self-Supervised Learning by Compressing Representations",
 * NeurIPS 2020, arXiv:2010.14713 (official code `UMBCvision/CompRess`,
 * τ = 0.04).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { l2Normalize, stopGradient } from "./normalize.ts";
import { checkBatchPair, checkCompanion, numberOption, shapeText } from "./options.ts";
import { klFromLogits } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode compressLoss}. */
export interface CompressOptions {
  /**
   * Softmax temperature τ of both similarity distributions.
   * @default {0.04}
   */
  tau?: number;
}

/** The extra tensors {@linkcode compressLoss} reads. */
export interface CompressBanks {
  /** `[K, teacherDim]` teacher embeddings of the anchor images (no gradient). */
  teacherBank: Tensor2D;
  /** `[K, studentDim]` student (momentum) embeddings of the same anchors, row for row (no gradient). */
  studentBank: Tensor2D;
}

/**
 * The CompRess loss: KL divergence from the teacher's to the student's
 * softmax similarities over two aligned memory banks.
 *
 * Embeddings are L2-normalised here (an all-zero row gives a uniform
 * distribution, where the official code divides by zero); the banks are used
 * as given. Teacher and banks get no gradient.
 *
 * @param teacher Teacher embeddings `[batch, teacherDim]` (frozen).
 * @param student Student embeddings `[batch, studentDim]`.
 * @param banks The two banks, with equal numbers of rows.
 * @param options τ.
 * @returns A scalar ≥ 0 up to rounding; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes or τ ≤ 0.
 * @throws {TypeError} For a missing bank or a non-float32 tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { compressLoss } from "./compress.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0]]);
 * const s = tf.tensor2d([[0, 1, 0]]); // a different width is fine
 * const teacherBank = tf.tensor2d([[1, 0], [0, 1]]);
 * const studentBank = tf.tensor2d([[0, 1, 0], [1, 0, 0]]);
 * const loss = compressLoss(t, s, { teacherBank, studentBank }, { tau: 1 });
 * console.log(await loss.data()); // [0]: both rank the anchors alike
 * tf.dispose([t, s, teacherBank, studentBank, loss]);
 * ```
 */
export function compressLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  banks: CompressBanks,
  options: CompressOptions = {},
): Scalar {
  const fn = "compressLoss";
  const tau = numberOption(fn, options, "tau", 0.04, { min: 0, minOpen: true });
  checkBatchPair(fn, teacher, student);
  checkCompanion(fn, "teacherBank", banks?.teacherBank, teacher, "teacher");
  checkCompanion(fn, "studentBank", banks?.studentBank, student, "student");
  if (banks.teacherBank.shape[0] !== banks.studentBank.shape[0]) {
    throw new RangeError(
      `${fn}: teacherBank shape ${shapeText(banks.teacherBank)} and studentBank shape ` +
        `${shapeText(banks.studentBank)} differ in rows`,
    );
  }
  return tf.tidy(() => {
    const t = l2Normalize(stopGradient(teacher), 1);
    const s = l2Normalize(student, 1);
    const simT = tf.div(tf.matMul(t, stopGradient(banks.teacherBank), false, true), tau);
    const simS = tf.div(tf.matMul(s, stopGradient(banks.studentBank), false, true), tau);
    return klFromLogits(simT as Tensor2D, simS as Tensor2D);
  });
}
