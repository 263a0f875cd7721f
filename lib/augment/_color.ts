/**
 * Colour augmentations on NHWC float batches in `[0, 1]`, with one factor per
 * image, following torchvision's tensor functions (`adjust_brightness`,
 * `adjust_contrast`, `adjust_saturation`, `adjust_hue`, `rgb_to_grayscale`):
 * each result is clamped to `[0, 1]` like torchvision's `_blend`.
 *
 * Luma uses the ITU-R 601-2 weights 0.299, 0.587, 0.114 (PIL's, which the
 * MoCo-v2 pipeline used on PIL images). torchvision's tensor code writes
 * 0.2989 for red; the difference is at most 1e-4 per pixel.
 *
 * One channel: brightness and contrast apply (contrast blends with the image
 * mean); saturation and hue are skipped and grayscale is the identity, as
 * torchvision does.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkBatch, selectImages } from "./_geometry.ts";
import type { Tensor, Tensor4D } from "../tf_types.ts";

/** ITU-R 601-2 luma weights for R, G, B. */
export const LUMA_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];

function perImage(values: number | ArrayLike<number>, n: number, what: string): Float32Array {
  const v = typeof values === "number" ? new Array<number>(n).fill(values) : Array.from(values);
  if (v.length !== n) throw new RangeError(`${what}: ${v.length} factors for a batch of ${n}`);
  for (const [i, f] of v.entries()) {
    const bad = what === "adjustHue" ? !(f >= -0.5 && f <= 0.5) : !(f >= 0 && Number.isFinite(f));
    if (bad) {
      const want = what === "adjustHue" ? "in [-0.5, 0.5]" : "finite and ≥ 0";
      throw new RangeError(`${what}: factor ${i} is ${f}, must be ${want}`);
    }
  }
  return Float32Array.from(v);
}

function channels(x: Tensor4D, what: string): 1 | 3 {
  checkBatch(x, what);
  const c = x.shape[3];
  if (c !== 1 && c !== 3) {
    throw new RangeError(`${what} needs 1 or 3 channels, got ${c} (shape [${x.shape}])`);
  }
  return c;
}

/** `clamp(f·a + (1 − f)·b, 0, 1)` with `f` per image: torchvision's `_blend`. */
function blend(a: Tensor4D, b: Tensor, f: Float32Array): Tensor4D {
  const n = f.length;
  const g = Float32Array.from(f, (v) => 1 - v);
  return tf.clipByValue(
    tf.add(tf.mul(a, tf.tensor4d(f, [n, 1, 1, 1])), tf.mul(b, tf.tensor4d(g, [n, 1, 1, 1]))),
    0,
    1,
  );
}

/**
 * A 1×1 convolution with 0/1 weights: `weights[o][i]` is 1 when output
 * channel `o` copies input channel `i`. Copies are exact on every backend,
 * and on wasm far cheaper than slicing channels out or tiling.
 */
function route(x: Tensor4D, weights: readonly (readonly number[])[]): Tensor4D {
  const cin = x.shape[3];
  const k = weights.length;
  const filter = new Float32Array(cin * k);
  weights.forEach((w, o) => w.forEach((v, i) => filter[i * k + o] = v));
  return tf.conv2d(x, tf.tensor4d(filter, [1, 1, cin, k]), 1, "valid");
}

/** The R, G and B planes, each `[B, H, W, 1]`. */
function planes(x: Tensor4D): [Tensor4D, Tensor4D, Tensor4D] {
  return [route(x, [[1, 0, 0]]), route(x, [[0, 1, 0]]), route(x, [[0, 0, 1]])];
}

/** Luma `[B, H, W, 1]` of an RGB batch, as `(wr·r + wg·g) + wb·b` in float32 like torchvision. */
function luma(x: Tensor4D): Tensor4D {
  const [r, g, b] = planes(x);
  const [wr, wg, wb] = LUMA_WEIGHTS;
  return tf.add(tf.add(tf.mul(r, wr), tf.mul(g, wg)), tf.mul(b, wb));
}

/**
 * Grayscale images whose flag is set, keeping the channel count (torchvision
 * `rgb_to_grayscale(img, num_output_channels=C)`); identity on one channel.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { grayscale } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const x = tf.tensor4d([1, 0, 0], [1, 1, 1, 3]);
 * const y = grayscale(x, [true]);
 * console.log(await y.data()); // [0.299, 0.299, 0.299]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`, `C` 1 or 3.
 * @param mask One flag per image; omitted means all.
 * @returns The batch, grayscaled where asked.
 */
