/**
 * Distillation losses: pure functions `(teacher, student, options) → scalar`
 * that treat the teacher as frozen.
 *
 * - {@linkcode cossLoss}: CoSS, feature similarity plus space similarity
 *   (Singh & Wang, ECCV 2024, arXiv:2409.13939), with its two terms
 *   {@linkcode featureSimilarityLoss} and {@linkcode spaceSimilarityLoss}.
 * - Baselines, each with its formula and reference in its doc:
 *   {@linkcode cosineLoss} (L_co alone) and {@linkcode ssOnlyLoss} (L_ss
 *   alone); {@linkcode seedLoss} (SEED), {@linkcode discoLoss} (DisCo),
 *   {@linkcode bingoLoss} (BINGO), {@linkcode smdLoss} (SMD),
 *   {@linkcode compressLoss} (CompRess), {@linkcode sldLoss} (DINO-style),
 *   {@linkcode distLoss} (DIST), {@linkcode rkdLoss} (RKD),
 *   {@linkcode spLoss} (SP) and {@linkcode pktLoss} (PKT).
 *   SEED, BINGO and CompRess take their queues / banks as extra tensors; the
 *   state that fills them lives in `lib/methods`.
 * - {@linkcode getLoss}: the stateless losses by config name.
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
// Re-exported (same bindings as in the modules that own them) so this module's docs are complete on their own.
export type { Scalar, Tensor2D } from "../tf_types.ts";
export {
  cossLoss,
  type CossOptions,
  type CossTerms,
  cossTerms,
  DEFAULT_COSS_SCALE,
  featureSimilarityLoss,
  spaceSimilarityLoss,
} from "./coss.ts";
export { cosineLoss, type CosineOptions, ssOnlyLoss } from "./cosine.ts";
export { seedLoss, type SeedMemory, type SeedOptions } from "./seed.ts";
export {
  discoLoss,
  type DiscoOptions,
  type DiscoTerms,
  discoTerms,
  type DiscoViews,
} from "./disco.ts";
export {
  type BingoBag,
  bingoLoss,
  type BingoOptions,
  type BingoTerms,
  bingoTerms,
} from "./bingo.ts";
export { smdLoss, type SmdOptions } from "./smd.ts";
export { type CompressBanks, compressLoss, type CompressOptions } from "./compress.ts";
export { sldLoss, type SldOptions } from "./sld.ts";
export { distLoss, type DistOptions, type DistTerms, distTerms } from "./dist.ts";
export { rkdLoss, type RkdOptions, type RkdTerms, rkdTerms } from "./rkd.ts";
export { spLoss } from "./sp.ts";
export { pktLoss, type PktOptions } from "./pkt.ts";
export { getLoss, LOSSES, REGISTERED_LOSS_NAMES, type RegisteredLoss } from "./registry.ts";
