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
import type { FeatureMatrix } from "../neighbours/types.ts";
import type { ImageSource } from "../data/types.ts";
import { extractFeatures } from "./features.ts";
import { knnClassify, type KnnResult } from "./knn.ts";
import { cosineAgreement, linearCka } from "./cka.ts";
import { linearProbe, type LinearProbeOptions } from "./linear.ts";
import { chanceNnIoU, nnIoU, nnOverlap } from "./manifold.ts";
import type { RunEvaluation } from "./report.ts";
import type { Embedder } from "../models/types.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

/**
 * Flattened pixels as features: the baseline every representation must beat.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { PixelEmbedder } from "./evaluate.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const pixels = new PixelEmbedder([28, 28, 1]);
 * const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
 * const f = pixels.embed(x);
 * console.log(pixels.featureDim, f.shape); // 784 [2, 784]
 * tf.dispose([x, f]);
 * ```
 */
export class PixelEmbedder implements Embedder {
  /** `height · width · channels`: one feature per pixel value. */
  readonly featureDim: number;
  /** An embedder for images of `shape`, `[height, width, channels]`. */
  constructor(shape: [number, number, number]) {
    this.featureDim = shape[0] * shape[1] * shape[2];
  }
  /** Images `[B, H, W, C]` to their flattened pixels `[B, H·W·C]`. */
  embed(x: Tensor4D): Tensor2D {
    return tf.reshape(x, [x.shape[0], -1]);
  }
}

/** The kNN protocol shared by {@linkcode evaluateRun} and {@linkcode quickKnn}. */
export interface KnnProtocolInput {
  /** The neighbour bank: training images whose features vote. */
  train: ImageSource;
  /** Class of each image of `train`, in order. */
  trainLabels: Int32Array;
  /** The images scored. */
  test: ImageSource;
  /** Class of each image of `test`, in order. */
  testLabels: Int32Array;
  /** Applied to every batch before the model, e.g. the eval normalisation of {@linkcode evalTransform}. */
  transform: (x: Tensor4D) => Tensor4D;
  /** Neighbours voting (`eval.k` in configs, 10 by default). */
  k: number;
  /** Vote temperature: each neighbour votes `exp(cos / t)` (`eval.t` in configs, 0.07 by default). */
  t: number;
}

/** One model to evaluate. */
export interface EvaluatedModel {
  /** The model's row name in the tables, e.g. `"teacher"` or `"student, random init"`. */
  name: string;
  /** Images to features: a backbone, a tfjs teacher or {@linkcode PixelEmbedder}. */
  model: Embedder;
  /** Training-set features already at hand (the teacher cache), in image order. */
  trainFeatures?: FeatureMatrix;
  /**
   * Run the linear probe on this model's features too.
   * @default {false}
   */
  linear?: boolean;
}

