/**
 * One training step of the distillation loop and the objects it updates,
 * shared by `distill` (loop.ts) and the `teacher-cache` bench case so that the
 * bench times the loop's own step rather than a copy of it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Augmenter, augmentPreset, type AugmentPresetName } from "../augment/augment.ts";
import type { CachedTeacher } from "../teacher/cache.ts";
import { pickViews, type ViewCache } from "../teacher/view_cache.ts";
import type { AugmentStep } from "../augment/augment.ts";
import type { Neighbours } from "../neighbours/mine.ts";
import { type BatchSampler, NeighbourBatchSampler, RandomBatchSampler } from "../data/sampler.ts";
import type { ImageSource } from "../data/types.ts";
import { createMethod } from "../methods/registry.ts";
import type { DistillMethod } from "../methods/types.ts";
import type { Backbone } from "../models/backbone.ts";
import { createProjectionHead, type ProjectionHead } from "../models/head.ts";
import { createModel, type ModelName } from "../models/registry.ts";
import { type Embedder, embedInference } from "../models/types.ts";
import type { DistillConfig } from "../config/config.ts";
import { createOptimizer, type Optimizer } from "../optim/optim.ts";
import { learningRate } from "../optim/schedule.ts";

/** What a run's steps read and never change: the config, the data and the teacher. */
export interface TrainInputs {
  /** The run's config. */
  config: DistillConfig;
  /** The training images (after `data.subset`). */
  train: ImageSource;
  /** The frozen teacher, run in inference mode on each augmented view unless `cached` is set. */
  teacher: Embedder;
  /**
   * The teacher's cached features of the un-augmented images: when set, the
   * targets are looked up here (the student's view differs from the teacher's).
   * @default {undefined}
   */
  cached?: CachedTeacher;
  /**
   * The multi-view cache: when set, each image trains on one of its cached
   * views (picked by `pickViews` from the seed and the step), rebuilt exactly
   * from its recorded parameters, against the teacher's features of that view.
   * @default {undefined}
   */
  views?: ViewCache;
  /**
   * Teacher-space neighbour lists, for the neighbour sampler and BINGO.
   * @default {undefined}
   */
  lists?: Neighbours;
}

/** Options for {@linkcode trainStep}: the inputs and what the step updates. */
export interface TrainStepOptions extends TrainInputs {
  /** The student backbone, run in training mode. */
  student: Backbone;
  /** The projection head to the teacher's width; undefined when the widths match. */
  head: ProjectionHead | undefined;
  /** The variables the optimizer updates: the student's, then the head's. */
  trainable: tf.Variable[];
  /** The optimizer over `trainable`. */
  optimizer: Optimizer;
  /** The augmenter; each step draws from its RNG. */
  augmenter: Augmenter;
  /** The distillation method: the loss and its state. */
  method: DistillMethod;
  /** Steps in the whole run, for the learning-rate schedule. */
  total: number;
}

/** What {@linkcode createTrainer} builds: the step's options and the batch sampler. */
export interface Trainer extends TrainStepOptions {
  /** The batch sampler, seeded from `config.seed`. */
  sampler: BatchSampler;
}

/** What one {@linkcode trainStep} returns. */
export interface TrainStepResult {
  /** The batch's loss; the caller disposes it. */
  value: tf.Scalar;
  /** The method's named terms; the caller disposes them. */
  terms: Record<string, tf.Scalar>;
  /** The learning rate the step used. */
  lr: number;
  /** Images the student saw: the batch plus BINGO's positives. */
  images: number;
}

/** The run's augmentation as steps: `data.augment` itself, or its preset resolved. */
export function augmentSteps(config: DistillConfig): AugmentStep[] {
  const a = config.data.augment;
  return Array.isArray(a) ? a : augmentPreset(a as AugmentPresetName, {
    size: config.data.size,
    mean: config.data.mean,
    std: config.data.std,
  });
}

/**
 * Build the sampler, student, head, optimizer, augmenter and method of a run
 * as `inputs.config` says, in the order that fixes their seeds and tfjs
 * variable names.
 *
 * @example
 * ```ts ignore
 * const trainer = createTrainer({ config, train, teacher });
 * ```
 */
