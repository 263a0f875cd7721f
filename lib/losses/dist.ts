/**
 * DIST: match relations rather than values, with Pearson correlation.
 *
 * ```text
 * P_S = softmax(s / τ_S) per row,          P_T = softmax(t / τ_T) per row
 * Q_S = softmax(s / τ_S) per column,       Q_T = softmax(t / τ_T) per column (over the batch)
 * inter = 1 − (1/B) Σ_i ρ(P_S[i,:], P_T[i,:])
 * intra = 1 − (1/d) Σ_j ρ(Q_S[:,j], Q_T[:,j])
 * L     = w_inter · inter + w_intra · intra
 * ρ(a, b) = (a_c · b_c) / (‖a_c‖ ‖b_c‖ + 1e-8),   x_c = x − mean(x)
 * ```
 *
 * This follows the CoSS code's `dist` baseline: the intra term softmaxes each
 * feature over the batch, and there is no τ² factor. (DIST's own code
 * correlates the columns of the row-softmaxed matrix and multiplies both terms
 * by τ²; at its default τ = 1 only the column softmax differs.) Defaults:
 * τ_T = τ_S = 1 and both weights 1, DIST's ImageNet setting.
 *
 * A constant teacher row or column (an all-zero post-ReLU column, say) has an
 * exactly uniform softmax and so no correlation; its centred values are set to
 * exactly 0 so that float32 rounding cannot leak through the 1e-8 epsilon.
 *
 * Reference: T. Huang et al., "Knowledge Distillation from A Stronger
 * Teacher", NeurIPS 2022, arXiv:2205.10536; `paganpasta/coss-pytorch`
 * (losses.py).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, stopGradient } from "./normalize.ts";
import { numberOption } from "./options.ts";
import { constantRows, rowPearson } from "./_ops.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode distLoss}. */
export interface DistOptions {
  /**
   * Teacher temperature τ_T.
   * @default {1}
   */
  tauTeacher?: number;
  /**
   * Student temperature τ_S.
   * @default {1}
   */
  tauStudent?: number;
  /**
   * Weight of the inter (per-sample) term, DIST's β.
   * @default {1}
   */
  interWeight?: number;
  /**
   * Weight of the intra (per-feature) term, DIST's γ.
   * @default {1}
   */
  intraWeight?: number;
}

/** DIST's loss and its two unweighted terms. */
export interface DistTerms {
  /** `interWeight · inter + intraWeight · intra`. */
  loss: Scalar;
  /** `1 −` mean Pearson correlation of the row distributions, in [0, 2]. */
  inter: Scalar;
  /** `1 −` mean Pearson correlation of the column distributions, in [0, 2]. */
  intra: Scalar;
}

const PEARSON_EPS = 1e-8;

/** `1 − mean ρ` of the row-softmaxed rows of `s` and `t`. */
function relation(s: Tensor2D, t: Tensor2D): Scalar {
  const r = rowPearson(tf.softmax(s), tf.softmax(t), PEARSON_EPS, constantRows(t));
  return tf.sub(1, tf.mean(r)) as Scalar;
}

/**
 * DIST's loss with both terms, for logging. See {@linkcode distLoss} for the
 * arguments and the errors; every returned scalar belongs to the caller.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { distTerms } from "./dist.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 2, 3], [3, 1, 0]]);
 * const s = tf.tensor2d([[2, 4, 6], [6, 2, 0]]);
 * const { loss, inter, intra } = distTerms(t, s);
 * // About [0.0070] and [0]: the same orderings, only sharper. (With two samples
 * // every centred column is ±(1, −1), so intra is 0 or 2.)
 * console.log(await inter.data(), await intra.data());
 * tf.dispose([t, s, loss, inter, intra]);
 * ```
 */
export function distTerms(
  teacher: Tensor2D,
  student: Tensor2D,
  options: DistOptions = {},
): DistTerms {
  const fn = "distLoss";
  const positive = { min: 0, minOpen: true };
  const tauT = numberOption(fn, options, "tauTeacher", 1, positive);
  const tauS = numberOption(fn, options, "tauStudent", 1, positive);
  const wInter = numberOption(fn, options, "interWeight", 1, { min: 0 });
  const wIntra = numberOption(fn, options, "intraWeight", 1, { min: 0 });
  checkPair(fn, teacher, student);
  return tf.tidy(() => {
    const t = tf.div(stopGradient(teacher), tauT) as Tensor2D;
    const s = tf.div(student, tauS) as Tensor2D;
    const inter = relation(s, t);
    const intra = relation(tf.transpose(s), tf.transpose(t));
    const loss = tf.add(tf.mul(inter, wInter), tf.mul(intra, wIntra)) as Scalar;
    return { loss, inter, intra };
  });
}

/**
 * The DIST loss: one minus the Pearson correlation of softmaxed rows (inter)
 * plus the same for softmaxed columns (intra), weighted (see the module doc).
 *
 * The teacher gets no gradient. Needs at least 2 samples for the intra term
 * to mean anything (with B = 1 every column is constant and intra is 1).
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options Temperatures and weights.
 * @returns A scalar in `[0, 2·(w_inter + w_intra)]`; the caller disposes it.
 * @throws {RangeError} For mismatched or empty shapes, a temperature ≤ 0 or a
 * negative weight.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { distLoss } from "./dist.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 2, 3], [3, 1, 0]]);
 * const loss = distLoss(t, tf.neg(t));
 * console.log(await loss.data()); // about [3.84]: every relation is reversed
 * tf.dispose([t, loss]);
 * ```
 */
export function distLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: DistOptions = {},
): Scalar {
  return tf.tidy(() => distTerms(teacher, student, options).loss);
}