export function grayscale(x: Tensor4D, mask?: readonly boolean[]): Tensor4D {
  const c = channels(x, "grayscale");
  const n = x.shape[0];
  const m = mask ?? new Array<boolean>(n).fill(true);
  if (m.length !== n) throw new RangeError(`grayscale: ${m.length} flags for a batch of ${n}`);
  return tf.tidy(() => {
    if (c === 1 || m.every((v) => !v)) return tf.clone(x);
    return selectImages(x, route(luma(x), [[1], [1], [1]]), m);
  });
}

/**
 * Multiply each image by its factor and clamp to `[0, 1]`
 * (torchvision `adjust_brightness`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { adjustBrightness } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.fill([2, 1, 1, 1], 0.4) as tf.Tensor4D;
 * const y = adjustBrightness(x, [0.5, 3]); // 0.4·3 is clamped to 1
 * console.log(await y.data()); // Float32Array [0.2, 1]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]` in `[0, 1]`.
 * @param factors One non-negative factor per image, or one for all.
 * @returns The adjusted batch.
 */
export function adjustBrightness(x: Tensor4D, factors: number | ArrayLike<number>): Tensor4D {
  channels(x, "adjustBrightness");
  const f = perImage(factors, x.shape[0], "adjustBrightness");
  return tf.tidy(() => tf.clipByValue(tf.mul(x, tf.tensor4d(f, [f.length, 1, 1, 1])), 0, 1));
}

/**
 * Blend each image with the mean of its luma (of itself, for one channel)
 * and clamp (torchvision `adjust_contrast`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { adjustContrast } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.tensor4d([0.2, 0.6], [1, 1, 2, 1]); // one 1×2 gray image, mean 0.4
 * const y = adjustContrast(x, 0); // factor 0: every pixel becomes the mean
 * console.log(await y.data()); // Float32Array [0.4, 0.4]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]` in `[0, 1]`.
 * @param factors One non-negative factor per image, or one for all.
 * @returns The adjusted batch.
 */
export function adjustContrast(x: Tensor4D, factors: number | ArrayLike<number>): Tensor4D {
  const c = channels(x, "adjustContrast");
  const f = perImage(factors, x.shape[0], "adjustContrast");
  return tf.tidy(() => blend(x, tf.mean(c === 3 ? luma(x) : x, [1, 2, 3], true), f));
}

/**
 * Blend each RGB image with its luma and clamp (torchvision
 * `adjust_saturation`); identity on one channel.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { adjustSaturation } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.tensor4d([1, 0, 0], [1, 1, 1, 3]); // one red pixel
 * const y = adjustSaturation(x, 0); // factor 0: its luma, 0.299, in every channel
 * console.log(await y.data()); // Float32Array [0.299, 0.299, 0.299]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]` in `[0, 1]`.
 * @param factors One non-negative factor per image, or one for all.
 * @returns The adjusted batch.
 */
export function adjustSaturation(x: Tensor4D, factors: number | ArrayLike<number>): Tensor4D {
  const c = channels(x, "adjustSaturation");
  const f = perImage(factors, x.shape[0], "adjustSaturation");
  return tf.tidy(() => c === 1 ? tf.clone(x) : blend(x, luma(x), f));
}

/**
 * Rotate each RGB image's hue by its shift, in fractions of a turn
 * (torchvision `adjust_hue`: RGB → HSV, `h ← (h + δ) mod 1`, HSV → RGB, all in
 * tensor ops); identity on one channel.
 *
 * HSV → RGB uses the closed form `c = v − v·s·clamp(min(k, 4 − k), 0, 1)`,
 * `k = (n + 6h) mod 6` with `n` = 5, 3, 1 for R, G, B, which equals
 * torchvision's sextant table.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { adjustHue } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const red = tf.tensor4d([1, 0, 0], [1, 1, 1, 3]);
 * const green = adjustHue(red, [1 / 3]);
 * console.log(await green.data()); // [0, 1, 0] (to float rounding)
 * tf.dispose([red, green]);
 * ```
 *
 * @param x Images `[B, H, W, C]` in `[0, 1]`.
 * @param deltas One shift in `[-0.5, 0.5]` per image, or one for all.
 * @returns The adjusted batch.
 */
