/**
 * The `teacher-cache` case: the distill loop's training step under
 * `tasks/configs/default.yaml`, with the teacher's targets looked up in the
 * feature cache (`teacher.cache: true`) against the teacher run on every
 * batch (`teacher.cache: false`), plus the one-off teacher pass that builds
 * the cache.
 *
 * The step is the one `distill` runs, `trainStep` of lib/train/step.ts:
 * read the batch, augment it, take the targets (`CachedTeacher.featuresAt`,
 * or the teacher's inference-mode forward on the **augmented** view), the
 * method's loss inside `tf.variableGrads`, the optimizer, `method.update()`.
 * Each step here ends with an awaited readback of the loss, which the loop does only
 * every `train.logEvery` steps; on wasm and cpu the kernels run eagerly, so
 * that adds only the copy of one scalar.
 *
 * The two modes run side by side, each with its own student, optimizer,
 * sampler and augmenter built from the same seeds, so they see the same
 * batches and the same views; one iteration runs one step of each, and the
 * order alternates between iterations so that drift in the machine's load
 * falls on both.
 *
 * The cache build is timed as `computeTeacherFeatures` over the training
 * subset, the computation behind a cache miss in `loadOrComputeFeatures`;
 * no file is read or written. Neighbour mining is timed too: the neighbour
 * sampler needs the features and the lists in both modes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { CachedTeacher, computeTeacherFeatures } from "../lib/teacher/cache.ts";
import { openDataset } from "../lib/data/datasets.ts";
import { mineNeighbours, type Neighbours } from "../lib/neighbours/mine.ts";
import type { BatchSampler } from "../lib/data/sampler.ts";
import { firstImages } from "../lib/data/subset.ts";
import { loadConfig } from "../lib/config/config.ts";
import { evalTransform } from "../lib/eval/report_run.ts";
import { augmentSteps, createTrainer, type TrainInputs, trainStep } from "../lib/train/step.ts";
import { buildViews } from "../lib/teacher/view_cache.ts";
import { openTeacher } from "../lib/teacher/open.ts";
import { summarize } from "./_measure.ts";
import type { CaseConfig, CaseInstance } from "./_types.ts";
import { deriveTeacherCache, type TeacherCacheResult } from "./_teacher_cache_table.ts";

/** The config the case measures, relative to the repository root. */
export const TEACHER_CACHE_CONFIG = "tasks/configs/default.yaml";

const CONFIG_URL = new URL(`../${TEACHER_CACHE_CONFIG}`, import.meta.url);

/**
 * The case's sizes: the default config as it is, or (quick) its first 48
 * images in batches of 2 anchors × (1 + 3 neighbours) from the top 4.
 */
export function teacherCacheConfig(quick: boolean): CaseConfig {
  // dataDir: a folder holding the Fashion-MNIST files, looked in first ("": the config's own).
  // views: the multi-view cache's arm (teacher.views), 0 leaves it out.
  const base = { config: TEACHER_CACHE_CONFIG, dataDir: "", views: quick ? 2 : 4 };
  return quick ? { ...base, subset: 48, anchors: 2, neighbours: 3, pool: 4, k: 4 } : base;
}

/** The overrides a case config adds to the YAML (quick sizes; never a download). */
function overrides(c: CaseConfig): string[] {
  const keys: [string, string][] = [
    ["subset", "data.subset"],
    ["anchors", "data.sampler.anchors"],
    ["neighbours", "data.sampler.neighbours"],
    ["pool", "data.sampler.pool"],
    ["k", "data.sampler.k"],
  ];
  const out = ["data.train.download=false"];
  for (const [key, path] of keys) if (c[key] !== undefined) out.push(`${path}=${c[key]}`);
  if (c.dataDir) out.push(`data.train.dataDir=${c.dataDir}`, `data.test.dataDir=${c.dataDir}`);
  return out;
}

/** One training mode: its own student, head, optimizer, method, sampler and augmenter. */
interface Arm {
  /** One step of the loop; resolves once the loss is read back. */
  step(): Promise<void>;
  readonly sampler: BatchSampler;
  readonly params: number;
  dispose(): void;
}

function buildArm(inputs: TrainInputs): Arm {
  const trainer = createTrainer(inputs);
  const { sampler, student, head, optimizer, method } = trainer;
  const batches = (function* () {
    for (let epoch = 0;; epoch++) yield* sampler.epoch(epoch);
  })();
  let step = 0;
  return {
    sampler,
    params: trainer.trainable.reduce((n, v) => n + v.size, 0),
    async step() {
      const indices = batches.next().value as Int32Array;
      const { value, terms } = await trainStep(indices, step++, trainer);
      try {
        await value.data();
      } finally {
        tf.dispose([value, ...Object.values(terms)]);
      }
    },
    dispose() {
      student.dispose();
      head?.dispose();
      optimizer.dispose();
      method.dispose();
    },
  };
}

/** The one-off teacher pass behind the cache, and the neighbour mining, each timed. */
interface CacheBuild {
  /** The teacher's features of the un-augmented training images. */
  matrix: { features: Float32Array; n: number; dim: number };
  buildMs: number;
  /** The neighbour lists, when the sampler or the loss needs them. */
  lists: Neighbours | undefined;
  mineMs: number | null;
}