export function createTrainer(inputs: TrainInputs): Trainer {
  const { config, train, teacher, lists } = inputs;
  const s = config.data.sampler;
  const sampler: BatchSampler = s.kind === "neighbour"
    ? new NeighbourBatchSampler(lists!, {
      anchors: s.anchors,
      neighbours: s.neighbours,
      pool: s.pool,
      seed: config.seed,
    })
    : new RandomBatchSampler(train.length, { batchSize: s.batchSize, seed: config.seed });
  const student = createModel(config.student.architecture as ModelName, {
    ...config.student.args,
    seed: config.seed,
  });
  const head = createProjectionHead(student.featureDim, teacher.featureDim, {
    hidden: config.student.headHidden,
    seed: config.seed + 1,
  });
  const trainable = [...student.trainableVariables(), ...(head?.trainableVariables() ?? [])];
  const optimizer = createOptimizer(config.optim, trainable);
  const augmenter = new Augmenter(augmentSteps(config), { seed: config.seed });
  const method = createMethod(config.loss.name, config.loss.options, {
    teacherDim: teacher.featureDim,
    datasetSize: train.length,
    seed: config.seed,
    neighbours: lists,
  });
  const total = config.train.steps ?? config.train.epochs! * sampler.batchesPerEpoch;
  return { ...inputs, sampler, student, head, trainable, optimizer, augmenter, method, total };
}

/**
 * One optimizer step on the batch `indices` at step `step` (0-based): read
 * and augment the batch, take the teacher's targets (from the cache, or the
 * teacher on the augmented view), add BINGO's positives, then the method's
 * loss under `tf.variableGrads`, the optimizer update and `method.update()`.
 * Every tensor but the returned loss and terms is disposed.
 *
 * @example
 * ```ts ignore
 * const { value, terms } = await trainStep(indices, step, trainer);
 * console.log((await value.data())[0]);
 * tf.dispose([value, ...Object.values(terms)]);
 * ```
 */
export async function trainStep(
  indices: Int32Array,
  step: number,
  options: TrainStepOptions,
): Promise<TrainStepResult> {
  const { config, train, teacher, cached, views, student, head, augmenter, method } = options;
  // The student's view and the teacher's targets: a cached view and its features, or a fresh
  // augmentation with the clean-image cache or the teacher run on it.
  const viewAndTargets = async (rows: Int32Array, stream: number) => {
    const raw = await train.batch(rows);
    try {
      if (views) {
        const v = pickViews(config.seed, 2 * step + stream, rows.length, views.views);
        return { view: views.render(raw, rows, v), target: views.featuresAt(rows, v) };
      }
      const view = augmenter.apply(raw);
      const target = cached ? cached.featuresAt(rows) : await embedInference(teacher, view);
      return { view, target };
    } finally {
      raw.dispose();
    }
  };
  const { view, target } = await viewAndTargets(indices, 0);
  // BINGO: each row's bag member, seen by both networks like the row itself.
  const extra = method.positives?.(indices, step);
  let extraView: tf.Tensor4D | undefined, extraTarget: tf.Tensor2D | undefined;
  if (extra) ({ view: extraView, target: extraTarget } = await viewAndTargets(extra, 1));
  const lr = learningRate(config.schedule, config.optim.lr, step, options.total);
  let terms: Record<string, tf.Scalar> = {};
  const project = (x: tf.Tensor4D) => {
    const features = student.embed(x, { training: true });
    return head ? head.apply(features) : features;
  };
  const { value, grads } = tf.variableGrads(() => {
    const positive = extraView && { teacher: extraTarget!, student: project(extraView) };
    const r = method.loss(target, project(view), { indices, step, positive });
    terms = Object.fromEntries(Object.entries(r.terms).map(([k, v]) => [k, tf.keep(v)]));
    return r.loss;
  }, options.trainable);
  options.optimizer.apply(grads, lr);
  method.update();
  tf.dispose([view, target, ...Object.values(grads)]);
  tf.dispose([extraView, extraTarget].filter((t) => t !== undefined));
  return { value, terms, lr, images: indices.length + (extra?.length ?? 0) };
}
