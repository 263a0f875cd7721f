/**
 * Evaluate a student against its teacher under a run's config and turn the
 * result into a report entry: the one path behind the end of
 * `deno task distill` and behind `deno task eval`.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { Augmenter, augmentPreset } from "../data/augment.ts";
import { loadOrComputeFeatures } from "../data/cache.ts";
import { openDataset } from "../data/datasets.ts";
import { firstImages } from "../data/subset.ts";
import type { ImageSource, OpenedDataset } from "../data/types.ts";
import { curvesFromMetrics, reportMap, type ReportRun } from "../eval/report.ts";
import { createModel, type ModelName } from "../models/registry.ts";
import type { Embedder } from "../models/types.ts";
import type { DistillConfig } from "./config.ts";
import { type EvaluatedModel, evaluateRun, PixelEmbedder } from "./evaluate.ts";

/** The deterministic eval transform of a config: normalisation only. */
export function evalTransform(config: DistillConfig): {
  transform: (x: tf.Tensor4D) => tf.Tensor4D;
  key: string;
} {
  const steps = augmentPreset("none", { mean: config.data.mean, std: config.data.std });
  const normalize = new Augmenter(steps, { seed: 0 });
  return { transform: (x) => normalize.apply(x), key: JSON.stringify(steps) };
}

/** The data an evaluation reads: the config's training subset (the bank) and its test split. */
export interface EvalData {
  train: ImageSource;
  trainLabels: Int32Array;
  test: ImageSource;
  testLabels: Int32Array;
  classNames?: string[];
  close(): void;
}

/**
 * Open a config's training subset and test split with their labels.
 *
 * @throws {Error} When `data.test` is null or a split has no labels, naming the key.
 */
export async function openEvalData(config: DistillConfig): Promise<EvalData> {
  if (!config.data.test) {
    throw new Error("data.test: evaluation needs a labelled test split (set data.test or --data)");
  }
  const opened: OpenedDataset[] = [];
  try {
    const trainSet = await openDataset(config.data.train);
    opened.push(trainSet);
    const testSet = await openDataset(config.data.test);
    opened.push(testSet);
    for (const [key, set] of [["data.train", trainSet], ["data.test", testSet]] as const) {
      if (!set.evaluation) {
        throw new Error(`${key}: "${set.images.name}" has no labels, so it cannot be evaluated`);
      }
    }
    const train = firstImages(trainSet.images, config.data.subset);
    const test = firstImages(testSet.images, config.eval.testSubset);
    return {
      train,
      trainLabels: trainSet.evaluation!.labels.subarray(0, train.length),
      test,
      testLabels: testSet.evaluation!.labels.subarray(0, test.length),
      classNames: testSet.evaluation!.classNames ? [...testSet.evaluation!.classNames] : undefined,
      close: () => opened.forEach((d) => d.images.close()),
    };
  } catch (e) {
    opened.forEach((d) => d.images.close());
    throw e;
  }
}

/** Inputs of {@linkcode evaluateStudent}. */
export interface EvaluateStudentInput {
  /** The run's config: data, normalisation, student architecture, eval protocol, cache dir. */
  config: DistillConfig;
  data: EvalData;
  student: Embedder;
  /** The projection head, when the run has one. */
  head?: { apply(x: tf.Tensor2D): tf.Tensor2D };
  teacher: Embedder;
  /** Report entry fields. */
  name: string;
  source: string;
  meta: Record<string, unknown>;
  /** `metrics.jsonl` text, for the training curves. */
  metrics?: string;
  /** Add a row for the same architecture at its initialisation (needs a registry name). */
  randomInit?: { architecture: string; args: Record<string, unknown>; seed: number };
  log?: (line: string) => void;
}

/**
 * kNN for raw pixels, the random-init student, the student and the teacher;
 * the linear probe for student and teacher; NN-IoU, CKA and cosines for the
 * pair; the 2-D map: everything a report needs about one run.
 */
export async function evaluateStudent(
  input: EvaluateStudentInput,
): Promise<{ run: ReportRun; table: string }> {
  const { config, data } = input;
  const log = input.log ?? (() => {});
  const { transform, key } = evalTransform(config);
  // The teacher's training features through the same cache the run used.
  const teacherTrain = await loadOrComputeFeatures({
    dir: config.teacher.cacheDir,
    teacher: input.teacher,
    images: data.train,
    transform,
    transformKey: key,
    log,
  });
  const baselines = config.eval.baselines;
  const random = baselines && input.randomInit &&
    createModel(input.randomInit.architecture as ModelName, {
      ...input.randomInit.args,
      seed: input.randomInit.seed,
    });
  const models: EvaluatedModel[] = [
    ...(baselines ? [{ name: "raw pixels", model: new PixelEmbedder(data.train.imageShape) }] : []),
    ...(random ? [{ name: "student, random init", model: random }] : []),
    { name: "student", model: input.student, linear: true },
    { name: "teacher", model: input.teacher, trainFeatures: teacherTrain, linear: baselines },
  ];
  const e = config.eval;
  log(
    `evaluating "${input.name}": kNN-${e.k} (T = ${e.t}) on ${data.test.length} test / ` +
      `${data.train.length} train images` +
      (e.linear.epochs > 0 ? `, linear probe (${e.linear.epochs} epochs)` : "") +
      `, NN-IoU@${e.iouKs.join(",")}`,
  );
  try {
    const result = await evaluateRun({
      models,
      pair: ["teacher", "student"],
      project: input.head ? (x) => input.head!.apply(x) : undefined,
      iouKs: e.iouKs,
      linear: e.linear.epochs > 0 ? { ...e.linear, seed: config.seed } : null,
      train: data.train,
      trainLabels: data.trainLabels,
      test: data.test,
      testLabels: data.testLabels,
      transform,
      k: e.k,
      t: e.t,
      log,
    });
    const map = e.mapPoints > 0
      ? reportMap(
        ["teacher", "student"].map((name) => ({
          name,
          features: result.testFeatures.get(name)!,
        })),
        data.testLabels,
        e.mapPoints,
      )
      : null;
    const run: ReportRun = {
      name: input.name,
      source: input.source,
      meta: input.meta,
      evaluation: result.evaluation,
      curves: input.metrics ? curvesFromMetrics(input.metrics, input.name) : [],
      map,
    };
    return { run, table: result.table };
  } finally {
    if (random) random.dispose();
  }
}
