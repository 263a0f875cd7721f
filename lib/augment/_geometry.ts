/**
 * Geometric augmentations on NHWC batches: torchvision's RandomResizedCrop box
 * sampling, bilinear resized crops, resize, centre crop and horizontal flip.
 *
 * Resampling follows torchvision on float tensors: crop the integer box, then
 * bilinear interpolation with `align_corners=False` and no antialiasing (the
 * tensor path's default in torchvision 0.14; PIL images would be antialiased
 * when shrinking). Source coordinates are computed in JS as PyTorch does,
 * clamped to the crop, and sampled with `tf.image.cropAndResize` using one
 * zero-height box per output row, then per output column (on the transposed
 * batch). One box per image would sample `align_corners`-style and blend
 * pixels outside the crop where torchvision clamps to its edge, so it would
 * differ whenever a crop is enlarged. The float32 box coordinate `y/(H−1)`
 * moves a sample by at most `(H−1)·2⁻²⁴` pixels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type CropBox, pyRound } from "./_crop_box.ts";
import type { Tensor, Tensor4D } from "../tf_types.ts";

/**
 * PyTorch's `upsample_bilinear2d` source coordinate (`align_corners=False`,
 * computed in float32 as it does), clamped to the crop, for every image and
 * output position: `start + clamp((k + ½)·len/out − ½, 0, len − 1)`.
 */
function sourcePositions(starts: number[], lengths: number[], out: number): Float64Array {
  const f = Math.fround;
  const pos = new Float64Array(starts.length * out);
  starts.forEach((start, b) => {
    const len = lengths[b];
    const scale = f(len / out);
    for (let k = 0; k < out; k++) {
      const src = Math.max(f(f(scale * (k + 0.5)) - 0.5), 0);
      pos[b * out + k] = start + Math.min(src, len - 1);
    }
  });
  return pos;
}

function isIdentity(pos: Float64Array, out: number, size: number): boolean {
  return out === size && pos.every((p, o) => p === o % out);
}

/**
 * Resample the rows of `x` at `pos` (per image, per output row) with one
 * `cropAndResize` box per output row: a zero-height box at the row's
 * position spanning the full width, sampled at `[1, W]`, so that columns are
 * copied exactly and rows interpolated linearly.
 */
function resampleRows(x: Tensor4D, pos: Float64Array, out: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  if (isIdentity(pos, out, h)) return x;
  const boxes = new Float32Array(n * out * 4);
  const index = new Int32Array(n * out);
  for (let o = 0; o < n * out; o++) {
    const y = h > 1 ? pos[o] / (h - 1) : 0;
    boxes.set([y, 0, y, 1], 4 * o);
    index[o] = Math.floor(o / out);
  }
  const rows = tf.image.cropAndResize(
    x,
    tf.tensor2d(boxes, [n * out, 4]),
    tf.tensor1d(index, "int32"),
    [1, w],
  );
  return tf.reshape(rows, [n, out, w, c]);
}

/** Resample the columns: rows' method on the batch with height and width swapped. */
function resampleCols(x: Tensor4D, pos: Float64Array, out: number): Tensor4D {
  if (isIdentity(pos, out, x.shape[2])) return x;
  const t = resampleRows(tf.transpose(x, [0, 2, 1, 3]), pos, out);
  return tf.transpose(t, [0, 2, 1, 3]);
}

/**
 * `mask ? b : a` per image, as `a·(1 − m) + b·m`: exact for finite values,
 * and much faster on wasm than `tf.where`, whose broadcast tiles the mask.
 */
export function selectImages(
  a: Tensor4D,
  b: Tensor4D,
  mask: readonly boolean[],
): Tensor4D {
  if (mask.every((v) => v)) return b;
  if (mask.every((v) => !v)) return a;
  const m = tf.tensor4d(mask.map(Number), [mask.length, 1, 1, 1]);
  return tf.add(tf.mul(a, tf.sub(1, m)), tf.mul(b, m));
}

function checkBatch(x: Tensor, what: string): asserts x is Tensor4D {
  if (x.rank !== 4) {
    throw new TypeError(
      `${what} needs a [batch, height, width, channels] tensor, got shape [${x.shape}]`,
    );
  }
  if (x.dtype !== "float32") throw new TypeError(`${what} needs float32 images, got ${x.dtype}`);
}

/** A positive-integer `[height, width]`. */
function checkSize(size: readonly number[], what: string): void {
  if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new RangeError(`${what}: size must be [height, width] positive integers, got [${size}]`);
  }
}

/**
 * Crop each image to its own box and resize it bilinearly to `size`
 * (torchvision `F.resized_crop` on float tensors, `antialias=False`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { resizedCrop } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const x = tf.ones([2, 8, 10, 3]) as tf.Tensor4D;
 * const boxes = [{ top: 0, left: 0, height: 4, width: 4 }, { top: 2, left: 3, height: 6, width: 7 }];
 * const y = resizedCrop(x, boxes, { size: [5, 5] });
 * console.log(y.shape); // [2, 5, 5, 3]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`, float32.
 * @param boxes One box per image, inside the image.
 * @param options The output `size` as `[height, width]`.
 * @returns The crops, `[B, size[0], size[1], C]`.
 */
