/**
 * Evaluate a student against its teacher under a run's config and turn the
 * result into a report entry: the one path behind the end of
 * `deno task distill` and behind `deno task eval`.
 *
 * @module
 */
import { Augmenter, augmentPreset } from "../augment/augment.ts";
import { loadOrComputeFeatures } from "../teacher/cache.ts";
import { keyedImages } from "../data/manifest_cache.ts";
import { openDataset } from "../data/datasets.ts";
import { firstImages } from "../data/subset.ts";
import type { FeatureMatrix } from "../neighbours/types.ts";
import type { ImageSource, OpenedDataset } from "../data/types.ts";
import { curvesFromMetrics, reportMap, type ReportRun } from "./report.ts";
import { formatCost, modelCost } from "./cost.ts";
import { createModel, type ModelName } from "../models/registry.ts";
import type { Embedder } from "../models/types.ts";
import type { DistillConfig } from "../config/config.ts";
import { type EvaluatedModel, evaluateRun, PixelEmbedder } from "./evaluate.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

/**
 * Refuse an `eval.k` the kNN bank cannot serve, in config terms, before any
 * feature is computed (the kNN search would refuse it only after).
 *
 * @example
 * ```ts
 * import { checkEvalK } from "./report_run.ts";
 *
 * checkEvalK(10, 256, "data.subset"); // fine
 * try {
 *   checkEvalK(300, 256, "data.subset (256)");
 * } catch (e) {
 *   console.log((e as Error).message); // eval.k: 300 neighbours, but the kNN bank holds only 256 …
 * }
 * ```
 *
 * @param k The config's `eval.k`.
 * @param bank The images in the bank.
 * @param raise What to raise instead, in config terms (e.g. `data.subset (256)`).
 * @throws {RangeError} When `k` exceeds `bank`.
 */
export function checkEvalK(k: number, bank: number, raise: string): void {
  if (k <= bank) return;
  throw new RangeError(
    `eval.k: ${k} neighbours, but the kNN bank holds only ${bank} training images; ` +
      `set eval.k ≤ ${bank} or raise ${raise}`,
  );
}

/** What bounds the final kNN bank, for {@linkcode checkEvalK}: `data.subset` or the split. */
export function bankLimit(config: DistillConfig): string {
  return config.data.subset === null
    ? "the training split's size (data.train)"
    : `data.subset (${config.data.subset})`;
}

/**
 * The deterministic eval transform of a config: normalisation only.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { DEFAULT_CONFIG } from "../config/config.ts";
 * import { evalTransform } from "./report_run.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const { transform, key } = evalTransform(DEFAULT_CONFIG);
 * const x = tf.fill([1, 28, 28, 1], 0.286) as tf.Tensor4D; // the dataset mean
 * const y = transform(x);
 * console.log((await y.data())[0], key); // 0, and the steps as JSON (the cache key)
 * tf.dispose([x, y]);
 * ```
 */
export function evalTransform(config: DistillConfig): {
  transform: (x: Tensor4D) => Tensor4D;
  key: string;
} {
  const steps = augmentPreset("none", { mean: config.data.mean, std: config.data.std });
  const normalize = new Augmenter(steps, { seed: 0 });
  return { transform: (x) => normalize.apply(x), key: JSON.stringify(steps) };
}

/** The data an evaluation reads: the config's training subset (the bank) and its test split. */
export interface EvalData {
  /** The first `data.subset` training images: the kNN bank and the linear probe's training set. */
  train: ImageSource;
  /** Class of each image of `train`, in order. */
  trainLabels: Int32Array;
  /** The first `eval.testSubset` test images, the ones scored. */
  test: ImageSource;
  /** Class of each image of `test`, in order. */
  testLabels: Int32Array;
  /** Class names by label, when the dataset has them (e.g. Fashion-MNIST's "T-shirt/top"). */
  classNames?: string[];
  /** Close both datasets' files; call it once the evaluation is done. */
  close(): void;
}

/**
 * Open a config's training subset and test split with their labels.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_CONFIG } from "../config/config.ts";
 * import { openEvalData } from "./report_run.ts";
 *
 * const data = await openEvalData(DEFAULT_CONFIG); // Fashion-MNIST: its train subset and test split
 * console.log(data.train.length, data.test.length, data.classNames?.[0]); // e.g. 60000 10000 "T-shirt/top"
 * data.close();
 * ```
 *
 * @throws {Error} When `data.test` is null or a split has no labels, naming the key.
 */
