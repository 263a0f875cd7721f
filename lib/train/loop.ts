/**
 * The distillation loop: a frozen teacher (or its cached features), a
 * student backbone plus projection head in training mode, the configured
 * loss, optimizer and schedule; metrics, checkpoints and exact resume; and at
 * the end exports and an evaluation table.
 *
 * Exact resume: a checkpoint holds the student and head variables (batch-norm
 * statistics included), the optimizer slots, the step and epoch, the
 * sampler's position and the augmenter's RNG state, so a run killed after a
 * checkpoint and resumed computes the same updates as one that was not.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend.ts";
import { CachedTeacher, checkCacheDir, loadOrComputeFeatures } from "../teacher/cache.ts";
import { loadOrComputeViews } from "../teacher/view_cache.ts";
import { keyedImages } from "../data/manifest_cache.ts";
import { openDataset } from "../data/datasets.ts";
import type { OpenedDataset } from "../data/types.ts";
import { loadOrMineNeighbours } from "../neighbours/files.ts";
import type { BatchSampler } from "../data/sampler.ts";
import { firstImages } from "../data/subset.ts";
import type { ImageSource } from "../data/types.ts";
import { exportStudent } from "../models/export.ts";
import { createModel, type ModelName } from "../models/registry.ts";
import { checkpointVariables, loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { configHash, type DistillConfig, formatConfig } from "../config/config.ts";
import { quickKnn } from "../eval/evaluate.ts";
import {
  bankLimit,
  checkEvalK,
  evalTransform,
  evaluateStudent,
  openEvalData,
} from "../eval/report_run.ts";
import { type ReportRun, writeReport } from "../eval/report.ts";
import { openTeacher } from "../teacher/open.ts";
import {
  checkpointConfigHash,
  checkRunDir,
  MetricsLog,
  prepareRunDir,
  type RunDirState,
  type RunPaths,
  runPaths,
} from "./run_dir.ts";
import { RunLock } from "./_lock.ts";
import { sweepStaleTemps } from "../io/atomic.ts";
import { sha256 } from "../util/hash.ts";
import { TrainProgress } from "../util/progress.ts";
import { augmentSteps, createTrainer, type Trainer, type TrainInputs, trainStep } from "./step.ts";
import { disposeCheckpoint, TrainState } from "./state.ts";
import type { Embedder } from "../models/types.ts";
import type { Tensor4D } from "../tf_types.ts";
import type { TeacherFeatures } from "../teacher/cache.ts";

/** Options for {@linkcode distill}. */
export interface DistillOptions {
  /**
   * Resume from the run dir's checkpoint: always, never, or when there is one.
   * @default {"auto"}
   */
  resume?: boolean | "auto";
  /**
   * Where status lines go.
   * @default {console.error}
   */
  log?: (line: string) => void;
  /**
   * Draw a progress bar (else print lines).
   * @default {Deno.stderr.isTerminal()}
   */
  tty?: boolean;
  /**
   * Stop after this many steps of this call, as if killed (tests).
   * @default {undefined}
   */
  stopAfter?: number;
  /**
   * Run the final evaluation and exports.
   * @default {true}
   */
  finish?: boolean;
  /**
   * How the training split and the test split are opened for training and the periodic
   * kNN (tests count the opens).
   * @default {openDataset} of lib/data/datasets.ts
   */
  openDataset?: typeof openDataset;
}

/** What {@linkcode distill} did. */
export interface DistillResult {
  /** The run directory: config, checkpoint, `metrics.jsonl`, report and exports. */
  runDir: string;
  /** Steps done in all, including those before a resume. */
  steps: number;
  /** The step this call started at: 0 for a fresh run, the checkpoint's step after a resume. */
  startStep: number;
  /** Wall time of this call's training steps, in seconds (evaluation excluded). */
  trainSeconds: number;
  /** Training throughput of this call: images (one augmented view each) per second. */
  imagesPerSecond: number;
  /** The final table, when `finish` and the config has a test split. */
  table?: string;
  /** The run's report entry (also in `runDir/report.json`), likewise. */
  report?: ReportRun;
}

/** Checkpoint variables holding the method's state (queues, banks) start with this. */
const METHOD_PREFIX = "method/";

async function allFinite(vars: tf.Tensor[]): Promise<boolean> {
  return (await firstNonFinite(Object.fromEntries(vars.map((v, i) => [String(i), v])))) ===
    undefined;
}