export function resizedCrop(
  x: Tensor4D,
  boxes: readonly CropBox[],
  options: { size: readonly [number, number] },
): Tensor4D {
  checkBatch(x, "resizedCrop");
  const [n, height, width] = x.shape;
  const [oh, ow] = options.size;
  checkSize(options.size, "resizedCrop");
  if (boxes.length !== n) {
    throw new RangeError(`resizedCrop: ${boxes.length} boxes for a batch of ${n} images`);
  }
  for (const [i, b] of boxes.entries()) {
    const ok = [b.top, b.left, b.height, b.width].every(Number.isInteger) && b.top >= 0 &&
      b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= height &&
      b.left + b.width <= width;
    if (!ok) {
      throw new RangeError(
        `resizedCrop: box ${i} ${
          JSON.stringify(b)
        } is not an integer box inside ${height}×${width}`,
      );
    }
  }
  const rows = sourcePositions(boxes.map((b) => b.top), boxes.map((b) => b.height), oh);
  const cols = sourcePositions(boxes.map((b) => b.left), boxes.map((b) => b.width), ow);
  return tf.tidy(() => {
    const y = resampleCols(resampleRows(x, rows, oh), cols, ow);
    return y === x ? tf.clone(x) : y;
  });
}

/**
 * torchvision's output size for `Resize(size)`: a number sets the shorter
 * side and the longer one becomes `floor(size · long / short)`.
 *
 * @example
 * ```ts
 * import { resizeOutputSize } from "./augment.ts";
 *
 * console.log(resizeOutputSize([480, 640], 256)); // [256, 341]: the shorter side becomes 256
 * console.log(resizeOutputSize([480, 640], [224, 224])); // [224, 224]
 * ```
 *
 * @param imageSize `[height, width]` of the input.
 * @param size A shorter side, or `[height, width]`.
 * @returns The output `[height, width]`.
 */
export function resizeOutputSize(
  imageSize: readonly [number, number],
  size: number | readonly [number, number],
): [number, number] {
  if (typeof size !== "number") return [size[0], size[1]];
  const [h, w] = imageSize;
  const long = Math.floor(size * Math.max(h, w) / Math.min(h, w));
  return w <= h ? [long, size] : [size, long];
}

/**
 * Resize every image bilinearly (torchvision `F.resize`, float tensors,
 * `antialias=False`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { resize } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.ones([2, 28, 32, 1]) as tf.Tensor4D;
 * const y = resize(x, 14); // shorter side 28 → 14, aspect kept
 * console.log(y.shape); // [2, 14, 16, 1]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`.
 * @param size A shorter side (aspect kept), or `[height, width]`.
 * @returns The resized batch.
 */
export function resize(x: Tensor4D, size: number | readonly [number, number]): Tensor4D {
  checkBatch(x, "resize");
  const [n, h, w] = x.shape;
  const out = resizeOutputSize([h, w], size);
  checkSize(out, "resize");
  const box = { top: 0, left: 0, height: h, width: w };
  return resizedCrop(x, Array.from({ length: n }, () => box), { size: out });
}

/**
 * Crop the centre of every image (torchvision `F.center_crop`: offsets
 * `round((H − h) / 2)` with Python's half-to-even rounding; an image smaller
 * than the crop is zero-padded first).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { centerCrop } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.ones([2, 32, 32, 3]) as tf.Tensor4D;
 * const y = centerCrop(x, 28);
 * console.log(y.shape); // [2, 28, 28, 3]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`.
 * @param size The crop side, or `[height, width]`.
 * @returns The crops.
 */
export function centerCrop(x: Tensor4D, size: number | readonly [number, number]): Tensor4D {
  checkBatch(x, "centerCrop");
  const [ch, cw] = typeof size === "number" ? [size, size] : size;
  checkSize([ch, cw], "centerCrop");
  return tf.tidy(() => {
    let y = x;
    const [, h, w] = x.shape;
    if (ch > h || cw > w) {
      const ph = ch > h ? [Math.floor((ch - h) / 2), Math.floor((ch - h + 1) / 2)] : [0, 0];
      const pw = cw > w ? [Math.floor((cw - w) / 2), Math.floor((cw - w + 1) / 2)] : [0, 0];
      y = tf.pad(x, [[0, 0], ph as [number, number], pw as [number, number], [0, 0]]);
    }
    const [, hp, wp] = y.shape;
    const top = pyRound((hp - ch) / 2);
    const left = pyRound((wp - cw) / 2);
    return tf.slice(y, [0, top, left, 0], [-1, ch, cw, -1]);
  });
}

/**
 * Mirror the images whose flag is set, left–right.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { horizontalFlip } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.tensor4d([1, 2, 3, 1, 2, 3], [2, 1, 3, 1]); // two 1×3 images
 * const y = horizontalFlip(x, [true, false]);
 * console.log(await y.data()); // Float32Array [3, 2, 1, 1, 2, 3]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`.
 * @param flip One flag per image.
 * @returns The batch, flipped where asked.
 */
export function horizontalFlip(x: Tensor4D, flip: readonly boolean[]): Tensor4D {
  checkBatch(x, "horizontalFlip");
  if (flip.length !== x.shape[0]) {
    throw new RangeError(`horizontalFlip: ${flip.length} flags for a batch of ${x.shape[0]}`);
  }
  return tf.tidy(() => {
    if (flip.every((f) => !f)) return tf.clone(x);
    return selectImages(x, tf.image.flipLeftRight(x), flip);
  });
}

export { checkBatch };