/** Inputs of {@linkcode evaluateRun}. */
export interface EvaluateRunInput extends KnnProtocolInput {
  /** Named models in table order. */
  models: EvaluatedModel[];
  /**
   * Which of `models` are the teacher and the student, for manifold agreement.
   *
   * @default {undefined} (no manifold agreement)
   */
  pair?: [string, string];
  /**
   * The student's projection head (student features → teacher space), for
   * the cosine agreement; without it the cosines are measured on the
   * backbone features when the widths match, else skipped.
   *
   * @default {undefined}
   */
  project?: (features: Tensor2D) => Tensor2D;
  /**
   * NN-IoU neighbourhood sizes.
   * @default {[1, 5, 11, 21, 31]}
   */
  iouKs?: number[];
  /**
   * Linear-probe hyper-parameters; `null` or `epochs: 0` skips the probe.
   * @default {null}
   */
  linear?: LinearProbeOptions | null;
  /**
   * Status lines (one per stage).
   * @default {no output}
   */
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
 *
 * @example
 * Two models on toy data: kNN for each, and their agreement
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import type { ImageSource } from "../data/types.ts";
 * import { evaluateRun, PixelEmbedder } from "./evaluate.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * // Toy images: even ones have a bright left column, odd ones a bright right column.
 * const toy = (n: number): ImageSource => ({
 *   name: `toy-${n}`,
 *   length: n,
 *   imageShape: [2, 2, 1],
 *   fingerprint: `toy-${n}`,
 *   batch: (indices) =>
 *     Promise.resolve(tf.tensor4d(
 *       Array.from(indices).flatMap((i) => i % 2 ? [0, 1, 0, 1] : [1, 0, 1, 0]),
 *       [indices.length, 2, 2, 1],
 *     )),
 *   close: () => {},
 * });
 * const labels = (n: number) => Int32Array.from({ length: n }, (_, i) => i % 2);
 * const pixels = new PixelEmbedder([2, 2, 1]);
 * const { evaluation, table } = await evaluateRun({
 *   models: [{ name: "teacher", model: pixels }, { name: "student", model: pixels }],
 *   pair: ["teacher", "student"],
 *   train: toy(20),
 *   trainLabels: labels(20),
 *   test: toy(10),
 *   testLabels: labels(10),
 *   transform: (x) => x,
 *   k: 5,
 *   t: 0.07,
 * });
 * console.log(table); // one line per model and measure, each with its protocol
 * console.log(evaluation.manifold?.cka); // 1: identical features
 * ```
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
  const banks = new Map<string, FeatureMatrix>();
  const lines: string[] = [];
  for (const { name, model, trainFeatures, linear: probe } of input.models) {
    const t0 = performance.now();
    const { knn, train, test } = await knnOf(model, input, trainFeatures);
    testFeatures.set(name, test);
    if (input.pair?.includes(name)) banks.set(name, train);
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
    // The paper's NN-IoU: test queries against the training bank, overlap |∩|/k.
    const ta = banks.get(tName)!, tb = banks.get(sName)!;
    const paperKs = (input.iouKs ?? [1, 5, 11, 21, 31]).filter((k) => k <= ta.n);
    const overlap = paperKs.length
      ? await nnOverlap({ train: ta, test: a }, { train: tb, test: b }, paperKs, {
        progress: false,
      })
      : {};
    const cka = await linearCka(a, b);
    const cosine = await projectedCosine(a, b, input.project);
    evaluation.manifold = {
      teacher: tName,
      student: sName,
      n: a.n,
      nnIoU: ks.map((k) => ({ k, value: iou[k], chance: chanceNnIoU(k, a.n) })),
      nTrain: ta.n,
      nnOverlap: paperKs.map((k) => ({ k, value: overlap[k], chance: k / ta.n })),
      cka,
      cosine,
    };
    lines.push(
      `NN-IoU ${paperKs.map((k) => `@${k} ${overlap[k].toFixed(3)}`).join(" ")}  ` +
        `${tName} ↔ ${sName} (the paper's: each test image's k nearest of ${ta.n} training ` +
        `images, |∩|/k; chance k/${ta.n})`,
      `NN-Jaccard ${ks.map((k) => `@${k} ${iou[k].toFixed(3)}`).join(" ")}  ${tName} ↔ ${sName} ` +
        `(test ↔ test: ${a.n} test images, |∩|/|∪|, self excluded)`,
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
  project?: (features: Tensor2D) => Tensor2D,
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
  /** The model whose features are scored, e.g. the student being trained. */
  model: Embedder;
}

/**
 * Periodic kNN during training: one model, small bank and test subsets.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import type { ImageSource } from "../data/types.ts";
 * import { PixelEmbedder, quickKnn } from "./evaluate.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * // Toy images: even ones have a bright left column, odd ones a bright right column.
 * const toy = (n: number): ImageSource => ({
 *   name: `toy-${n}`,
 *   length: n,
 *   imageShape: [2, 2, 1],
 *   fingerprint: `toy-${n}`,
 *   batch: (indices) =>
 *     Promise.resolve(tf.tensor4d(
 *       Array.from(indices).flatMap((i) => i % 2 ? [0, 1, 0, 1] : [1, 0, 1, 0]),
 *       [indices.length, 2, 2, 1],
 *     )),
 *   close: () => {},
 * });
 * const labels = (n: number) => Int32Array.from({ length: n }, (_, i) => i % 2);
 * const knn = await quickKnn({
 *   model: new PixelEmbedder([2, 2, 1]),
 *   train: toy(20),
 *   trainLabels: labels(20),
 *   test: toy(10),
 *   testLabels: labels(10),
 *   transform: (x) => x,
 *   k: 5,
 *   t: 0.07,
 * });
 * console.log(knn.top1); // 1
 * ```
 */
export async function quickKnn(input: QuickKnnInput): Promise<KnnResult> {
  return (await knnOf(input.model, input)).knn;
}
