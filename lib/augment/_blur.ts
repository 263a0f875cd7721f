/**
 * Per-image Gaussian blur and per-channel normalisation on NHWC batches.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { checkBatch } from "./_geometry.ts";
import type { Tensor4D } from "../tf_types.ts";

/**
 * The default blur kernel side for an image: the odd number nearest 10 % of
 * its shorter side, at least 3 (23 at 224, 3 at 32 or 28).
 *
 * @example
 * ```ts
 * import { defaultBlurKernelSize } from "./augment.ts";
 *
 * console.log(defaultBlurKernelSize([224, 224]), defaultBlurKernelSize([28, 28])); // 23 3
 * ```
 *
 * @param imageSize `[height, width]`.
 * @returns An odd kernel side.
 */
export function defaultBlurKernelSize(imageSize: readonly [number, number]): number {
  const tenth = 0.1 * Math.min(imageSize[0], imageSize[1]);
  return Math.max(3, 2 * Math.round((tenth - 1) / 2) + 1);
}

/**
 * torchvision's 1-D Gaussian kernel: `exp(−x²/(2σ²))` at `x = −(k−1)/2 … (k−1)/2`,
 * normalised to sum 1. `σ = 0` gives the identity kernel (the limit).
 *
 * @example
 * ```ts
 * import { gaussianKernel1d } from "./augment.ts";
 *
 * const taps = gaussianKernel1d(1, 3);
 * console.log(taps); // Float32Array [0.274, 0.452, 0.274] (sums to 1)
 * ```
 *
 * @param sigma Standard deviation in pixels, ≥ 0.
 * @param kernelSize Odd number of taps.
 * @returns The taps.
 */
export function gaussianKernel1d(sigma: number, kernelSize: number): Float32Array {
  const half = (kernelSize - 1) / 2;
  const taps = new Float64Array(kernelSize);
  if (sigma === 0) {
    taps[half] = 1;
  } else {
    for (let i = 0; i < kernelSize; i++) taps[i] = Math.exp(-0.5 * ((i - half) / sigma) ** 2);
  }
  const sum = taps.reduce((a, b) => a + b, 0);
  return Float32Array.from(taps, (t) => t / sum);
}

/**
 * Blur each image with its own σ (torchvision `F.gaussian_blur`: separable
 * kernel, reflect padding of `k // 2`). The batch is laid out as one image
 * with `B·C` channels so that a single depthwise convolution per axis gives
 * every image its own kernel. `σ = 0` leaves an image unchanged exactly.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { gaussianBlur } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const x = tf.randomUniform([2, 8, 8, 3]) as tf.Tensor4D;
 * const y = gaussianBlur(x, [0.8, 0], { kernelSize: 3 }); // the second image is kept
 * console.log(y.shape); // [2, 8, 8, 3]
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`.
 * @param sigmas One σ ≥ 0 per image.
 * @param options `kernelSize`: odd, below twice the shorter side;
 *   default {@linkcode defaultBlurKernelSize}.
 * @returns The blurred batch.
 */
export function gaussianBlur(
  x: Tensor4D,
  sigmas: ArrayLike<number>,
  options: { kernelSize?: number } = {},
): Tensor4D {
  checkBatch(x, "gaussianBlur");
  const [n, h, w, c] = x.shape;
  const k = options.kernelSize ?? defaultBlurKernelSize([h, w]);
  if (!Number.isInteger(k) || k < 1 || k % 2 !== 1) {
    throw new RangeError(`gaussianBlur: kernelSize must be an odd positive integer, got ${k}`);
  }
  const pad = (k - 1) / 2;
  if (pad >= Math.min(h, w)) {
    throw new RangeError(
      `gaussianBlur: kernelSize ${k} needs reflect padding ${pad}, which must be below the ` +
        `image's shorter side ${Math.min(h, w)}`,
    );
  }
  if (sigmas.length !== n) throw new RangeError(`gaussianBlur: ${sigmas.length} sigmas for ${n}`);
  const taps = new Float32Array(k * n * c);
  for (let b = 0; b < n; b++) {
    const s = sigmas[b];
    if (!(s >= 0 && Number.isFinite(s))) {
      throw new RangeError(`gaussianBlur: sigma ${b} is ${s}, must be finite and ≥ 0`);
    }
    const kernel = gaussianKernel1d(s, k);
    // Filter layout [k, 1, B·C, 1]: tap t of channel (b, ch) sits at t·B·C + b·C + ch.
    for (let t = 0; t < k; t++) taps.fill(kernel[t], t * n * c + b * c, t * n * c + (b + 1) * c);
  }
  if (k === 1) return tf.clone(x);
  return tf.tidy(() => {
    const padded = tf.mirrorPad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], "reflect");
    const [, hp, wp] = padded.shape;
    const wide = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, hp, wp, n * c]) as Tensor4D;
    const vertical = tf.depthwiseConv2d(wide, tf.tensor4d(taps, [k, 1, n * c, 1]), 1, "valid");
    const both = tf.depthwiseConv2d(vertical, tf.tensor4d(taps, [1, k, n * c, 1]), 1, "valid");
    return tf.transpose(tf.reshape(both, [h, w, n, c]), [2, 0, 1, 3]) as Tensor4D;
  });
}

/**
 * `(x − mean) / std` per channel (torchvision `Normalize`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { normalize } from "./augment.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.fill([1, 2, 2, 1], 0.5) as tf.Tensor4D;
 * const y = normalize(x, { mean: [0.286], std: [0.353] }); // Fashion-MNIST's statistics
 * console.log((await y.data())[0]); // 0.606... = (0.5 − 0.286) / 0.353
 * tf.dispose([x, y]);
 * ```
 *
 * @param x Images `[B, H, W, C]`.
 * @param options `mean` and `std`, each of length `C` or 1.
 * @returns The normalised batch.
 */
export function normalize(
  x: Tensor4D,
  options: { mean: readonly number[]; std: readonly number[] },
): Tensor4D {
  checkBatch(x, "normalize");
  const c = x.shape[3];
  const { mean, std } = options;
  for (const [name, v] of [["mean", mean], ["std", std]] as const) {
    if (v.length !== c && v.length !== 1) {
      throw new RangeError(
        `normalize: ${name} has ${v.length} values for ${c} channels (give ${c} or 1)`,
      );
    }
  }
  if (!std.every((s) => s > 0)) throw new RangeError(`normalize: std must be > 0, got [${std}]`);
  return tf.tidy(() =>
    tf.div(tf.sub(x, tf.tensor1d(Float32Array.from(mean))), tf.tensor1d(Float32Array.from(std)))
  );
}