/** The name of the first tensor holding NaN or ±Inf, if any (read back once). */
async function firstNonFinite(tensors: Record<string, tf.Tensor>): Promise<string | undefined> {
  const names = Object.keys(tensors).filter((n) => tensors[n].dtype === "float32");
  if (names.length === 0) return undefined;
  const bad = tf.tidy(() =>
    tf.stack(
      names.map((n) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(tensors[n])), "float32"))),
    )
  );
  const counts = await bad.data();
  bad.dispose();
  const i = counts.findIndex((c) => c > 0);
  return i < 0 ? undefined : names[i];
}

/**
 * A periodic kNN's sizes: the first `eval.subset` test images (at most the
 * split) against a bank of the first 5× as many training images.
 */
function periodicSizes(subset: number, trainLength: number, testLength: number) {
  const test = Math.min(subset, testLength);
  return { test, bank: Math.min(trainLength, 5 * test) };
}

/**
 * An evaluation error after training finished: the trained student is saved,
 * so the line says how to evaluate it again rather than train it again.
 */
function evaluationFailed(e: unknown, runDir: string): Error {
  const message = e instanceof Error ? e.message : String(e);
  const key = message.match(/^((?:eval|data)\.[\w.]+):/)?.[1];
  const set = key ? `--set ${key}=…` : "--set eval.…=…";
  return new Error(
    `${message}; training finished and the student is saved: evaluate it again, without ` +
      `training, with deno task eval --student ${runDir} ${set}`,
    { cause: e },
  );
}

/**
 * Distil a student from a teacher as `config` says, in `config.runDir`.
 *
 * @example
 * ```ts ignore
 * import { distill } from "./loop.ts";
 * import { loadConfig } from "../config/config.ts";
 * const result = await distill(await loadConfig("tasks/configs/default.yaml"));
 * console.log(result.table);
 * ```
 */
export async function distill(
  config: DistillConfig,
  options: DistillOptions = {},
): Promise<DistillResult> {
  const log = options.log ?? ((l: string) => console.error(l));
  const paths = runPaths(config.runDir);
  const hash = configHash(config);
  const runDir = await checkBeforeStart(config, paths, options, hash, log);
  // Every resource is released once, on every way out: an error (a teacher that does not
  // load, a refused resume), a run stopped before its end, or the end.
  const release: (() => void)[] = [];
  try {
    const data = await openTrainingData(config, options);
    release.push(() => data.close());
    const { teacher, description } = await openTeacher(config.teacher, {
      data: { mean: config.data.mean, std: config.data.std },
      log,
    });
    release.push(() => teacher.dispose());
    const { transform, key: transformKey } = evalTransform(config);
    const { features, ...targets } = await teacherCaches(
      config,
      data.train,
      teacher,
      transform,
      transformKey,
      log,
    );
    const trainer = createTrainer({ config, train: data.train, teacher, ...targets });
    const { student, head, optimizer, method } = trainer;
    release.push(() => {
      student.dispose();
      head?.dispose();
      optimizer.dispose();
      method.dispose();
    });
    const run: Run = {
      config,
      options,
      paths,
      hash,
      trainer,
      data,
      transform,
      log,
      state: new TrainState(checkpointVariables(student, head), optimizer),
      // What the checkpoint records of the data it trained on: a changed dataset refuses a resume.
      dataset: {
        count: data.train.length,
        fingerprint: await sha256(data.train.fingerprint),
      },
      step: 0,
    };
    if (runDir.resuming) await resume(run);
    const result = await train(run, runDir);
    if (result.steps < trainer.total || options.finish === false) return result;
    return await finish(run, result, description, features);
  } finally {
    for (const f of release.reverse()) f();
  }
}

/** The training data as a run holds it: the training subset, and the test split when periodic kNN needs it. */
interface TrainingData {
  opened: OpenedDataset;
  train: ImageSource;
  testSet?: OpenedDataset;
  /** Close the training data, and the test split when it is still open. */
  close(): void;
}

/** A run's parts, for the stages of {@linkcode distill}. */
interface Run {
  config: DistillConfig;
  options: DistillOptions;
  paths: RunPaths;
  hash: string;
  trainer: Trainer;
  data: TrainingData;
  /** The eval view's transform (the teacher cache's and the periodic kNN's). */
  transform: (x: Tensor4D) => Tensor4D;
  log: (line: string) => void;
  state: TrainState;
  dataset: { count: number; fingerprint: string };
  /** Steps done so far. */
  step: number;
  /** The step of the last good checkpoint, once there is one. */
  lastCheckpoint?: number;
}

