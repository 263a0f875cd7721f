/**
 * The evaluation of a run, shared by the end of `deno task distill` and by
 * `deno task eval`: weighted kNN on the test split for each model (raw
 * pixels, random init, distilled student, teacher), the linear probe on
 * frozen features, and teacher ↔ student manifold agreement (NN-IoU@k,
 * linear CKA, and the per-sample / per-dimension cosines of the projected
 * student). The result is plain JSON ({@linkcode RunEvaluation}) in which
 * every number sits next to the protocol that produced it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FeatureMatrix } from "../data/knn.ts";
import type { ImageSource } from "../data/types.ts";
import { extractFeatures } from "../eval/features.ts";
import { knnClassify, type KnnResult } from "../eval/knn.ts";
import { cosineAgreement, linearCka } from "../eval/cka.ts";
import { linearProbe, type LinearProbeOptions } from "../eval/linear.ts";
import { chanceNnIoU, nnIoU } from "../eval/manifold.ts";
import type { RunEvaluation } from "../eval/report.ts";
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

/** One model to evaluate. */
export interface EvaluatedModel {
  name: string;
  model: Embedder;
  /** Training-set features already at hand (the teacher cache), in image order. */
  trainFeatures?: FeatureMatrix;
  /** Run the linear probe on this model's features too. @default {false} */
  linear?: boolean;
}

/** Inputs of {@linkcode evaluateRun}. */
export interface EvaluateRunInput extends KnnProtocolInput {
  /** Named models in table order. */
  models: EvaluatedModel[];
  /** Which of `models` are the teacher and the student, for manifold agreement. */
  pair?: [string, string];
  /**
   * The student's projection head (student features → teacher space), for
   * the cosine agreement; without it the cosines are measured on the
   * backbone features when the widths match, else skipped.
   */
  project?: (features: tf.Tensor2D) => tf.Tensor2D;
  /** NN-IoU neighbourhood sizes. @default {[1, 5, 11, 21, 31]} */
  iouKs?: number[];
  /** Linear-probe hyper-parameters; `null` or `epochs: 0` skips the probe. @default {null} */
  linear?: LinearProbeOptions | null;
  /** Status lines (one per stage). @default {no output} */
  log?: (line: string) => void;
}

/** What {@linkcode evaluateRun} measured. */
export interface EvaluateRunResult {
  /** The numbers with their protocols, as saved in `report.json`. */
  evaluation: RunEvaluation;
  /** The same as text, for the terminal. */
  table: string;
  /** Test features by model name (for the report's map). */
  testFeatures: Map<string, FeatureMatrix>;
}

const pct = (x: number | null) => x === null ? "–" : `${(100 * x).toFixed(2)}%`;

/**
 * Evaluate every model with weighted kNN (and the linear probe where asked),
 * and the teacher/student pair's manifold agreement.
 */
