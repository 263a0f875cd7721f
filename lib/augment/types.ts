/**
 * Augmentation steps as plain data (what a YAML config holds), and the
 * internal form with every default resolved.
 *
 * @module
 */

/** A side length, or `[height, width]`. */
export type SizeSpec = number | [number, number];

/** A factor range: `v` means `[max(0, 1 − v), 1 + v]`; a pair is used as given. */
export type FactorSpec = number | [number, number];

/** Crop a random area and aspect ratio, then resize (torchvision `RandomResizedCrop`). */
export interface RandomResizedCropStep {
  /** Step name. */
  op: "randomResizedCrop";
  /** Output size: a side for a square, or `[height, width]`. */
  size: SizeSpec;
  /**
   * Range of the crop's area as a fraction of the image's. MoCo-v2 uses
   * `[0.2, 1]`; torchvision's own default is `[0.08, 1]`.
   *
   * @default {[0.2, 1]}
   */
  scale?: [number, number];
  /**
   * Range of the crop's aspect ratio (width / height), sampled log-uniformly.
   * @default {[3/4, 4/3]}
   */
  ratio?: [number, number];
}

/** Mirror left–right with probability `p`. */
export interface HorizontalFlipStep {
  /** Step name. */
  op: "horizontalFlip";
  /**
   * Probability of flipping each image.
   * @default {0.5}
   */
  p?: number;
}

/**
 * With probability `p`, jitter brightness, contrast, saturation and hue in a
 * random order (torchvision `RandomApply([ColorJitter(...)], p)`). Omitted or
 * zero strengths are skipped. On one-channel images saturation and hue are
 * skipped, as in torchvision.
 */
export interface ColorJitterStep {
  /** Step name. */
  op: "colorJitter";
  /**
   * Brightness strength: factor range `[max(0, 1 − v), 1 + v]`, or `[min, max]`.
   * @default {0}
   */
  brightness?: FactorSpec;
  /**
   * Contrast strength, as for brightness.
   * @default {0}
   */
  contrast?: FactorSpec;
  /**
   * Saturation strength, as for brightness.
   * @default {0}
   */
  saturation?: FactorSpec;
  /**
   * `v` in `[0, 0.5]` means a shift in `[−v, v]` (fractions of a turn).
   * @default {0}
   */
  hue?: number | [number, number];
  /**
   * Probability of jittering each image.
   * @default {0.8}
   */
  p?: number;
}

/** With probability `p`, replace RGB by its ITU-R 601-2 luma in all 3 channels (no-op on 1 channel). */
export interface GrayscaleStep {
  /** Step name. */
  op: "grayscale";
  /**
   * Probability of converting each image.
   * @default {0.2}
   */
  p?: number;
}

/** With probability `p`, Gaussian blur with σ drawn uniformly from `sigma`. */
export interface GaussianBlurStep {
  /** Step name. */
  op: "gaussianBlur";
  /**
   * A fixed σ, or a `[min, max]` range.
   * @default {[0.1, 2]}
   */
  sigma?: number | [number, number];
  /**
   * Probability of blurring each image.
   * @default {0.5}
   */
  p?: number;
  /**
   * Odd kernel side. The default is the odd number nearest 10 % of the image's
   * shorter side, at least 3 (23 at 224, as MoCo-style torchvision recipes use).
   */
  kernelSize?: number;
}

/** Resize: a number sets the shorter side (aspect kept, torchvision rule); a pair sets `[h, w]`. */
export interface ResizeStep {
  /** Step name. */
  op: "resize";
  /** The shorter side, or `[height, width]`. */
  size: SizeSpec;
}

/** Crop the centre (zero-padding first if the image is smaller, as torchvision does). */
export interface CenterCropStep {
  /** Step name. */
  op: "centerCrop";
  /** Crop side, or `[height, width]`. */
  size: SizeSpec;
}

/** `(x − mean) / std` per channel; one-element arrays apply to every channel. */
export interface NormalizeStep {
  /** Step name. */
  op: "normalize";
  /** Channel means (C values, or 1 for all). */
  mean: number[];
  /** Channel standard deviations, positive. */
  std: number[];
}

/** One augmentation step, as declared in a config. */
export type AugmentStep =
  | RandomResizedCropStep
  | HorizontalFlipStep
  | ColorJitterStep
  | GrayscaleStep
  | GaussianBlurStep
  | ResizeStep
  | CenterCropStep
  | NormalizeStep;

/** Every valid `op` name. */
export const AUGMENT_OPS: readonly AugmentStep["op"][] = [
  "randomResizedCrop",
  "horizontalFlip",
  "colorJitter",
  "grayscale",
  "gaussianBlur",
  "resize",
  "centerCrop",
  "normalize",
];

/** A step with every default filled in and every range made explicit. */
export type ResolvedStep =
  | {
    /** Step name. */
    op: "randomResizedCrop";
    size: [number, number];
    scale: [number, number];
    ratio: [number, number];
  }
  | { op: "horizontalFlip"; p: number }
  | {
    op: "colorJitter";
    p: number;
    /** Factor ranges in the order brightness, contrast, saturation, hue; `null` = off. */
    ranges: ([number, number] | null)[];
  }
  | { op: "grayscale"; p: number }
  | { op: "gaussianBlur"; p: number; sigma: [number, number]; kernelSize: number | null }
  | { op: "resize"; size: number | [number, number] }
  | { op: "centerCrop"; size: [number, number] }
  | { op: "normalize"; mean: number[]; std: number[] };