export async function openEvalData(config: DistillConfig): Promise<EvalData> {
  if (!config.data.test) {
    throw new Error("data.test: evaluation needs a labelled test split (set data.test or --data)");
  }
  const opened: OpenedDataset[] = [];
  try {
    const trainSet = await openDataset(config.data.train, { key: "data.train" });
    opened.push(trainSet);
    const testSet = await openDataset(config.data.test, { key: "data.test" });
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
  /** The bank and test images with their labels, from {@linkcode openEvalData}. */
  data: EvalData;
  /** The distilled student backbone (without its head). */
  student: Embedder;
  /**
   * The projection head, when the run has one: the cosines compare the
   * projected student with the teacher.
   *
   * @default {undefined}
   */
  head?: { apply(x: Tensor2D): Tensor2D };
  /** The frozen teacher; its training features come from the run's feature cache. */
  teacher: Embedder;
  /**
   * The teacher's features of `data.train` under the eval transform, when
   * the caller holds them already (the distillation loop does).
   *
   * @default {loaded from, or computed into, `config.teacher.cacheDir`}
   */
  teacherTrain?: FeatureMatrix;
  /** The run's short name in the report's tables and legends. */
  name: string;
  /** What was evaluated (run dir, checkpoint or export), as the report shows it. */
  source: string;
  /** Student, teacher and training facts for the report (architecture, steps, loss, ...). */
  meta: Record<string, unknown>;
  /**
   * `metrics.jsonl` text, for the training curves.
   * @default {undefined}
   */
  metrics?: string;
  /**
   * Add a row for the same architecture at its initialisation (needs a
   * registry name); only with `eval.baselines`.
   *
   * @default {undefined}
   */
  randomInit?: { architecture: string; args: Record<string, unknown>; seed: number };
  /**
   * Receives progress lines (feature extraction, the protocol).
   * @default {undefined} (quiet)
   */
  log?: (line: string) => void;
}

/**
 * kNN for raw pixels, the random-init student, the student and the teacher;
 * the linear probe for student and teacher; NN-IoU, CKA and cosines for the
 * pair; the 2-D map: everything a report needs about one run.
 *
 * @example
 * ```ts ignore
 * import { initBackend } from "../backend.ts";
 * import { loadConfig } from "../config/config.ts";
 * import { openEvalData, evaluateStudent } from "./report_run.ts";
 * import { openSavedStudent } from "./saved.ts";
 * import { openTeacher } from "../teacher/open.ts";
 *
 * await initBackend();
 * const config = await loadConfig("runs/default/config.yaml");
 * const saved = await openSavedStudent("runs/default");
 * const { teacher } = await openTeacher(config.teacher);
 * const data = await openEvalData(config);
 * const { table } = await evaluateStudent({
 *   config,
 *   data,
 *   student: saved.student,
 *   head: saved.head,
 *   teacher,
 *   name: "default",
 *   source: "runs/default",
 *   meta: {},
 * });
 * console.log(table);
 * ```
 */
export async function evaluateStudent(
  input: EvaluateStudentInput,
): Promise<{ run: ReportRun; table: string }> {
  const { config, data } = input;
  const log = input.log ?? (() => {});
  checkEvalK(config.eval.k, data.train.length, bankLimit(config));
  const { transform, key } = evalTransform(config);
  // The teacher's training features: the run's own, else through the cache the run used.
  const teacherTrain = input.teacherTrain ?? await loadOrComputeFeatures({
    dir: config.teacher.cacheDir,
    teacher: input.teacher,
    images: await keyedImages(data.train, config.teacher.cacheDir, { log }),
    transform,
    transformKey: key,
    batchSize: config.teacher.batchSize,
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
    let table = result.table;
    if (e.cost) {
      const shape = data.test.imageShape;
      log("measuring teacher and student cost (parameters, multiply-adds, latency)");
      const cost = {
        teacher: await modelCost(input.teacher, shape),
        student: await modelCost(input.student, shape),
      };
      result.evaluation.cost = cost;
      const acc = (name: string) => result.evaluation.knn.find((k) => k.name === name)?.top1;
      const [t, s] = [acc("teacher"), acc("student")];
      table += "\n\n" + formatCost(
        cost.teacher,
        cost.student,
        t != null && s != null ? { teacher: t, student: s, k: e.k } : undefined,
      );
    }
    const run: ReportRun = {
      name: input.name,
      source: input.source,
      meta: input.meta,
      evaluation: result.evaluation,
      curves: input.metrics ? curvesFromMetrics(input.metrics, input.name) : [],
      map,
    };
    return { run, table };
  } finally {
    if (random) random.dispose();
  }
}
