/**
 * PKT: probabilistic knowledge transfer. Each batch becomes a set of
 * conditional distributions from the cosine kernel, and the student's should
 * match the teacher's:
 *
 * ```text
 * x̂_i    = x_i / (‖x_i‖ + ε)
 * K[i,j] = (x̂_i · x̂_j + 1) / 2          the cosine kernel mapped to [0, 1]
 * P[i,j] = K[i,j] / Σ_k K[i,k]
 * L      = (1/B²) Σ_{i,j} P_T[i,j] · log((P_T[i,j] + ε) / (P_S[i,j] + ε))
 * ```
 *
 * with ε = 1e-7 as in the official code (note the mean over all B² entries,
 * not a per-row KL sum). Teacher and student widths may differ. Unlike the
 * official code, whose square root makes the gradient NaN at an all-zero
 * row, the norm here has a zero gradient there, as `torch.norm` has.
 *
 * Reference: N. Passalis and A. Tefas, "Learning Deep Representations with
 * Probabilistic Knowledge Transfer", ECCV 2018, arXiv:1803.10837.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { stopGradient } from "./normalize.ts";
import { checkBatchPair, numberOption } from "./options.ts";
import { safeNorm } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode pktLoss}. */
export interface PktOptions {
  /**
   * ε in the normalisation and inside the logarithm.
   * @default {1e-7}
   */
  eps?: number;
}

function conditionals(x: Tensor2D, eps: number): Tensor2D {
  const unit = tf.div(x, tf.add(safeNorm(x, 1, true), eps));
  const k = tf.div(tf.add(tf.matMul(unit, unit, false, true), 1), 2);
  return tf.div(k, tf.sum(k, 1, true)) as Tensor2D;
}

/**
 * The PKT loss: the (entry-averaged) KL divergence between the teacher's and
 * the student's cosine-kernel conditional distributions (see the module doc).
 * The teacher gets no gradient.
 *
 * @param teacher Teacher embeddings `[batch, teacherDim]` (frozen).
 * @param student Student embeddings `[batch, studentDim]`.
 * @param options ε.
 * @returns A scalar ≥ 0 up to the ε terms; the caller disposes it.
 * @throws {RangeError} For mismatched batches, empty / non-rank-2 shapes, or
 * ε ≤ 0.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { pktLoss } from "./pkt.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[1, 0], [1, 0]]);
 * const loss = pktLoss(t, s);
 * console.log(await loss.data()); // about [0.0283]: the student merges two orthogonal samples
 * tf.dispose([t, s, loss]);
 * ```
 */
export function pktLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: PktOptions = {},
): Scalar {
  const eps = numberOption("pktLoss", options, "eps", 1e-7, { min: 0, minOpen: true });
  checkBatchPair("pktLoss", teacher, student);
  return tf.tidy(() => {
    const pT = conditionals(stopGradient(teacher), eps);
    const pS = conditionals(student, eps);
    const ratio = tf.log(tf.div(tf.add(pT, eps), tf.add(pS, eps)));
    return tf.mean(tf.mul(pT, ratio)) as Scalar;
  });
}