/**
 * What is checked before anything expensive starts: the run dir (refused for
 * another config; written only once the data and the teacher have opened),
 * the teacher cache dir (one outside the grant would fail only once every
 * teacher feature is computed), the backend, and the student's arguments.
 */
async function checkBeforeStart(
  config: DistillConfig,
  paths: RunPaths,
  options: DistillOptions,
  hash: string,
  log: (line: string) => void,
): Promise<RunDirState> {
  // Other eval.* settings only re-evaluate the run dir.
  const runDir = await checkRunDir(paths, config, options.resume ?? "auto");
  if (config.teacher.cache || needLists(config) || config.data.test !== null) {
    await checkCacheDir(config.teacher.cacheDir);
  }
  // "auto" (the default) leaves the choice to COSS_BACKEND when it is set, as documented.
  await initBackend({ backend: config.backend === "auto" ? undefined : config.backend, log });
  log(`config (hash ${hash.slice(0, 12)}):\n${formatConfig(config)}`);
  // A student argument its model refuses fails here, not after the teacher's features.
  try {
    createModel(config.student.architecture as ModelName, config.student.args).dispose();
  } catch (e) {
    throw new Error(`student.args: ${(e as Error).message}`, { cause: e });
  }
  return runDir;
}

/** Neighbour lists: the neighbour sampler's, and BINGO's bags (teacher-space neighbours too). */
function needLists(config: DistillConfig): boolean {
  return config.data.sampler.kind === "neighbour" || config.loss.name === "bingo";
}

/**
 * Open the training split (its first `data.subset` images) and, when the
 * periodic kNN needs it, the test split, once, kept until training ends.
 * Checks that need the data run here, before the first expensive step: a
 * test split that does not open, or an eval.k the kNN banks cannot serve,
 * would otherwise fail after training.
 */
async function openTrainingData(
  config: DistillConfig,
  options: DistillOptions,
): Promise<TrainingData> {
  const open = options.openDataset ?? openDataset;
  const opened = await open(config.data.train, { key: "data.train" });
  const data: TrainingData = {
    opened,
    train: firstImages(opened.images, config.data.subset),
    close() {
      data.testSet?.images.close();
      data.testSet = undefined;
      opened.images.close();
    },
  };
  try {
    if (config.data.test && opened.evaluation) {
      data.testSet = await open(config.data.test, { key: "data.test" });
      checkEvalK(config.eval.k, data.train.length, bankLimit(config));
      if (config.train.evalEvery > 0) {
        checkEvalK(
          config.eval.k,
          periodicSizes(config.eval.subset, data.train.length, data.testSet.images.length).bank,
          `eval.subset (${config.eval.subset}; periodic evals use a bank of 5 × eval.subset ` +
            "training images), or set train.evalEvery=0",
        );
      } else {
        data.testSet.images.close();
        data.testSet = undefined;
      }
    }
  } catch (e) {
    data.close();
    throw e;
  }
  return data;
}

/**
 * The teacher's features of the eval view (its cache, and the neighbour
 * lists mined from it), or the multi-view cache: same-view targets at cache
 * speed, the teacher's features of recorded augmented views. The caches key
 * the images by their content (the manifest), as deno task prepare does.
 */
async function teacherCaches(
  config: DistillConfig,
  train: ImageSource,
  teacher: Embedder,
  transform: (x: Tensor4D) => Tensor4D,
  transformKey: string,
  log: (line: string) => void,
): Promise<Pick<TrainInputs, "cached" | "views" | "lists"> & { features?: TeacherFeatures }> {
  const multiView = config.teacher.cache && config.teacher.views > 0;
  const lists = needLists(config);
  const needFeatures = (config.teacher.cache && !multiView) || lists;
  const keyed = needFeatures || multiView
    ? await keyedImages(train, config.teacher.cacheDir, { log })
    : train;
  const features = needFeatures
    ? await loadOrComputeFeatures({
      dir: config.teacher.cacheDir,
      teacher,
      images: keyed,
      transform,
      transformKey,
      batchSize: config.teacher.batchSize,
      log,
    })
    : undefined;
  return {
    features,
    cached: config.teacher.cache && !multiView && features
      ? new CachedTeacher(features)
      : undefined,
    views: multiView
      ? await loadOrComputeViews({
        dir: config.teacher.cacheDir,
        teacher,
        images: keyed,
        steps: augmentSteps(config),
        views: config.teacher.views,
        seed: config.seed,
        dtype: config.teacher.cacheDtype,
        batchSize: config.teacher.batchSize,
        log,
      })
      : undefined,
    lists: lists
      ? await loadOrMineNeighbours({
        dir: config.teacher.cacheDir,
        features: features!,
        k: config.data.sampler.k,
        chunkSize: config.teacher.mineChunk,
        log,
      })
      : undefined,
  };
}

