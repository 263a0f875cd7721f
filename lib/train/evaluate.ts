/**
 * The evaluation at the end of a distillation run: weighted kNN on the test
 * split for raw pixels, the randomly initialised student, the distilled
 * student and the teacher, plus NN-IoU teacher↔student, as one table whose
 * every number carries its protocol.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FeatureMatrix } from "../data/knn.ts";
import type { ImageSource } from "../data/types.ts";
import { extractFeatures } from "../eval/features.ts";
import { knnClassify, type KnnResult } from "../eval/knn.ts";
import { linearCka } from "../eval/cka.ts";
import { nnIoU } from "../eval/manifold.ts";
import type { Embedder } from "../models/types.ts";

/** Flattened pixels as features: the baseline every representation must beat. */
export class PixelEmbedder implements Embedder {
  readonly featureDim: number;
  constructor(shape: [number, number, number]) {
    this.featureDim = shape[0] * shape[1] * shape[2];
  }
  embed(x: tf.Tensor4D): tf.Tensor2D {
    return tf.reshape(x, [x.shape[0], -1]);
  }
}

/** One row of the final table. */
export interface EvalRow {
  name: string;
  knn: KnnResult;
}

/** The kNN protocol shared by {@linkcode evaluateRun} and {@linkcode quickKnn}. */
export interface KnnProtocolInput {
  train: ImageSource;
  trainLabels: Int32Array;
  test: ImageSource;
  testLabels: Int32Array;
  transform: (x: tf.Tensor4D) => tf.Tensor4D;
  k: number;
  t: number;
}

/** Inputs of {@linkcode evaluateRun}. */
export interface EvaluateRunInput extends KnnProtocolInput {
  /**
   * Named models in table order (raw pixels, random student, student,
   * teacher); `trainFeatures` skips recomputing features already at hand
   * (the teacher cache).
   */
  models: { name: string; model: Embedder; trainFeatures?: FeatureMatrix }[];
  /** Which of `models` are the teacher and the student, for NN-IoU. */
  pair: [string, string];
  /** NN-IoU neighbourhood size. @default {10} */
  iouK?: number;
}

/** What {@linkcode evaluateRun} measured. */
export interface EvaluateRunResult {
  rows: EvalRow[];
  nnIoU: { k: number; value: number; n: number };
  /** Linear CKA between the pair's test features. */
  cka: number;
  table: string;
}

/** Evaluate every model with weighted kNN, and the teacher/student pair with NN-IoU. */
export async function evaluateRun(input: EvaluateRunInput): Promise<EvaluateRunResult> {
  const rows: EvalRow[] = [];
  const testFeatures = new Map<string, FeatureMatrix>();
  for (const { name, model, trainFeatures } of input.models) {
    const { knn, test } = await knnOf(model, input, trainFeatures);
    testFeatures.set(name, test);
    rows.push({ name, knn });
  }
  const iouK = input.iouK ?? 10;
  const [a, b] = input.pair.map((n) => testFeatures.get(n)!);
  const iou = await nnIoU(a, b, [iouK], { progress: false });
  const nnIoUResult = { k: iouK, value: iou[iouK], n: a.n };
  const cka = await linearCka(a, b);
  const r0 = rows[0].knn;
  const lines = [
    `kNN-${input.k} top-1 on ${r0.n} test images (weighted, T = ${input.t}, ` +
    `bank: ${input.train.length} train images; features L2-normalised)`,
    ...rows.map((r) => `  ${r.name.padEnd(28)} ${(100 * r.knn.top1).toFixed(2).padStart(6)}%`),
    `NN-IoU@${iouK} ${input.pair[0]} ↔ ${input.pair[1]} on the test images: ` +
    `${nnIoUResult.value.toFixed(3)}`,
    `linear CKA ${input.pair[0]} ↔ ${input.pair[1]} on the test images: ${cka.toFixed(3)}`,
  ];
  return { rows, nnIoU: nnIoUResult, cka, table: lines.join("\n") };
}

/** Weighted kNN of one model under `input`'s protocol, and its test features. */
async function knnOf(
  model: Embedder,
  input: KnnProtocolInput,
  trainFeatures?: FeatureMatrix,
): Promise<{ knn: KnnResult; test: FeatureMatrix }> {
  const opts = { transform: input.transform, progress: false };
  const train = trainFeatures ?? await extractFeatures(model, input.train, opts);
  const test = await extractFeatures(model, input.test, opts);
  const knn = await knnClassify(train, input.trainLabels, test, input.testLabels, {
    k: input.k,
    t: input.t,
    progress: false,
  });
  return { knn, test };
}

/** Inputs of {@linkcode quickKnn}. */
export interface QuickKnnInput extends KnnProtocolInput {
  model: Embedder;
}

/** Periodic kNN during training: one model, small bank and test subsets. */
export async function quickKnn(input: QuickKnnInput): Promise<KnnResult> {
  return (await knnOf(input.model, input)).knn;
}
