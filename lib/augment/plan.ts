/**
 * Per-batch plans: drawing every step's random parameters from the RNG, and
 * running a drawn plan on a batch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../util/rng.ts";
import type { ResolvedStep } from "./types.ts";
import { centerCrop, horizontalFlip, resize, resizedCrop, resizeOutputSize } from "./_geometry.ts";
import { type CropBox, sampleResizedCropBox } from "./_crop_box.ts";
import { colorJitter, type ColorJitterParams, grayscale } from "./_color.ts";
import { defaultBlurKernelSize, gaussianBlur, normalize } from "./_blur.ts";

/** One step's drawn parameters: plain data, JSON-serialisable. */
export type StepPlan =
  | { op: "randomResizedCrop"; boxes: CropBox[]; size: [number, number] }
  | { op: "horizontalFlip"; flip: boolean[] }
  | { op: "colorJitter"; params: (ColorJitterParams | null)[] }
  | { op: "grayscale"; apply: boolean[] }
  | { op: "gaussianBlur"; sigmas: number[]; kernelSize: number }
  | { op: "resize"; size: [number, number] }
  | { op: "centerCrop"; size: [number, number] }
  | { op: "normalize"; mean: number[]; std: number[] };

/** Everything an `Augmenter` drew for one batch. */
export interface AugmentPlan {
  /** `[B, H, W, C]` the plan was drawn for. */
  inputShape: [number, number, number, number];
  /** `[B, H, W, C]` of the result. */
  outputShape: [number, number, number, number];
  /** One entry per step, in order. */
  steps: StepPlan[];
}

/** Draw one step's parameters for a batch of `shape` (see augment.ts for the order). */
export function drawStep(step: ResolvedStep, rng: Rng, shape: number[]): StepPlan {
  const [n, h, w, c] = shape;
  const each = <T>(f: () => T): T[] => Array.from({ length: n }, f);
  switch (step.op) {
    case "randomResizedCrop":
      return {
        op: step.op,
        boxes: each(() => sampleResizedCropBox(rng, [h, w], step)),
        size: [...step.size],
      };
    case "horizontalFlip":
      return { op: step.op, flip: each(() => rng.next() < step.p) };
    case "grayscale":
      return { op: step.op, apply: each(() => rng.next() < step.p) };
    case "colorJitter":
      if (c !== 1 && c !== 3) {
        throw new RangeError(`colorJitter needs 1 or 3 channels, got ${c}`);
      }
      return {
        op: step.op,
        params: each(() => {
          if (!(rng.next() < step.p)) return null;
          const p: ColorJitterParams = { order: rng.permutation(4) };
          const keys = ["brightness", "contrast", "saturation", "hue"] as const;
          step.ranges.forEach((r, i) => {
            if (r) p[keys[i]] = rng.uniform(r[0], r[1]);
          });
          return p;
        }),
      };
    case "gaussianBlur":
      return {
        op: step.op,
        sigmas: each(() => rng.next() < step.p ? rng.uniform(step.sigma[0], step.sigma[1]) : 0),
        kernelSize: step.kernelSize ?? defaultBlurKernelSize([h, w]),
      };
    case "resize":
      return { op: step.op, size: resizeOutputSize([h, w], step.size) };
    case "centerCrop":
      return { op: step.op, size: [...step.size] };
    case "normalize":
      if (step.mean.length !== 1 && step.mean.length !== c) {
        throw new RangeError(`normalize has ${step.mean.length} means for ${c}-channel images`);
      }
      return { op: step.op, mean: [...step.mean], std: [...step.std] };
  }
}

/** Run one drawn step on a batch. */
export function runStep(x: tf.Tensor4D, s: StepPlan): tf.Tensor4D {
  switch (s.op) {
    case "randomResizedCrop":
      return resizedCrop(x, s.boxes, { size: s.size });
    case "horizontalFlip":
      return horizontalFlip(x, s.flip);
    case "grayscale":
      return grayscale(x, s.apply);
    case "colorJitter":
      return colorJitter(x, s.params);
    case "gaussianBlur":
      return s.sigmas.every((v) => v === 0) ? tf.clone(x) : gaussianBlur(x, s.sigmas, s);
    case "resize":
      return resize(x, s.size);
    case "centerCrop":
      return centerCrop(x, s.size);
    case "normalize":
      return normalize(x, s);
  }
}
