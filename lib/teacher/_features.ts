/**
 * One inference pass of a teacher over a dataset (see cache.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Embedder, embedInference } from "../models/types.ts";
import { progress } from "../util/progress.ts";
import type { ImageSource } from "../data/types.ts";
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

/** Options for {@linkcode computeTeacherFeatures}. */
export interface ComputeFeaturesOptions {
  /**
   * The deterministic eval transform applied to each batch before the
   * teacher (resize, centre crop, normalise). It must not dispose its input.
   *
   * @default {the identity}
   */
  transform?: (x: Tensor4D) => Tensor4D;
  /**
   * Images per teacher call.
   *
   * @default {256}
   */
  batchSize?: number;
  /**
   * Report progress on stderr (a bar on a terminal, else a line every ~10%).
   *
   * @default {true}
   */
  progress?: boolean;
  /**
   * Called after each batch with the number of images done and the total.
   * @default {undefined}
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Run a frozen teacher once over every image, in inference mode, batch by
 * batch, and return the features row by row. Leaves no tensors behind.
 *
 * @example
 * ```ts ignore
 * import { computeTeacherFeatures } from "./cache.ts";
 * const features = await computeTeacherFeatures(teacher, images, { transform: evalTransform });
 * console.log(features.length === images.length * teacher.featureDim); // true
 * ```
 *
 * @param teacher The teacher.
 * @param images The dataset.
 * @param options Transform, batch size, progress.
 * @returns `images.length × D` float32 values, row-major.
 * @throws {RangeError} When the teacher's output is not `[batch, D]` with one D throughout.
 */
export async function computeTeacherFeatures(
  teacher: Embedder,
  images: ImageSource,
  options: ComputeFeaturesOptions = {},
): Promise<Float32Array> {
  const who = "computeTeacherFeatures";
  const n = images.length;
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`${who}: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!(Number.isInteger(n) && n > 0)) {
    throw new RangeError(`${who}: dataset "${images.name}" has ${n} images`);
  }
  const transform = options.transform;
  const bar = (options.progress ?? true)
    ? progress(`teacher features ${images.name}`, n, { unit: "images" })
    : undefined;
  let out: Float32Array | undefined;
  let dim = 0;
  try {
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const indices = new Int32Array(e - s).map((_, i) => s + i);
      const x = await images.batch(indices);
      let y: Tensor2D;
      // The transform's intermediates are freed here; only its output lives until the teacher ran.
      const input = transform ? tf.tidy(() => transform(x)) : x;
      try {
        y = await embedInference(teacher, input);
      } finally {
        if (input !== x) input.dispose();
        x.dispose();
      }
      let values: Float32Array;
      try {
        const [rows, width] = y.shape;
        if (y.rank !== 2 || rows !== e - s || (out && width !== dim)) {
          const want = out ? `[${e - s}, ${dim}]` : `[${e - s}, D]`;
          throw new RangeError(
            `${who}: teacher returned [${y.shape}] for images ${s}..${e - 1}, expected ${want}`,
          );
        }
        values = await y.data() as Float32Array;
      } finally {
        y.dispose();
      }
      if (!out) {
        dim = y.shape[1];
        out = new Float32Array(n * dim);
      }
      out.set(values, s * dim);
      bar?.tick(e - s);
      options.onProgress?.(e, n);
    }
  } finally {
    bar?.done();
  }
  return out!;
}
