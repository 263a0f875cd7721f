/**
 * Named augmentation pipelines.
 *
 * @module
 */
import type { AugmentStep } from "./types.ts";

/** ImageNet channel means (RGB), as torchvision's pretrained models use. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations (RGB). */
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Names accepted by {@linkcode augmentPreset}. */
export type AugmentPresetName = "mocov2" | "none" | "eval";
/** Every preset name. */
export const AUGMENT_PRESETS: readonly AugmentPresetName[] = ["mocov2", "none", "eval"];

/** Options for {@linkcode augmentPreset}. */
export interface AugmentPresetOptions {
  /**
   * Output side in pixels; `mocov2` and `eval` require it, `none` ignores it.
   * @default {undefined}
   */
  size?: number;
  /**
   * Channel means for a final `normalize`; give `std` too, or neither.
   * @default {undefined} (no `normalize` step)
   */
  mean?: readonly number[];
  /**
   * Channel standard deviations for a final `normalize`.
   * @default {undefined} (no `normalize` step)
   */
  std?: readonly number[];
}

/**
 * The steps of a named pipeline.
 *
 * - `mocov2`: `randomResizedCrop(size, scale [0.2, 1])`, `colorJitter(0.4,
 *   0.4, 0.4, 0.1, p 0.8)`, `grayscale(p 0.2)`, `gaussianBlur(σ [0.1, 2],
 *   p 0.5)`, `horizontalFlip(p 0.5)`, then `normalize` (MoCo-v2's `aug_plus`).
 * - `eval`: `resize` the shorter side to `round(size / 0.875)`, `centerCrop(size)`,
 *   `normalize` (torchvision's evaluation transform: 256 → 224).
 * - `none`: only `normalize` (no steps without mean/std).
 *
 * @example
 * ```ts
 * import { augmentPreset } from "./augment.ts";
 *
 * console.log(augmentPreset("eval", { size: 224 }).map((s) => s.op)); // ["resize", "centerCrop"]
 * ```
 *
 * @param name A preset name.
 * @param options Size and normalisation.
 * @returns Fresh step objects.
 * @throws {RangeError} For an unknown name, or a missing or bad size.
 */
export function augmentPreset(
  name: AugmentPresetName,
  options: AugmentPresetOptions = {},
): AugmentStep[] {
  if (!AUGMENT_PRESETS.includes(name)) {
    throw new RangeError(
      `Unknown augment preset "${name}": expected ${AUGMENT_PRESETS.join(", ")}`,
    );
  }
  const { size, mean, std } = options;
  if ((mean === undefined) !== (std === undefined)) {
    throw new TypeError(`augmentPreset("${name}"): give both mean and std, or neither`);
  }
  const norm: AugmentStep[] = mean && std
    ? [{ op: "normalize", mean: [...mean], std: [...std] }]
    : [];
  if (name === "none") return norm;
  if (!Number.isInteger(size) || size! < 1) {
    throw new RangeError(`augmentPreset("${name}") needs a positive integer size, got ${size}`);
  }
  const s = size as number;
  if (name === "eval") {
    const short = Math.round(s / 0.875);
    return [{ op: "resize", size: short }, { op: "centerCrop", size: s }, ...norm];
  }
  return [
    { op: "randomResizedCrop", size: s, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
    { op: "colorJitter", brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 },
    { op: "grayscale", p: 0.2 },
    { op: "gaussianBlur", sigma: [0.1, 2], p: 0.5 },
    { op: "horizontalFlip", p: 0.5 },
    ...norm,
  ];
}
