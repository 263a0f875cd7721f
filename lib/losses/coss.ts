/**
 * The CoSS loss for unsupervised knowledge distillation: a feature similarity
 * term over samples plus a space similarity term over feature dimensions.
 *
 * For a batch with teacher embeddings `A_t ∈ R^{B×d}` (frozen) and student
 * embeddings `A_s ∈ R^{B×d}`:
 *
 * ```text
 * L_co = -(1/B) Σ_i cos(A_s[i,:], A_t[i,:])    each sample, over its d features
 * L_ss = -(1/d) Σ_j cos(A_s[:,j], A_t[:,j])    each dimension, over the B samples
 * L    = scale · (L_co + λ · L_ss)
 * ```
 *
 * Cosines are plain (no centring) and use PyTorch's `F.normalize` epsilon, so an
 * all-zero teacher column (common after a ReLU) or student row gives a finite
 * loss and finite gradients. No gradient flows into the teacher.
 *
 * Reference: A. Singh and H. Wang, "Simple Unsupervised Knowledge Distillation
 * With Space Similarity", ECCV 2024, arXiv:2409.13939.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { cossLoss } from "./coss.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const teacher = tf.tensor2d([[1, 0, 2], [0, 3, 1]]);
 * const student = tf.tensor2d([[0.9, 0.1, 2.1], [0.2, 2.5, 1.2]]);
 * const loss = cossLoss(teacher, student);
 * console.log(await loss.data()); // [-283.53], near a perfect match's -2 · 142.857 = -285.71
 * tf.dispose([teacher, student, loss]);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkPair, l2Normalize, stopGradient } from "./normalize.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/**
 * The default gradient multiplier, `1/(0.07 · 0.1) ≈ 142.857`: the official
 * code divides normalised teacher vectors by 0.07 and student vectors by 0.1.
 */
export const DEFAULT_COSS_SCALE: number = 1 / (0.07 * 0.1);

/** Options for {@linkcode cossLoss} and {@linkcode cossTerms}. */
export interface CossOptions {
  /**
   * Weight λ of the space similarity term. Every published run uses 1; the
   * official code's argument parser defaults to 0.5; 0 gives `L_co` alone.
   *
   * @default {1}
   */
  lambda?: number;
  /**
   * Multiplier on the whole loss. It is not a temperature: it only scales the
   * gradient.
   *
   * @default {1/(0.07*0.1)}
   */
  scale?: number;
}

/** The CoSS loss and its two unscaled terms, as returned by {@linkcode cossTerms}. */
export interface CossTerms {
  /** `scale · (co + λ · ss)`: the value to minimise. */
  loss: Scalar;
  /** `L_co`, the unscaled feature (row) similarity term, in [-1, 1]. */
  co: Scalar;
  /** `L_ss`, the unscaled space (column) similarity term, in [-1, 1]. */
  ss: Scalar;
}

/** Teacher and student after the checks, with the teacher detached. */
function prepare(fn: string, teacher: Tensor2D, student: Tensor2D): Tensor2D {
  checkPair(fn, teacher, student);
  return stopGradient(teacher);
}

/** Minus the mean cosine of matching vectors along `axis`: axis 1 (rows) gives L_co, axis 0 (columns) L_ss. */
function negMeanCos(teacher: Tensor2D, student: Tensor2D, axis: 0 | 1): Scalar {
  const cos = tf.sum(tf.mul(l2Normalize(student, axis), l2Normalize(teacher, axis)), axis);
  return tf.neg(tf.mean(cos));
}

/** λ and scale with their defaults, checked. */
function readOptions(fn: string, options: CossOptions): { lambda: number; scale: number } {
  const lambda = options.lambda ?? 1;
  const scale = options.scale ?? DEFAULT_COSS_SCALE;
  for (const [name, v] of [["lambda", lambda], ["scale", scale]] as const) {
    if (typeof v !== "number") {
      throw new TypeError(`${fn}: option ${name} must be a number, got ${typeof v}`);
    }
    if (!Number.isFinite(v)) throw new RangeError(`${fn}: option ${name} is ${v}, not finite`);
  }
  return { lambda, scale };
}

/**
 * The feature similarity term, unscaled: the negative mean over samples of the
 * cosine between each student row and its teacher row,
 * `L_co = -(1/B) Σ_i cos(A_s[i,:], A_t[i,:])`.
 *
 * The teacher gets no gradient. An all-zero row contributes a cosine of 0.
 * Throws `RangeError` when the shapes differ, are not `[batch, dim]`, or are empty.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @returns A scalar in [-1, 1]; the caller disposes it.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { featureSimilarityLoss } from "./coss.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const co = featureSimilarityLoss(t, s);
 * console.log(await co.data()); // [-0.5]: row cosines 1 and 0
 * tf.dispose([t, s, co]);
 * ```
 */
