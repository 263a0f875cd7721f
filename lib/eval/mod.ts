/**
 * Evaluation of a frozen backbone: features extracted once
 * ({@linkcode extractFeatures}), weighted kNN accuracy
 * ({@linkcode knnClassify}, `exp(cos/T)` votes, k = 10 and T = 0.07 by
 * default), the linear probe ({@linkcode linearProbe}), and teacher–student
 * manifold agreement ({@linkcode nnIoU}). Every result formats to one line
 * that carries its protocol.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { formatKnn, formatNnIoU, knnClassify, nnIoU } from "./mod.ts";
 *
 * const train = { features: new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), n: 4, dim: 2 };
 * const labels = new Int32Array([0, 0, 1, 1]);
 * const knn = await knnClassify(train, labels, train, labels, { k: 1, progress: false });
 * console.log(formatKnn(knn)); // "kNN-1 top-1 100.00% (k=1, T=0.07, 4 test / 4 train, 2 classes)"
 * const iou = await nnIoU(train, train, [1, 3], { progress: false });
 * console.log(formatNnIoU(iou, 4)); // "NN-IoU@1 1.000 @3 1.000 (4 images)"
 * ```
 *
 * @module
 */
// Re-exported (same bindings as ./data, ./models) so this module's docs are complete on their own.
export type { FeatureMatrix, Neighbours } from "../neighbours/types.ts";
export type { ImageShape, ImageSource } from "../data/types.ts";
export type { Embedder, EmbedOptions } from "../models/types.ts";
export type { Tensor2D, Tensor4D } from "../tf_types.ts";
export { extractFeatures, type ExtractFeaturesOptions } from "./features.ts";
export {
  formatKnn,
  knnClassify,
  type KnnOptions,
  type KnnResult,
  knnSearch,
  type KnnSearchOptions,
  type VoteOptions,
  weightedVotes,
} from "./knn.ts";
export {
  formatLinear,
  type LabelledFeatures,
  linearProbe,
  type LinearProbeOptions,
  type LinearProbeResult,
  type LinearProtocol,
} from "./linear.ts";
export {
  chanceNnIoU,
  formatNnIoU,
  neighbourIoU,
  NN_IOU_KS,
  nnIoU,
  type NnIoUOptions,
} from "./manifold.ts";
export { type CosineAgreement, cosineAgreement, linearCka } from "./cka.ts";
export { pca, type PcaOptions, type PcaResult } from "./pca.ts";
export {
  type CurvePoint,
  type EmbeddingMapOptions,
  embeddingMapSvg,
  type IoUBar,
  type MapPanel,
  type NnIoUBarsOptions,
  nnIoUBarsSvg,
  type TrainingCurvesOptions,
  trainingCurvesSvg,
} from "./plot.ts";
export {
  curvesFromMetrics,
  type KnnRecord,
  type LinearRecord,
  type ManifoldRecord,
  readReport,
  type Report,
  type ReportFiles,
  type ReportMap,
  reportMap,
  reportPlots,
  type ReportRun,
  type RunEvaluation,
  type SavedReport,
  writeReport,
} from "./report.ts";
export { countMacs, formatCost, type ModelCost, modelCost, type ModelCostOptions } from "./cost.ts";
