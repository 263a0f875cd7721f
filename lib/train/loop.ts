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
import {
  checkpointVariables,
  loadCheckpoint,
  restoreVariables,
  saveCheckpoint,
} from "../io/checkpoint.ts";
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
  runPaths,
} from "./run_dir.ts";
import { RunLock } from "./_lock.ts";
import { sweepStaleTemps } from "../io/atomic.ts";
import { sha256 } from "../util/hash.ts";
import { TrainProgress } from "./_train_progress.ts";
import { augmentSteps, createTrainer, trainStep } from "./step.ts";

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
  // Refuse a run dir of another config before anything starts; write to it only once the
  // data and the teacher have opened. Other eval.* settings only re-evaluate it.
  const runDir = await checkRunDir(paths, config, options.resume ?? "auto");
  const { resuming } = runDir;
  const needLists = config.data.sampler.kind === "neighbour" || config.loss.name === "bingo";
  // The teacher cache dir too: a dir outside the grant would fail only once every
  // teacher feature is computed.
  if (config.teacher.cache || needLists || config.data.test !== null) {
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

  const open = options.openDataset ?? openDataset;
  const opened = await open(config.data.train, { key: "data.train" });
  const train: ImageSource = firstImages(opened.images, config.data.subset);
  // Checks that need the data, before the first expensive step: a test split that does
  // not open, or an eval.k the kNN banks cannot serve, would otherwise fail after training.
  // The split is opened once: the periodic kNN keeps it until training ends.
  let testSet: OpenedDataset | undefined;
  // Both splits are closed on every way out: an error (a teacher that does not load, a refused
  // resume), a run stopped before its end, or the end.
  using _close = {
    [Symbol.dispose]: () => {
      testSet?.images.close();
      opened.images.close();
    },
  };
  if (config.data.test && opened.evaluation) {
    testSet = await open(config.data.test, { key: "data.test" });
    checkEvalK(config.eval.k, train.length, bankLimit(config));
    if (config.train.evalEvery > 0) {
      checkEvalK(
        config.eval.k,
        periodicSizes(config.eval.subset, train.length, testSet.images.length).bank,
        `eval.subset (${config.eval.subset}; periodic evals use a bank of 5 × eval.subset ` +
          "training images), or set train.evalEvery=0",
      );
    } else {
      testSet.images.close();
      testSet = undefined;
    }
  }
  const { teacher, description } = await openTeacher(config.teacher, {
    data: { mean: config.data.mean, std: config.data.std },
    log,
  });
  const { transform, key: transformKey } = evalTransform(config);

  // Teacher features (eval view): the cache, and the neighbour lists mined from it.
  // BINGO's bags are teacher-space neighbour lists too.
  const multiView = config.teacher.cache && config.teacher.views > 0;
  const needFeatures = (config.teacher.cache && !multiView) || needLists;
  // The caches key the images by their content (the manifest), as deno task prepare does.
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
  const cached = config.teacher.cache && !multiView && features
    ? new CachedTeacher(features)
    : undefined;
  // Same-view targets at cache speed: the teacher's features of recorded augmented views.
  const views = multiView
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
    : undefined;
  const lists = needLists
    ? await loadOrMineNeighbours({
      dir: config.teacher.cacheDir,
      features: features!,
      k: config.data.sampler.k,
      chunkSize: config.teacher.mineChunk,
      log,
    })
    : undefined;

  const trainer = createTrainer({ config, train, teacher, cached, views, lists });
  const { sampler, student, head, optimizer, augmenter, method, total } = trainer;
  const epochs = Math.ceil(total / sampler.batchesPerEpoch);
  const checkpointVars = checkpointVariables(student, head);
  // Optimizer slots are keyed by tfjs variable names, which depend on creation
  // order; checkpoints store them under the stable names above instead.
  const stableName = new Map(Object.entries(checkpointVars).map(([n, v]) => [v.name, n]));
  const tfjsName = new Map(Object.entries(checkpointVars).map(([n, v]) => [n, v.name]));
  const renameSlots = (slots: Record<string, tf.Tensor>, map: Map<string, string>) =>
    Object.fromEntries(
      Object.entries(slots).map(([key, t]) => {
        const i = key.indexOf("/");
        return [
          i < 0 ? key : `${key.slice(0, i)}/${map.get(key.slice(i + 1)) ?? key.slice(i + 1)}`,
          t,
        ];
      }),
    );

  // What the checkpoint records of the data it trained on: a changed dataset refuses a resume.
  const dataset = { count: train.length, fingerprint: await sha256(train.fingerprint) };
  let step = 0;
  let lastCheckpoint: number | undefined;
  if (resuming) {
    const ck = await loadCheckpoint(paths.checkpoint).catch((e) => {
      throw new Error(
        `${(e as Error).message}; rerun with --no-resume to start "${paths.dir}" over ` +
          "(or restore the file from a backup)",
        { cause: e },
      );
    });
    const nonFinite = await firstNonFinite({ ...ck.variables, ...ck.optimizer });
    if (nonFinite !== undefined) {
      tf.dispose([...Object.values(ck.variables), ...Object.values(ck.optimizer)]);
      throw new Error(
        `Cannot resume from "${paths.checkpoint}": tensor "${nonFinite}" holds NaN or Inf; ` +
          `rerun with --no-resume to start "${paths.dir}" over (or restore the file from a backup)`,
      );
    }
    const refuse = (why: string, fix: string) => {
      tf.dispose([...Object.values(ck.variables), ...Object.values(ck.optimizer)]);
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
    if (ck.step > total) {
      refuse(
        `its step ${ck.step} is past this run's ${total} steps`,
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
    restoreVariables(checkpointVars, modelTensors);
    method.setState({
      tensors: methodTensors,
      meta: (ck.extra.method ?? {}) as Record<string, number>,
    });
    optimizer.setState(renameSlots(ck.optimizer, tfjsName));
    const rng = ck.rng as { augmenter: number[]; sampler: ReturnType<BatchSampler["state"]> };
    augmenter.setState(rng.augmenter);
    sampler.setState(rng.sampler);
    tf.dispose([...Object.values(ck.variables), ...Object.values(ck.optimizer)]);
    step = ck.step;
    lastCheckpoint = ck.step;
    log(`resuming "${paths.dir}" from its checkpoint at step ${step}/${total}`);
  }
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
    metrics = await MetricsLog.open(paths.metrics, resuming ? step + 1 : undefined);
  } catch (e) {
    await lock.release();
    throw e;
  }
  const startStep = step;

  const save = async () => {
    const optState = optimizer.state();
    if (!(await allFinite([...Object.values(checkpointVars), ...Object.values(optState)]))) {
      tf.dispose(Object.values(optState));
      throw new Error(
        `non-finite weights at step ${step}; not overwriting the last good checkpoint ` +
          (lastCheckpoint === undefined
            ? "(none written yet)"
            : `"${paths.checkpoint}" (step ${lastCheckpoint})`) +
          "; lower optim.lr or set optim.clipNorm",
      );
    }
    const methodState = method.state();
    const methodVars = Object.fromEntries(
      Object.entries(methodState.tensors).map(([n, t]) => [`${METHOD_PREFIX}${n}`, t]),
    );
    await saveCheckpoint(paths.checkpoint, {
      variables: { ...checkpointVars, ...methodVars },
      optimizer: renameSlots(optState, stableName),
      step,
      epoch: sampler.state().epoch,
      rng: { augmenter: augmenter.state(), sampler: sampler.state() },
      config: JSON.parse(JSON.stringify(config)),
      extra: { method: methodState.meta, configHash: hash, dataset },
    });
    tf.dispose([...Object.values(optState), ...Object.values(methodState.tensors)]);
    lastCheckpoint = step;
  };

  // Periodic kNN: eval.subset test images against a bank of training images.
  const periodic = async () => {
    if (!testSet?.evaluation) return;
    const sizes = periodicSizes(config.eval.subset, train.length, testSet.images.length);
    const n = sizes.test;
    const bank = firstImages(train, sizes.bank);
    const r = await quickKnn({
      model: student,
      train: bank,
      trainLabels: opened.evaluation!.labels.subarray(0, bank.length),
      test: firstImages(testSet.images, n),
      testLabels: testSet.evaluation.labels.subarray(0, n),
      transform,
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
  };

  const progress = new TrainProgress(total, epochs, step, { tty: options.tty, write: log });
  const t0 = performance.now();
  let windowStart = performance.now();
  let windowImages = 0;
  let trainImages = 0;
  const stopAt = options.stopAfter === undefined
    ? total
    : Math.min(total, step + options.stopAfter);
  try {
    batches: while (step < stopAt) {
      const epoch = sampler.state().epoch;
      for (const indices of sampler.epoch(epoch)) {
        const { value, terms, lr, images } = await trainStep(indices, step, trainer);
        step++;
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
                (lastCheckpoint === undefined
                  ? "none (no checkpoint was written yet)"
                  : `"${paths.checkpoint}" (step ${lastCheckpoint})`) +
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
        if (checkpointNow) await save();
        if (config.train.evalEvery > 0 && step % config.train.evalEvery === 0) await periodic();
        if (step >= stopAt) break batches;
      }
    }
  } finally {
    progress.stop();
    metrics.close();
    await lock.release();
    testSet?.images.close();
    testSet = undefined;
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const imagesPerSecond = trainImages / Math.max(trainSeconds, 1e-9);
  log(
    `trained steps ${startStep}→${step} of ${total} in ${trainSeconds.toFixed(1)} s ` +
      `(${imagesPerSecond.toFixed(0)} images/s)`,
  );
  const result: DistillResult = {
    runDir: paths.dir,
    steps: step,
    startStep,
    trainSeconds,
    imagesPerSecond,
  };
  if (step < total || options.finish === false) {
    student.dispose();
    head?.dispose();
    optimizer.dispose();
    method.dispose();
    teacher.dispose();
    return result;
  }

  // The end: exports (backbone only) and the evaluation table.
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
  let table: string | undefined;
  let report: ReportRun | undefined;
  if (config.data.test && opened.evaluation) {
    const data = await openEvalData(config).catch((e) => {
      throw evaluationFailed(e, paths.dir);
    });
    try {
      const { run, table: text } = await evaluateStudent({
        config,
        data,
        student,
        head,
        teacher,
        teacherTrain: features,
        name: config.runDir.split("/").filter(Boolean).pop() ?? "run",
        source: config.runDir,
        meta: {
          student: { architecture: config.student.architecture, ...config.student.args },
          teacher: { source: config.teacher.source, name: description.name ?? description.path },
          loss: { name: config.loss.name, ...config.loss.options },
          steps: step,
          imagePasses: step * sampler.batchSize * (method.positives ? 2 : 1),
          trainSeconds,
          imagesPerSecond,
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
        title: `CoSS evaluation: ${run.name}`,
        runs: [run],
        classNames: data.classNames,
      });
      log(`report: "${files.markdown}" (${files.plots.map((f) => f.split("/").pop()).join(", ")})`);
      table = text;
      report = run;
    } catch (e) {
      throw evaluationFailed(e, paths.dir);
    } finally {
      data.close();
    }
  }
  student.dispose();
  head?.dispose();
  optimizer.dispose();
  method.dispose();
  teacher.dispose();
  return { ...result, table, report };
}