/**
 * Restore a run from its checkpoint: the variables, the optimizer's slots,
 * the method's state, the augmenter's and sampler's RNG states and the step.
 * A checkpoint of another config, past this run's steps, over changed
 * training data or holding NaN/Inf is refused with the way out.
 */
async function resume(run: Run): Promise<void> {
  const { paths, hash, trainer, dataset } = run;
  const ck = await loadCheckpoint(paths.checkpoint).catch((e) => {
    throw new Error(
      `${(e as Error).message}; rerun with --no-resume to start "${paths.dir}" over ` +
        "(or restore the file from a backup)",
      { cause: e },
    );
  });
  try {
    const nonFinite = await firstNonFinite({ ...ck.variables, ...ck.optimizer });
    if (nonFinite !== undefined) {
      throw new Error(
        `Cannot resume from "${paths.checkpoint}": tensor "${nonFinite}" holds NaN or Inf; ` +
          `rerun with --no-resume to start "${paths.dir}" over (or restore the file from a backup)`,
      );
    }
    const refuse = (why: string, fix: string) => {
      throw new Error(`Cannot resume from "${paths.checkpoint}": ${why}; ${fix}`);
    };
    const startOver =
      `rerun with --no-resume to start "${paths.dir}" over, or use another --run-dir`;
    const savedHash = ck.extra.configHash;
    if (typeof savedHash === "string" && checkpointConfigHash(savedHash, ck.config) !== hash) {
      refuse(
        `it was written by another config (hash ${savedHash.slice(0, 12)}, ` +
          `this one ${hash.slice(0, 12)})`,
        startOver,
      );
    }
    if (ck.step > trainer.total) {
      refuse(
        `its step ${ck.step} is past this run's ${trainer.total} steps`,
        `raise train.steps/train.epochs to at least the checkpoint's, or ${startOver}`,
      );
    }
    const savedData = ck.extra.dataset as { count?: number; fingerprint?: string } | undefined;
    if (
      savedData &&
      (savedData.count !== dataset.count || savedData.fingerprint !== dataset.fingerprint)
    ) {
      refuse(
        `the training data changed since it was written (${savedData.count} images, ` +
          `fingerprint ${
            String(savedData.fingerprint).slice(0, 12)
          }; now ${dataset.count} images, ` +
          `fingerprint ${dataset.fingerprint.slice(0, 12)})`,
        `restore data.train's files, or ${startOver}`,
      );
    }
    const methodTensors: Record<string, tf.Tensor> = {};
    const modelTensors: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(ck.variables)) {
      if (name.startsWith(METHOD_PREFIX)) methodTensors[name.slice(METHOD_PREFIX.length)] = t;
      else modelTensors[name] = t;
    }
    run.state.restore(modelTensors, ck.optimizer);
    trainer.method.setState({
      tensors: methodTensors,
      meta: (ck.extra.method ?? {}) as Record<string, number>,
    });
    const rng = ck.rng as { augmenter: number[]; sampler: ReturnType<BatchSampler["state"]> };
    trainer.augmenter.setState(rng.augmenter);
    trainer.sampler.setState(rng.sampler);
  } finally {
    disposeCheckpoint(ck);
  }
  run.step = ck.step;
  run.lastCheckpoint = ck.step;
  run.log(`resuming "${paths.dir}" from its checkpoint at step ${run.step}/${trainer.total}`);
}

/**
 * Save a checkpoint of the run at its current step; refused (the last good
 * checkpoint kept) when a weight or slot is not finite.
 */