/** The case's training inputs that every arm shares. */
type Shared = Pick<TrainInputs, "config" | "train" | "teacher">;

/**
 * Build the case on the active backend: open the data and the teacher, time
 * the cache build and the neighbour mining, then build both modes. One
 * iteration is one online and one cached step; `teacherCache(warmup)` sums
 * them up, leaving out the first `warmup` iterations.
 */
export async function teacherCacheCase(c: CaseConfig): Promise<CaseInstance> {
  const config = await loadConfig(decodeURIComponent(CONFIG_URL.pathname), overrides(c));
  const opened = await openDataset(config.data.train);
  const toClose: { close(): void }[] = [opened.images];
  const toDispose: { dispose(): void }[] = [];
  try {
    const train = firstImages(opened.images, config.data.subset);
    const { teacher } = await openTeacher(config.teacher);
    toDispose.push(teacher);
    const shared = { config, train, teacher };
    const build = await timeCacheBuild(shared);
    const { lists } = build;

    const online = buildArm({ ...shared, lists });
    toDispose.push(online);
    const cachedArm = buildArm({ ...shared, lists, cached: new CachedTeacher(build.matrix) });
    toDispose.push(cachedArm);
    // Same-view targets at cache speed: the teacher's features of V recorded views per image.
    const v = Number(c.views ?? 0);
    let views: { arm: Arm; buildMs: number } | undefined;
    if (v > 0) {
      views = await buildViewsArm(shared, lists, v);
      toDispose.push(views.arm);
    }
    return alternatingInstance(shared, build, online, cachedArm, views && { ...views, count: v }, {
      dispose() {
        for (const d of toDispose.splice(0)) d.dispose();
        for (const x of toClose.splice(0)) x.close();
      },
    });
  } catch (e) {
    for (const d of toDispose) d.dispose();
    for (const x of toClose) x.close();
    throw e;
  }
}

/** Time `computeTeacherFeatures` over the training images, then the mining (when needed). */
async function timeCacheBuild({ config, train, teacher }: Shared): Promise<CacheBuild> {
  const { transform } = evalTransform(config);
  const t0 = performance.now();
  const features = await computeTeacherFeatures(teacher, train, { transform, progress: false });
  const buildMs = performance.now() - t0;
  const matrix = { features, n: train.length, dim: features.length / train.length };

  const s = config.data.sampler;
  const needLists = s.kind === "neighbour" || config.loss.name === "bingo";
  let lists: Neighbours | undefined;
  let mineMs: number | null = null;
  if (needLists) {
    const t1 = performance.now();
    lists = await mineNeighbours(matrix, { k: s.k, progress: false });
    mineMs = performance.now() - t1;
  }
  return { matrix, buildMs, lists, mineMs };
}

/** The multi-view arm: `count` views per image recorded (timed), then its trainer. */
async function buildViewsArm(
  shared: Shared,
  lists: Neighbours | undefined,
  count: number,
): Promise<{ arm: Arm; buildMs: number }> {
  const { config, train, teacher } = shared;
  const t2 = performance.now();
  const views = await buildViews({
    teacher,
    images: train,
    steps: augmentSteps(config),
    views: count,
    seed: config.seed,
    progress: false,
  });
  const buildMs = performance.now() - t2;
  return { arm: buildArm({ ...shared, lists, views }), buildMs };
}

/**
 * The case instance: each iteration runs one step of every arm, the order
 * alternating between iterations; `teacherCache(warmup)` sums the times up.
 */
function alternatingInstance(
  { config, train }: Shared,
  build: CacheBuild,
  online: Arm,
  cachedArm: Arm,
  views: { arm: Arm; buildMs: number; count: number } | undefined,
  { dispose }: { dispose(): void },
): CaseInstance {
  const viewsArm = views?.arm;
  const samples = { online: [] as number[], cached: [] as number[], views: [] as number[] };
  const timed = async (arm: Arm, into: number[]) => {
    const start = performance.now();
    await arm.step();
    into.push(performance.now() - start);
  };
  let calls = 0;
  const batch = online.sampler.batchSize;
  return {
    images: 2 * batch,
    params: online.params,
    async step() {
      if (calls++ % 2 === 0) {
        await timed(online, samples.online);
        await timed(cachedArm, samples.cached);
        if (viewsArm) await timed(viewsArm, samples.views);
      } else {
        if (viewsArm) await timed(viewsArm, samples.views);
        await timed(cachedArm, samples.cached);
        await timed(online, samples.online);
      }
    },
    teacherCache(warmup: number): TeacherCacheResult {
      return deriveTeacherCache({
        config: TEACHER_CACHE_CONFIG,
        subset: train.length,
        batch,
        sampler: config.data.sampler.kind,
        stepsPerEpoch: online.sampler.batchesPerEpoch,
        imagesPerEpoch: online.sampler.imagesPerEpoch,
        runSteps: config.train.steps ?? null,
        online: summarize(samples.online.slice(warmup), warmup),
        cached: summarize(samples.cached.slice(warmup), warmup),
        build: { images: train.length, ms: build.buildMs },
        mineMs: build.mineMs,
        views: views
          ? {
            count: views.count,
            step: summarize(samples.views.slice(warmup), warmup),
            build: { images: train.length * views.count, ms: views.buildMs },
          }
          : undefined,
      });
    },
    dispose,
  };
}
