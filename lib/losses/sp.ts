/**
 * SP: similarity-preserving distillation. The student's batch Gram matrix,
 * each row L2-normalised, should equal the teacher's:
 *
 * ```text
 * G = A · Aᵀ  [B, B],   G̃[i,:] = G[i,:] / max(‖G[i,:]‖, 1e-12)
 * L = ‖G̃_T − G̃_S‖²_F / B²
 * ```
 *
 * Teacher and student widths may differ. An all-zero row gives a zero Gram
 * row; like PyTorch's `F.normalize`, its gradient is then ~1e12 times larger
 * than the others (finite).
 *
 * Reference: F. Tung and G. Mori, "Similarity-Preserving Knowledge
 * Distillation", ICCV 2019, arXiv:1907.09682.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { l2Normalize, stopGradient } from "./normalize.ts";
import { checkBatchPair } from "./options.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

function gram(a: Tensor2D): Tensor2D {
  return l2Normalize(tf.matMul(a, a, false, true), 1);
}

/**
 * The SP loss, `‖G̃_T − G̃_S‖²_F / B²` with row-normalised batch Gram
 * matrices. The teacher gets no gradient. It has no options.
 *
 * @param teacher Teacher embeddings `[batch, teacherDim]` (frozen).
 * @param student Student embeddings `[batch, studentDim]`.
 * @returns A scalar in [0, 4/B]; the caller disposes it.
 * @throws {RangeError} For mismatched batches or empty / non-rank-2 shapes.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { spLoss } from "./sp.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[1, 0, 0], [1, 0, 0]]);
 * const loss = spLoss(t, s);
 * console.log(await loss.data()); // about [0.293]: the student merges two orthogonal samples
 * tf.dispose([t, s, loss]);
 * ```
 */
export function spLoss(teacher: Tensor2D, student: Tensor2D): Scalar {
  checkBatchPair("spLoss", teacher, student);
  return tf.tidy(() => {
    const b = teacher.shape[0];
    const diff = tf.sub(gram(stopGradient(teacher)), gram(student));
    return tf.div(tf.sum(tf.square(diff)), b * b) as Scalar;
  });
}