async function save(run: Run): Promise<void> {
  const { paths, trainer, state } = run;
  const optState = state.optimizer.state();
  if (!(await allFinite([...Object.values(state.variables), ...Object.values(optState)]))) {
    tf.dispose(Object.values(optState));
    throw new Error(
      `non-finite weights at step ${run.step}; not overwriting the last good checkpoint ` +
        (run.lastCheckpoint === undefined
          ? "(none written yet)"
          : `"${paths.checkpoint}" (step ${run.lastCheckpoint})`) +
        "; lower optim.lr or set optim.clipNorm",
    );
  }
  const methodState = trainer.method.state();
  const methodVars = Object.fromEntries(
    Object.entries(methodState.tensors).map(([n, t]) => [`${METHOD_PREFIX}${n}`, t]),
  );
  await saveCheckpoint(paths.checkpoint, {
    variables: { ...state.variables, ...methodVars },
    optimizer: state.slots(optState),
    step: run.step,
    epoch: trainer.sampler.state().epoch,
    rng: { augmenter: trainer.augmenter.state(), sampler: trainer.sampler.state() },
    config: JSON.parse(JSON.stringify(run.config)),
    extra: { method: methodState.meta, configHash: run.hash, dataset: run.dataset },
  });
  tf.dispose([...Object.values(optState), ...Object.values(methodState.tensors)]);
  run.lastCheckpoint = run.step;
}

/** Periodic kNN: eval.subset test images against a bank of training images. */
async function periodic(run: Run, metrics: MetricsLog, progress: TrainProgress): Promise<void> {
  const { config, data, trainer, step } = run;
  const testSet = data.testSet;
  if (!testSet?.evaluation) return;
  const sizes = periodicSizes(config.eval.subset, data.train.length, testSet.images.length);
  const n = sizes.test;
  const bank = firstImages(data.train, sizes.bank);
  const r = await quickKnn({
    model: trainer.student,
    train: bank,
    trainLabels: data.opened.evaluation!.labels.subarray(0, bank.length),
    test: firstImages(testSet.images, n),
    testLabels: testSet.evaluation.labels.subarray(0, n),
    transform: run.transform,
    k: config.eval.k,
    t: config.eval.t,
  });
  await metrics.write({
    step,
    knn: { top1: r.top1, k: r.k, t: r.t, test: n, bank: bank.length },
  });
  progress.log(
    `step ${step}: kNN-${r.k} top-1 ${(100 * r.top1).toFixed(2)}% ` +
      `(T=${r.t}, ${n} test / ${bank.length} train images)`,
  );
}

/**
 * Train from the run's step to its end (or `stopAfter` steps): the run dir
 * is created and locked, metrics and checkpoints written as configured, and
 * the test split closed once training ends.
 */
