/**
 * Image augmentation for distillation: the MoCo-v2 pipeline (and others) as
 * a list of plain-data steps, run on whole NHWC batches with tfjs ops on the
 * active backend.
 *
 * Steps, each following torchvision 0.14 on float tensors:
 * `randomResizedCrop`, `horizontalFlip`, `colorJitter`, `grayscale`,
 * `gaussianBlur`, `resize`, `centerCrop`, `normalize` (see
 * {@linkcode AugmentStep}). Presets: {@linkcode augmentPreset}.
 *
 * Randomness: an {@linkcode Augmenter} draws every per-image parameter in JS
 * from its seeded {@linkcode Rng} (a few numbers per image and step), then
 * runs the batch through tfjs. Draw order: steps in order; within a step,
 * images in batch order; within an image, torchvision's order:
 * - `randomResizedCrop`: per try, area fraction then log-ratio (≤ 10 tries);
 *   on acceptance, top then left.
 * - `horizontalFlip`, `grayscale`: one uniform, applied when `u < p`.
 * - `colorJitter`: one uniform (applied when `u < p`); if applied, a
 *   permutation of the 4 ops (3 `int` draws), then one factor for each of
 *   brightness, contrast, saturation, hue that is switched on.
 * - `gaussianBlur`: one uniform (applied when `u < p`); if applied, σ.
 *
 * The same seed, input shape and steps therefore give the same parameters on
 * every backend, and the same output up to each backend's float rounding.
 * Augment a batch once and feed the same tensor to teacher and student.
 *
 * Channels: 3 (RGB) or 1 (grayscale). On one channel, colour jitter applies
 * brightness and contrast (against the image mean) and skips saturation and
 * hue, and `grayscale` is the identity, as in torchvision; their random
 * draws still happen, so a seed gives the same crops for both.
 *
 * @example Augment a batch with the MoCo-v2 preset
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { Augmenter, augmentPreset, IMAGENET_MEAN, IMAGENET_STD } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const steps = augmentPreset("mocov2", { size: 16, mean: IMAGENET_MEAN, std: IMAGENET_STD });
 * const augmenter = new Augmenter(steps, { seed: 1 });
 * const images = tf.randomUniform([4, 20, 20, 3]) as tf.Tensor4D;
 * const view = augmenter.apply(images); // feed this to teacher and student
 * console.log(view.shape); // [4, 16, 16, 3]
 * tf.dispose([images, view]);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../util/rng.ts";
import type { AugmentStep, ResolvedStep } from "./types.ts";
import { resolveStep } from "./validate.ts";
import { checkBatch } from "./_geometry.ts";
import { type AugmentPlan, drawStep, runStep, type StepPlan } from "./plan.ts";
import type { Tensor4D } from "../tf_types.ts";

export {
  AUGMENT_OPS,
  type AugmentStep,
  type CenterCropStep,
  type ColorJitterStep,
  type FactorSpec,
  type GaussianBlurStep,
  type GrayscaleStep,
  type HorizontalFlipStep,
  type NormalizeStep,
  type RandomResizedCropStep,
  type ResizeStep,
  type SizeSpec,
} from "./types.ts";
export {
  type AugmentStepError,
  type AugmentStepFault,
  augmentStepFault,
  validateAugmentSteps,
} from "./validate.ts";
export {
  AUGMENT_PRESETS,
  augmentPreset,
  type AugmentPresetName,
  type AugmentPresetOptions,
  IMAGENET_MEAN,
  IMAGENET_STD,
} from "./_presets.ts";
export { centerCrop, horizontalFlip, resize, resizedCrop, resizeOutputSize } from "./_geometry.ts";
export { type CropBox, pyRound, sampleResizedCropBox } from "./_crop_box.ts";
export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  colorJitter,
  type ColorJitterParams,
  grayscale,
  LUMA_WEIGHTS,
} from "./_color.ts";
export { defaultBlurKernelSize, gaussianBlur, gaussianKernel1d, normalize } from "./_blur.ts";
export { Rng } from "../util/rng.ts";
export type { AugmentPlan, StepPlan } from "./plan.ts";

/** Options for {@linkcode Augmenter}. */
export interface AugmenterOptions {
  /** Seed of the augmenter's {@linkcode Rng}; equal seeds give equal batches. */
  seed: number;
}

