/**
 * BINGO: bag-of-instances aggregation. Each image `x` comes with a member
 * `x⁺` of its bag (one of its teacher nearest neighbours); the student
 * embeddings of both are pulled towards both teacher keys with InfoNCE
 * against a queue of teacher keys:
 *
 * ```text
 * NCE(q, k) = -log( exp(q·k/τ) / (exp(q·k/τ) + Σ_j exp(q·Q_j/τ)) ),  averaged over rows
 * L_x  = w_own · NCE(ŝ,  t̂ ) + w_bag · NCE(ŝ,  t̂⁺)
 * L_x⁺ = w_own · NCE(ŝ⁺, t̂⁺) + w_bag · NCE(ŝ⁺, t̂ )
 * L    = (L_x + L_x⁺) / 2
 * ```
 *
 * with every embedding L2-normalised and τ = 0.2, w_own = w_bag = 0.5 as in
 * the paper. The official code also adds a CutMix query of `x` and `x⁺` and
 * divides the sum of the three terms by 3; that term needs the images, so it
 * is not part of this loss. The queue and the bags live in `lib/methods`.
 *
 * Reference: H. Xu et al., "Bag of Instances Aggregation Boosts
 * Self-supervised Distillation", ICLR 2022, arXiv:2107.01691 (official code
 * `haohang96/bingo`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, l2Normalize, stopGradient } from "./normalize.ts";
import { checkCompanion, numberOption } from "./options.ts";
import { infoNce } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode bingoLoss}. */
export interface BingoOptions {
  /**
   * InfoNCE temperature τ.
   * @default {0.2}
   */
  tau?: number;
  /**
   * Weight of a query's own teacher key.
   * @default {0.5}
   */
  ownWeight?: number;
  /**
   * Weight of the other bag member's teacher key.
   * @default {0.5}
   */
  bagWeight?: number;
}

/** The extra tensors {@linkcode bingoLoss} reads. */
export interface BingoBag {
  /** `[batch, dim]` teacher embeddings of each row's bag member `x⁺` (no gradient). */
  teacherPositive: Tensor2D;
  /** `[batch, dim]` student embeddings of each row's bag member `x⁺`. */
  studentPositive: Tensor2D;
  /** `[K, dim]` normalised teacher keys of earlier batches, the negatives (no gradient). */
  queue: Tensor2D;
}

/** BINGO's loss and its two per-query parts. */
export interface BingoTerms {
  /** `(anchor + positive) / 2`. */
  loss: Scalar;
  /** `L_x`, the loss of the anchors' student embeddings. */
  anchor: Scalar;
  /** `L_x⁺`, the loss of the bag members' student embeddings. */
  positive: Scalar;
}

/**
 * BINGO's loss with its two parts, for logging. See {@linkcode bingoLoss} for
 * the arguments and the errors; every returned scalar belongs to the caller.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { bingoTerms } from "./bingo.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0]]);
 * const s = tf.tensor2d([[1, 0]]);
 * const tp = tf.tensor2d([[0.8, 0.6]]);
 * const sp = tf.tensor2d([[0.8, 0.6]]);
 * const queue = tf.tensor2d([[0, 1], [-1, 0]]);
 * const r = bingoTerms(t, s, { teacherPositive: tp, studentPositive: sp, queue });
 * console.log(await r.anchor.data(), await r.positive.data()); // about [0.0125] [0.220]
 * console.log(await r.loss.data()); // about [0.116], their mean
 * tf.dispose([t, s, tp, sp, queue, r.loss, r.anchor, r.positive]);
 * ```
 */
export function bingoTerms(
  teacher: Tensor2D,
  student: Tensor2D,
  bag: BingoBag,
  options: BingoOptions = {},
): BingoTerms {
  const fn = "bingoLoss";
  const tau = numberOption(fn, options, "tau", 0.2, { min: 0, minOpen: true });
  const own = numberOption(fn, options, "ownWeight", 0.5, { min: 0 });
  const other = numberOption(fn, options, "bagWeight", 0.5, { min: 0 });
  checkPair(fn, teacher, student);
  checkCompanion(fn, "teacherPositive", bag?.teacherPositive, teacher, "teacher", true);
  checkCompanion(fn, "studentPositive", bag?.studentPositive, student, "student", true);
  checkCompanion(fn, "queue", bag?.queue, teacher, "teacher");
  return tf.tidy(() => {
    const k = l2Normalize(stopGradient(teacher), 1);
    const kPos = l2Normalize(stopGradient(bag.teacherPositive), 1);
    const q = l2Normalize(student, 1);
    const qPos = l2Normalize(bag.studentPositive, 1);
    const queue = stopGradient(bag.queue);
    const pair = (query: Tensor2D, mine: Tensor2D, theirs: Tensor2D) =>
      tf.add(
        tf.mul(infoNce(query, mine, queue, tau), own),
        tf.mul(infoNce(query, theirs, queue, tau), other),
      ) as Scalar;
    const anchor = pair(q, k, kPos);
    const positive = pair(qPos, kPos, k);
    return { loss: tf.div(tf.add(anchor, positive), 2) as Scalar, anchor, positive };
  });
}

/**
 * The BINGO loss: InfoNCE of the student embeddings of each image and of its
 * bag member against both teacher keys, with a queue of teacher keys as
 * negatives (see the module doc for the formula).
 *
 * Teacher embeddings and the queue get no gradient; `student` and
 * `bag.studentPositive` do.
 *
 * @param teacher Teacher embeddings `[batch, dim]` of the images (frozen).
 * @param student Student embeddings `[batch, dim]` of the images.
 * @param bag Both embeddings of each row's bag member, and the key queue `[K, dim]`.
 * @param options τ and the two weights.
 * @returns A scalar; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes, a temperature ≤ 0 or a
 * negative weight.
 * @throws {TypeError} For a missing bag tensor or a non-float32 tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { bingoLoss } from "./bingo.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[0.9, 0.1], [0.2, 1]]);
 * const bag = {
 *   teacherPositive: tf.tensor2d([[0.9, 0.4], [0.3, 1]]),
 *   studentPositive: tf.tensor2d([[1, 0.3], [0.1, 0.9]]),
 *   queue: tf.tensor2d([[-1, 0], [0, -1], [0.6, -0.8]]),
 * };
 * const loss = bingoLoss(t, s, bag);
 * console.log(await loss.data()); // about [0.0372]
 * tf.dispose([t, s, loss, ...Object.values(bag)]);
 * ```
 */
export function bingoLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  bag: BingoBag,
  options: BingoOptions = {},
): Scalar {
  return tf.tidy(() => bingoTerms(teacher, student, bag, options).loss);
}