export async function evaluateRun(input: EvaluateRunInput): Promise<EvaluateRunResult> {
  const log = input.log ?? (() => {});
  const linear = input.linear && (input.linear.epochs ?? 100) > 0 ? input.linear : null;
  const evaluation: RunEvaluation = {
    data: {
      train: input.train.name,
      test: input.test.name,
      nTrain: input.train.length,
      nTest: input.test.length,
    },
    knn: [],
    linear: [],
    manifold: null,
  };
  const testFeatures = new Map<string, FeatureMatrix>();
  const lines: string[] = [];
  for (const { name, model, trainFeatures, linear: probe } of input.models) {
    const t0 = performance.now();
    const { knn, train, test } = await knnOf(model, input, trainFeatures);
    testFeatures.set(name, test);
    evaluation.knn.push({ name, ...knnRecord(knn) });
    lines.push(
      `kNN-${knn.k} top-1 ${pct(knn.top1).padStart(7)}  ${name}  ` +
        `(weighted exp(cos/${knn.t}), ${knn.n} test / ${knn.nTrain} train, L2-normalised)`,
    );
    if (probe && linear) {
      const r = await linearProbe(
        { ...train, labels: input.trainLabels },
        { ...test, labels: input.testLabels },
        { ...linear, progress: false },
      );
      const { protocol, n, nTrain, numClasses, top1, top5, trainLoss } = r;
      evaluation.linear.push({ name, top1, top5, trainLoss, n, nTrain, numClasses, protocol });
      lines.push(
        `linear top-1 ${pct(top1).padStart(6)}  ${name}  (SGD ${protocol.epochs} epochs, ` +
          `lr ${protocol.lr}, ${n} test / ${nTrain} train)`,
      );
    }
    log(`evaluated "${name}" in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (input.pair) {
    const [tName, sName] = input.pair;
    const a = testFeatures.get(tName), b = testFeatures.get(sName);
    if (!a || !b) throw new RangeError(`evaluateRun: pair ${input.pair} names unknown models`);
    const ks = (input.iouKs ?? [1, 5, 11, 21, 31]).filter((k) => k < a.n);
    const iou = ks.length ? await nnIoU(a, b, ks, { progress: false }) : {};
    const cka = await linearCka(a, b);
    const cosine = await projectedCosine(a, b, input.project);
    evaluation.manifold = {
      teacher: tName,
      student: sName,
      n: a.n,
      nnIoU: ks.map((k) => ({ k, value: iou[k], chance: chanceNnIoU(k, a.n) })),
      cka,
      cosine,
    };
    lines.push(
      `NN-IoU ${ks.map((k) => `@${k} ${iou[k].toFixed(3)}`).join(" ")}  ${tName} ↔ ${sName} ` +
        `(${a.n} test images, cosine neighbours, self excluded)`,
      `linear CKA ${cka.toFixed(3)}  ${tName} ↔ ${sName} (${a.n} test images)`,
    );
    if (cosine) {
      lines.push(
        `cosine ${tName} ↔ ${sName}${cosine.projected ? " (projected by the head)" : ""}: ` +
          `per sample ${cosine.perSample.toFixed(3)}, per dimension ${
            cosine.perDimension.toFixed(3)
          }`,
      );
    }
  }
  return { evaluation, table: lines.join("\n"), testFeatures };
}

function knnRecord(r: KnnResult) {
  const { top1, top5, k, t, n, nTrain, numClasses } = r;
  return { top1, top5, k, t, n, nTrain, numClasses };
}

async function projectedCosine(
  teacher: FeatureMatrix,
  student: FeatureMatrix,
  project?: (features: tf.Tensor2D) => tf.Tensor2D,
) {
  let s = student;
  if (project) {
    const out = tf.tidy(() => project(tf.tensor2d(student.features, [student.n, student.dim])));
    s = { features: (await out.data()) as Float32Array, n: out.shape[0], dim: out.shape[1] };
    out.dispose();
  }
  if (s.dim !== teacher.dim) return null;
  return { ...(await cosineAgreement(teacher, s)), projected: project !== undefined };
}

/** Weighted kNN of one model under `input`'s protocol, with its features. */
async function knnOf(
  model: Embedder,
  input: KnnProtocolInput,
  trainFeatures?: FeatureMatrix,
): Promise<{ knn: KnnResult; train: FeatureMatrix; test: FeatureMatrix }> {
  const opts = { transform: input.transform, progress: false };
  const train = trainFeatures ?? await extractFeatures(model, input.train, opts);
  const test = await extractFeatures(model, input.test, opts);
  const knn = await knnClassify(train, input.trainLabels, test, input.testLabels, {
    k: input.k,
    t: input.t,
    progress: false,
  });
  return { knn, train, test };
}

/** Inputs of {@linkcode quickKnn}. */
export interface QuickKnnInput extends KnnProtocolInput {
  model: Embedder;
}

/** Periodic kNN during training: one model, small bank and test subsets. */
export async function quickKnn(input: QuickKnnInput): Promise<KnnResult> {
  return (await knnOf(input.model, input)).knn;
}