export function featureSimilarityLoss(teacher: Tensor2D, student: Tensor2D): Scalar {
  return tf.tidy(() => {
    const t = prepare("featureSimilarityLoss", teacher, student);
    return negMeanCos(t, student, 1);
  });
}

/**
 * The space similarity term, unscaled: the negative mean over feature
 * dimensions of the cosine between each student column and its teacher column
 * across the batch, `L_ss = -(1/d) Σ_j cos(A_s[:,j], A_t[:,j])`.
 *
 * The teacher gets no gradient. An all-zero column (e.g. a dead ReLU unit in
 * this batch) contributes a cosine of 0 and no gradient. With a batch of 1 the
 * term is degenerate: each column has one entry, so its cosine is +1, -1 or 0.
 * Throws `RangeError` when the shapes differ, are not `[batch, dim]`, or are empty.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @returns A scalar in [-1, 1]; the caller disposes it.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { spaceSimilarityLoss } from "./coss.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const ss = spaceSimilarityLoss(t, s);
 * console.log(await ss.data()); // about [-0.447]: column cosines 2/√5 and 0
 * tf.dispose([t, s, ss]);
 * ```
 */
export function spaceSimilarityLoss(teacher: Tensor2D, student: Tensor2D): Scalar {
  return tf.tidy(() => {
    const t = prepare("spaceSimilarityLoss", teacher, student);
    return negMeanCos(t, student, 0);
  });
}

/**
 * The CoSS loss with both unscaled terms, for logging:
 * `loss = scale · (co + λ · ss)`. All three scalars belong to the caller.
 *
 * See {@linkcode cossLoss} for the arguments and the errors.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options λ and scale.
 * @returns `{ loss, co, ss }`; dispose all three.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { cossTerms } from "./coss.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const { loss, co, ss } = cossTerms(t, s, { scale: 1 });
 * console.log(await loss.data(), await co.data(), await ss.data()); // [-0.947] [-0.5] [-0.447]
 * tf.dispose([t, s, loss, co, ss]);
 * ```
 */
export function cossTerms(
  teacher: Tensor2D,
  student: Tensor2D,
  options: CossOptions = {},
): CossTerms {
  const { lambda, scale } = readOptions("cossTerms", options);
  return tf.tidy(() => {
    const t = prepare("cossTerms", teacher, student);
    const co = negMeanCos(t, student, 1);
    const ss = negMeanCos(t, student, 0);
    const loss = tf.mul(tf.add(co, tf.mul(ss, lambda)), scale) as Scalar;
    return { loss, co, ss };
  });
}

/**
 * The CoSS loss, `scale · (L_co + λ · L_ss)`: feature similarity over samples
 * plus λ times space similarity over dimensions, with the teacher frozen.
 *
 * A perfect match gives `-scale · (1 + λ)`. An all-zero teacher column or
 * student row gives a finite loss and finite gradients (a zero student row's
 * gradient is large, `~scale/(B·1e-12)`, exactly as in PyTorch). A batch of 1 is
 * allowed but makes `L_ss` degenerate (each column cosine is +1, -1 or 0).
 *
 * @param teacher Teacher embeddings `[batch, dim]`; no gradient flows into it.
 * @param student Student embeddings `[batch, dim]` (after its projection head).
 * @param options λ and scale.
 * @returns A scalar; the caller disposes it.
 * @throws {RangeError} When the shapes differ, either is not rank 2, or the
 * batch or dim is 0; also for a non-finite λ or scale.
 * @throws {TypeError} When either tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { cossLoss } from "./coss.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const teacher = tf.tensor2d([[1, 0, 2], [0, 3, 1]]);
 * const student = tf.tensor2d([[0.9, 0.1, 2.1], [0.2, 2.5, 1.2]]);
 * const loss = cossLoss(teacher, student);
 * console.log(await loss.data()); // [-283.53]; a perfect match gives -2 · 142.857
 *
 * // Training: differentiate with respect to the student only.
 * const f = tf.valueAndGrad((s: tf.Tensor2D) => cossLoss(teacher, s, { lambda: 0.5 }));
 * const { value, grad } = f(student);
 * console.log(await value.data(), grad.shape); // [-212.72] [2, 3]
 * tf.dispose([teacher, student, loss, value, grad]);
 * ```
 */
export function cossLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: CossOptions = {},
): Scalar {
  const { lambda, scale } = readOptions("cossLoss", options);
  return tf.tidy(() => {
    const t = prepare("cossLoss", teacher, student);
    const co = negMeanCos(t, student, 1);
    const ss = negMeanCos(t, student, 0);
    return tf.mul(tf.add(co, tf.mul(ss, lambda)), scale) as Scalar;
  });
}