/**
 * A seeded augmentation pipeline over NHWC float32 batches in `[0, 1]`.
 *
 * @example Reproducible batches and checkpointed RNG state
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { Augmenter, augmentPreset } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const aug = new Augmenter(augmentPreset("mocov2", { size: 8 }), { seed: 3 });
 * const saved = aug.state();
 * const x = tf.randomUniform([2, 10, 10, 3]) as tf.Tensor4D;
 * const a = aug.apply(x);
 * aug.setState(saved);
 * const b = aug.apply(x);
 * console.log(tf.util.arraysEqual(await a.data(), await b.data())); // true
 * tf.dispose([x, a, b]);
 * ```
 */
export class Augmenter {
  /** The validated steps, as given. */
  readonly steps: readonly AugmentStep[];
  #resolved: ResolvedStep[];
  #rng: Rng;

  /**
   * Validate the steps and seed the generator.
   *
   * @param steps Steps as plain data (e.g. from a YAML config); validated here.
   * @param options The seed.
   * @throws {TypeError} / {RangeError} For an invalid step, naming its index and key.
   */
  constructor(steps: readonly AugmentStep[], options: AugmenterOptions) {
    this.#resolved = (steps as unknown[]).map(resolveStep);
    this.steps = structuredClone(steps as AugmentStep[]);
    this.#rng = new Rng(options.seed);
  }

  /**
   * Draw the random parameters for a batch of `shape`, advancing the RNG.
   *
   * @param shape `[B, H, W, C]` of the batch.
   * @returns The plan, plain data.
   */
  sample(shape: readonly number[]): AugmentPlan {
    if (shape.length !== 4) throw new TypeError(`Augmenter needs a rank-4 shape, got [${shape}]`);
    let cur = [...shape];
    const steps: StepPlan[] = [];
    for (const step of this.#resolved) {
      const plan = drawStep(step, this.#rng, cur);
      steps.push(plan);
      if ("size" in plan) cur = [cur[0], ...plan.size, cur[3]];
    }
    const inputShape = [...shape] as AugmentPlan["inputShape"];
    return { inputShape, outputShape: cur as AugmentPlan["outputShape"], steps };
  }

  /**
   * Run a plan on a batch (no randomness; the plan fixes everything).
   *
   * @param x Images `[B, H, W, C]`, float32 in `[0, 1]`, of the plan's shape.
   * @param plan From {@linkcode Augmenter.sample}.
   * @returns A new tensor; the caller disposes it.
   */
  run(x: Tensor4D, plan: AugmentPlan): Tensor4D {
    checkBatch(x, "Augmenter");
    if (!tf.util.arraysEqual(x.shape, plan.inputShape)) {
      throw new RangeError(`Augmenter: batch shape [${x.shape}] != plan's [${plan.inputShape}]`);
    }
    return tf.tidy(() => {
      const y = plan.steps.reduce((t, s) => runStep(t, s), x);
      return y === x ? tf.clone(x) : y;
    });
  }

  /**
   * Augment a batch: {@linkcode Augmenter.sample} then {@linkcode Augmenter.run}.
   *
   * @param x Images `[B, H, W, C]`, float32 in `[0, 1]`, 1 or 3 channels.
   * @returns A new tensor; the caller disposes it.
   */
  apply(x: Tensor4D): Tensor4D {
    checkBatch(x, "Augmenter");
    return this.run(x, this.sample(x.shape));
  }

  /**
   * The RNG state, for checkpoints.
   *
   * @returns Four uint32 words (JSON-safe).
   */
  state(): number[] {
    return this.#rng.state();
  }

  /**
   * Restore an RNG state saved by {@linkcode Augmenter.state}.
   *
   * @param state Four uint32 words.
   */
  setState(state: readonly number[]): void {
    this.#rng = Rng.fromState(state);
  }
}
