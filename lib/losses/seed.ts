/**
 * SEED: self-supervised distillation by matching similarity distributions
 * over a queue of teacher embeddings.
 *
 * With `t̂`, `ŝ` the L2-normalised teacher and student embeddings of a sample
 * and `Q` a queue of `K` (normalised) teacher embeddings of earlier batches:
 *
 * ```text
 * p_T = softmax([t̂·t̂, t̂·Q_1, …, t̂·Q_K] / τ_T)
 * p_S = softmax([ŝ·t̂, ŝ·Q_1, …, ŝ·Q_K] / τ_S)
 * L   = -(1/B) Σ_i Σ_k p_T[i,k] log p_S[i,k]
 * ```
 *
 * The queue is an argument: the FIFO that fills it lives in `lib/methods`.
 *
 * Reference: Z. Fang et al., "SEED: Self-supervised Distillation for Visual
 * Representation", ICLR 2021, arXiv:2101.04731 (official code
 * `jacobswan1/SEED`: τ_S = 0.2 in the paper's runs, τ_T default 1e-4).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, l2Normalize, stopGradient } from "./normalize.ts";
import { checkCompanion, numberOption } from "./options.ts";
import { rowDot, softCrossEntropy } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode seedLoss}. */
export interface SeedOptions {
  /**
   * Teacher temperature τ_T; small values make `p_T` nearly one-hot.
   * @default {1e-4}
   */
  tauTeacher?: number;
  /**
   * Student temperature τ_S.
   * @default {0.2}
   */
  tauStudent?: number;
}

/** The extra tensor {@linkcode seedLoss} reads. */
export interface SeedMemory {
  /** `[K, dim]` normalised teacher embeddings of earlier batches (no gradient). */
  queue: Tensor2D;
}

/**
 * The SEED loss: soft cross-entropy between the teacher's and the student's
 * similarity distributions over `[own teacher embedding, queue]`.
 *
 * Teacher and queue are frozen; both embeddings are L2-normalised here (the
 * queue is used as given). An all-zero teacher row gives a uniform `p_T`.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param memory The queue `[K, dim]`, K ≥ 1.
 * @param options τ_T and τ_S.
 * @returns A scalar ≥ 0 up to rounding; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes, or a temperature ≤ 0.
 * @throws {TypeError} For a missing queue or a non-float32 tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { seedLoss } from "./seed.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[1, 0.2], [0.1, 1]]);
 * const queue = tf.tensor2d([[0.6, 0.8], [-1, 0]]);
 * const loss = seedLoss(t, s, { queue }, { tauTeacher: 0.1 });
 * console.log(await loss.data()); // about [0.390]
 * tf.dispose([t, s, queue, loss]);
 * ```
 */
export function seedLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  memory: SeedMemory,
  options: SeedOptions = {},
): Scalar {
  const fn = "seedLoss";
  const positive = { min: 0, minOpen: true };
  const tauT = numberOption(fn, options, "tauTeacher", 1e-4, positive);
  const tauS = numberOption(fn, options, "tauStudent", 0.2, positive);
  checkPair(fn, teacher, student);
  checkCompanion(fn, "queue", memory?.queue, teacher, "teacher");
  return tf.tidy(() => {
    const t = l2Normalize(stopGradient(teacher), 1);
    const s = l2Normalize(student, 1);
    const q = stopGradient(memory.queue);
    const logitsT = tf.div(tf.concat([rowDot(t, t), tf.matMul(t, q, false, true)], 1), tauT);
    const logitsS = tf.div(tf.concat([rowDot(s, t), tf.matMul(s, q, false, true)], 1), tauS);
    return softCrossEntropy(logitsT as Tensor2D, logitsS as Tensor2D);
  });
}