async function train(run: Run, runDir: RunDirState): Promise<DistillResult> {
  const { config, options, paths, trainer, log } = run;
  const { sampler, total } = trainer;
  await Deno.mkdir(paths.dir, { recursive: true }).catch((e) => {
    throw new Error(`Cannot create run dir "${paths.dir}": ${(e as Error).message}`);
  });
  const lock = await RunLock.acquire(paths.dir, log);
  for (const name of await sweepStaleTemps(paths.dir)) {
    log(`removed "${paths.dir}/${name}", a temporary file left by a killed writer`);
  }
  let metrics: MetricsLog;
  try {
    const removed = await prepareRunDir(paths, config, runDir);
    if (runDir.evalChanged) {
      log(
        `eval.* differs from the settings "${paths.dir}" recorded: ` +
          (removed.length ? `removed its old report (${removed.join(", ")}); ` : "") +
          "the run is evaluated under the new ones once trained",
      );
    }
    metrics = await MetricsLog.open(paths.metrics, runDir.resuming ? run.step + 1 : undefined);
  } catch (e) {
    await lock.release();
    throw e;
  }
  const startStep = run.step;
  const epochs = Math.ceil(total / sampler.batchesPerEpoch);
  const progress = new TrainProgress(total, epochs, run.step, { tty: options.tty, write: log });
  const t0 = performance.now();
  let windowStart = performance.now();
  let windowImages = 0;
  let trainImages = 0;
  const stopAt = options.stopAfter === undefined
    ? total
    : Math.min(total, run.step + options.stopAfter);
  try {
    batches: while (run.step < stopAt) {
      const epoch = sampler.state().epoch;
      for (const indices of sampler.epoch(epoch)) {
        const { value, terms, lr, images } = await trainStep(indices, run.step, trainer);
        const step = ++run.step;
        windowImages += images;
        trainImages += images;
        const logNow = step % config.train.logEvery === 0 || step === stopAt;
        const checkpointNow = step % config.train.checkpointEvery === 0 || step === total;
        if (logNow || checkpointNow) {
          const lossValue = (await value.data())[0];
          const termValues: Record<string, number> = {};
          for (const [k, v] of Object.entries(terms)) termValues[k] = (await v.data())[0];
          if (!Number.isFinite(lossValue)) {
            throw new Error(
              `loss is ${lossValue} at step ${step}; stopping. The last good checkpoint is ` +
                (run.lastCheckpoint === undefined
                  ? "none (no checkpoint was written yet)"
                  : `"${paths.checkpoint}" (step ${run.lastCheckpoint})`) +
                "; lower optim.lr or set optim.clipNorm",
            );
          }
          const seconds = (performance.now() - windowStart) / 1000;
          const ips = windowImages / seconds;
          windowStart = performance.now();
          windowImages = 0;
          await metrics.write({
            step,
            epoch,
            loss: lossValue,
            ...termValues,
            lr,
            imagesPerSecond: ips,
            tensors: tf.memory().numTensors,
          });
          progress.update({ step, epoch, loss: lossValue, lr, imagesPerSecond: ips });
        }
        tf.dispose([value, ...Object.values(terms)]);
        if (checkpointNow) await save(run);
        if (config.train.evalEvery > 0 && step % config.train.evalEvery === 0) {
          await periodic(run, metrics, progress);
        }
        if (step >= stopAt) break batches;
      }
    }
  } finally {
    progress.stop();
    metrics.close();
    await lock.release();
    run.data.testSet?.images.close();
    run.data.testSet = undefined;
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const imagesPerSecond = trainImages / Math.max(trainSeconds, 1e-9);
  log(
    `trained steps ${startStep}→${run.step} of ${total} in ${trainSeconds.toFixed(1)} s ` +
      `(${imagesPerSecond.toFixed(0)} images/s)`,
  );
  return { runDir: paths.dir, steps: run.step, startStep, trainSeconds, imagesPerSecond };
}

/** The end of a run: the student's exports (backbone only) and the evaluation table. */
async function finish(
  run: Run,
  result: DistillResult,
  description: Record<string, unknown>,
  features: TeacherFeatures | undefined,
): Promise<DistillResult> {
  const { config, paths, trainer, log } = run;
  const { student, head, sampler, method } = trainer;
  const card = {
    inputSize: [config.data.size, config.data.size] as [number, number],
    mean: config.data.mean,
    std: config.data.std,
    teacher: description,
    recipe: JSON.parse(JSON.stringify(config)),
    overwrite: true,
  };
  await exportStudent(student, paths.exportTfjs, { ...card, format: "tfjs" });
  await exportStudent(student, paths.exportSafetensors, { ...card, format: "safetensors" });
  await exportStudent(student, paths.exportOnnx, { ...card, format: "onnx" });
  log(
    `exported the student to "${paths.exportTfjs}" (tfjs), "${paths.exportSafetensors}" ` +
      `(safetensors) and "${paths.exportOnnx}" (onnx, transformers.js folder)`,
  );
  if (!(config.data.test && run.data.opened.evaluation)) return result;
  const data = await openEvalData(config).catch((e) => {
    throw evaluationFailed(e, paths.dir);
  });
  try {
    const { run: report, table } = await evaluateStudent({
      config,
      data,
      student,
      head,
      teacher: run.trainer.teacher,
      teacherTrain: features,
      name: config.runDir.split("/").filter(Boolean).pop() ?? "run",
      source: config.runDir,
      meta: {
        student: { architecture: config.student.architecture, ...config.student.args },
        teacher: { source: config.teacher.source, name: description.name ?? description.path },
        loss: { name: config.loss.name, ...config.loss.options },
        steps: run.step,
        imagePasses: run.step * sampler.batchSize * (method.positives ? 2 : 1),
        trainSeconds: result.trainSeconds,
        imagesPerSecond: result.imagesPerSecond,
      },
      metrics: await Deno.readTextFile(paths.metrics).catch(() => ""),
      randomInit: {
        architecture: config.student.architecture,
        args: config.student.args,
        seed: config.seed,
      },
      log,
    });
    const files = await writeReport(paths.dir, {
      title: `CoSS evaluation: ${report.name}`,
      runs: [report],
      classNames: data.classNames,
    });
    log(`report: "${files.markdown}" (${files.plots.map((f) => f.split("/").pop()).join(", ")})`);
    return { ...result, table, report };
  } catch (e) {
    throw evaluationFailed(e, paths.dir);
  } finally {
    data.close();
  }
}
