/**
 * The two halves of CoSS as losses of their own, for baselines and ablations:
 * {@linkcode cosineLoss} (`L_co` alone: CoSS with λ = 0, a SimReg-like cosine
 * regression) and {@linkcode ssOnlyLoss} (`L_ss` alone).
 *
 * Reference: A. Singh and H. Wang, "Simple Unsupervised Knowledge Distillation
 * With Space Similarity", ECCV 2024, arXiv:2409.13939.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { DEFAULT_COSS_SCALE, featureSimilarityLoss, spaceSimilarityLoss } from "./coss.ts";
import { checkPair } from "./normalize.ts";
import { numberOption } from "./options.ts";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode cosineLoss} and {@linkcode ssOnlyLoss}. */
export interface CosineOptions {
  /**
   * Multiplier on the loss; the CoSS default keeps the gradient scale of the
   * full method, so learning rates carry over.
   *
   * @default {1/(0.07*0.1)}
   */
  scale?: number;
}

function scaled(
  fn: string,
  term: (t: Tensor2D, s: Tensor2D) => Scalar,
  teacher: Tensor2D,
  student: Tensor2D,
  options: CosineOptions,
): Scalar {
  const scale = numberOption(fn, options, "scale", DEFAULT_COSS_SCALE);
  checkPair(fn, teacher, student);
  return tf.tidy(() => tf.mul(term(teacher, student), scale) as Scalar);
}

/**
 * `scale · L_co = -scale · (1/B) Σ_i cos(A_s[i,:], A_t[i,:])`: CoSS with
 * λ = 0, the per-sample cosine alone. The teacher gets no gradient; cosines
 * use PyTorch's `F.normalize` epsilon.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options The scale.
 * @returns A scalar in `[-scale, scale]`; the caller disposes it.
 * @throws {RangeError} For shapes that differ, are not rank 2 or are empty, or
 * a non-finite scale.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { cosineLoss } from "./cosine.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const loss = cosineLoss(t, s, { scale: 1 });
 * console.log(await loss.data()); // [-0.5]: row cosines 1 and 0
 * tf.dispose([t, s, loss]);
 * ```
 */
export function cosineLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: CosineOptions = {},
): Scalar {
  return scaled("cosineLoss", featureSimilarityLoss, teacher, student, options);
}

/**
 * `scale · L_ss = -scale · (1/d) Σ_j cos(A_s[:,j], A_t[:,j])`: the space
 * similarity term alone (an ablation). An all-zero teacher column adds 0 and
 * no gradient. The teacher gets no gradient.
 *
 * @param teacher Teacher embeddings `[batch, dim]` (frozen).
 * @param student Student embeddings `[batch, dim]`.
 * @param options The scale.
 * @returns A scalar in `[-scale, scale]`; the caller disposes it.
 * @throws {RangeError} For shapes that differ, are not rank 2 or are empty, or
 * a non-finite scale.
 * @throws {TypeError} When a tensor is not float32.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ssOnlyLoss } from "./cosine.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const t = tf.tensor2d([[1, 0], [0, 1]]);
 * const s = tf.tensor2d([[2, 0], [1, 0]]);
 * const loss = ssOnlyLoss(t, s, { scale: 1 });
 * console.log(await loss.data()); // about [-0.447]: column cosines 2/√5 and 0
 * tf.dispose([t, s, loss]);
 * ```
 */
export function ssOnlyLoss(
  teacher: Tensor2D,
  student: Tensor2D,
  options: CosineOptions = {},
): Scalar {
  return scaled("ssOnlyLoss", spaceSimilarityLoss, teacher, student, options);
}
