/**
 * Distillation losses: pure functions `(teacher, student, options) → scalar`
 * that treat the teacher as frozen.
 *
 * - {@linkcode cossLoss}: CoSS, feature similarity plus space similarity
 *   (Singh & Wang, ECCV 2024, arXiv:2409.13939), with its two terms
 *   {@linkcode featureSimilarityLoss} and {@linkcode spaceSimilarityLoss}.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { cossLoss } from "./mod.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const teacher = tf.tensor2d([[1, 0, 2], [0, 3, 1]]);
 * const student = tf.tensor2d([[0.9, 0.1, 2.1], [0.2, 2.5, 1.2]]);
 * const loss = cossLoss(teacher, student, { lambda: 1 });
 * console.log(await loss.data()); // [-283.53]
 * tf.dispose([teacher, student, loss]);
 * ```
 *
 * @module
 */
export {
  cossLoss,
  type CossOptions,
  type CossTerms,
  cossTerms,
  DEFAULT_COSS_SCALE,
  featureSimilarityLoss,
  spaceSimilarityLoss,
} from "./coss.ts";
export { getLoss, LOSS_NAMES, LOSSES, type RegisteredLoss } from "./registry.ts";
