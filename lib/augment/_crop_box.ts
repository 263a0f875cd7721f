/**
 * torchvision's RandomResizedCrop box sampling, and Python's rounding, which
 * it and the centre crop rely on.
 *
 * @module
 */
import type { Rng } from "../util/rng.ts";

/** An integer pixel box: rows `[top, top + height)`, columns `[left, left + width)`. */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Number of rows. */
  height: number;
  /** Number of columns. */
  width: number;
}

/**
 * Python's `round`: halves go to the even neighbour.
 *
 * @example
 * ```ts
 * import { pyRound } from "./augment.ts";
 *
 * console.log([0.5, 1.5, 2.5, -0.5, 2.6].map(pyRound)); // [0, 2, 2, -0, 3]
 * ```
 */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Sample a crop box the way torchvision's `RandomResizedCrop.get_params`
 * does: up to 10 tries of area fraction `U(scale)` and aspect ratio
 * `exp(U(log ratio))`, accepting the first whose rounded size fits, with its
 * corner uniform over the valid positions; otherwise a centre crop clamped to
 * the ratio range. Each try draws 2 numbers, an accepted one 2 more.
 *
 * @example
 * ```ts
 * import { Rng } from "../util/rng.ts";
 * import { sampleResizedCropBox } from "./augment.ts";
 *
 * const box = sampleResizedCropBox(new Rng(0), [32, 32], { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] });
 * console.log(box.height * box.width >= 0.2 * 32 * 32 * 0.9); // true (up to rounding)
 * ```
 *
 * @param rng The generator to draw from.
 * @param imageSize `[height, width]` of the image.
 * @param options Area-fraction and aspect-ratio ranges.
 * @returns The box.
 */
export function sampleResizedCropBox(
  rng: Rng,
  imageSize: readonly [number, number],
  options: { scale: readonly [number, number]; ratio: readonly [number, number] },
): CropBox {
  const [height, width] = imageSize;
  const { scale, ratio } = options;
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) {
    h = pyRound(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    w = pyRound(h * Math.max(...ratio));
  }
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}