export function adjustHue(x: Tensor4D, deltas: number | ArrayLike<number>): Tensor4D {
  const c = channels(x, "adjustHue");
  const d = perImage(deltas, x.shape[0], "adjustHue");
  return tf.tidy(() => {
    if (c === 1) return tf.clone(x);
    // RGB → HSV as torchvision's _rgb2hsv, on [B, H, W, 1] planes.
    const [r, g, b] = planes(x);
    const maxc = tf.max(x, 3, true);
    const minc = tf.min(x, 3, true);
    const eqc = tf.equal(maxc, minc);
    const ones = tf.onesLike(maxc);
    const cr = tf.sub(maxc, minc);
    const s = tf.div(cr, tf.where(eqc, ones, maxc));
    const crd = tf.where(eqc, ones, cr);
    const rc = tf.div(tf.sub(maxc, r), crd);
    const gc = tf.div(tf.sub(maxc, g), crd);
    const bc = tf.div(tf.sub(maxc, b), crd);
    // torchvision's tie-break: red wins over green, green over blue.
    const h6 = tf.where(
      tf.equal(maxc, r),
      tf.sub(bc, gc),
      tf.where(tf.equal(maxc, g), tf.sub(tf.add(rc, 2), bc), tf.sub(tf.add(gc, 4), rc)),
    );
    const h = tf.mod(tf.add(tf.div(h6, 6), 1), 1);
    const shifted = tf.mod(tf.add(h, tf.tensor4d(d, [d.length, 1, 1, 1])), 1);
    // HSV → RGB for all three channels at once: n = 5, 3, 1 broadcast on the last axis.
    const k = tf.mod(tf.add(tf.mul(shifted, 6), tf.tensor1d([5, 3, 1])), 6);
    const w = tf.clipByValue(tf.minimum(k, tf.sub(4, k)), 0, 1);
    return tf.sub(maxc, tf.mul(tf.mul(maxc, s), w)) as Tensor4D;
  });
}

/** Per-image colour-jitter parameters; `order` lists op codes 0–3 (brightness, contrast, saturation, hue). */
export interface ColorJitterParams {
  /** The order in which the ops run, a permutation of `[0, 1, 2, 3]`. */
  order: readonly number[];
  /** Brightness factor; omitted means skipped. */
  brightness?: number;
  /** Contrast factor; omitted means skipped. */
  contrast?: number;
  /** Saturation factor; omitted means skipped (always, on one channel). */
  saturation?: number;
  /** Hue shift in `[-0.5, 0.5]`; omitted means skipped (always, on one channel). */
  hue?: number;
}

const JITTER_KEYS = ["brightness", "contrast", "saturation", "hue"] as const;
const JITTER_OPS = [adjustBrightness, adjustContrast, adjustSaturation, adjustHue];

/**
 * Colour jitter with each image's own factors and own op order, as
 * torchvision's `ColorJitter` does per image (`null` leaves an image as is).
 *
 * Batching: images are grouped by the sequence of ops they actually run
 * (at most 24 + 1 groups); each group is gathered, runs its ops in order on
 * the whole group with per-image factors, and the results are put back in
 * batch order. Every image thus gets exactly torchvision's computation, at
 * the cost of one op sequence per image (not 4 × 4 masked slots).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { colorJitter } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.randomUniform([2, 4, 4, 3]) as tf.Tensor4D;
 * const y = colorJitter(x, [
 *   { order: [3, 0, 1, 2], brightness: 1.2, contrast: 0.8, saturation: 1.1, hue: 0.05 },
 *   null, // the second image is left as is
 * ]);
 * console.log(y.shape); // [2, 4, 4, 3]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]` in `[0, 1]`, `C` 1 or 3.
 * @param params One entry per image.
 * @returns The jittered batch.
 */
export function colorJitter(
  x: Tensor4D,
  params: readonly (ColorJitterParams | null)[],
): Tensor4D {
  const c = channels(x, "colorJitter");
  const n = x.shape[0];
  if (params.length !== n) throw new RangeError(`colorJitter: ${params.length} entries for ${n}`);
  const groups = new Map<string, { ops: number[]; index: number[] }>();
  params.forEach((p, i) => {
    if (p && [...p.order].sort().join() !== "0,1,2,3") {
      throw new RangeError(
        `colorJitter: image ${i} order [${p.order}] is not a permutation of 0–3`,
      );
    }
    const ops = p
      ? p.order.filter((op) => p[JITTER_KEYS[op]] !== undefined && (c === 3 || op < 2))
      : [];
    const key = ops.join("");
    if (!groups.has(key)) groups.set(key, { ops, index: [] });
    groups.get(key)!.index.push(i);
  });
  const run = (xs: Tensor4D, ops: number[], index: number[]) =>
    ops.reduce(
      (y, op) => JITTER_OPS[op](y, index.map((i) => params[i]![JITTER_KEYS[op]]!)),
      xs,
    );
  return tf.tidy(() => {
    if (groups.size === 1) {
      const [{ ops, index }] = groups.values();
      const y = run(x, ops, index);
      return y === x ? tf.clone(x) : y;
    }
    const parts: Tensor4D[] = [];
    const order: number[] = [];
    for (const { ops, index } of groups.values()) {
      parts.push(run(tf.gather(x, tf.tensor1d(index, "int32")), ops, index));
      order.push(...index);
    }
    const inverse = new Int32Array(n);
    order.forEach((img, pos) => inverse[img] = pos);
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(inverse, "int32")) as Tensor4D;
  });
}
