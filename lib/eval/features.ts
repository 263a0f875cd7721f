/**
 * Frozen features for evaluation: one inference pass of a backbone over a
 * dataset (or some of its images), with the deterministic eval transform.
 *
 * @module
 */
import type { FeatureMatrix } from "../neighbours/types.ts";
import { computeTeacherFeatures } from "../teacher/cache.ts";
import { progress as startProgress } from "../util/progress.ts";
import type { ImageSource } from "../data/types.ts";
import type { Embedder } from "../models/types.ts";
import type { Tensor4D } from "../tf_types.ts";

/** Options for {@linkcode extractFeatures}. */
export interface ExtractFeaturesOptions {
  /**
   * The deterministic eval transform applied to each batch before the model
   * (resize, centre crop, normalise). It must not dispose its input.
   *
   * @default {the identity}
   */
  transform?: (x: Tensor4D) => Tensor4D;
  /**
   * Images per model call.
   *
   * @default {256}
   */
  batchSize?: number;
  /**
   * Which images, in this order (row `r` of the result is image
   * `indices[r]`).
   *
   * @default {every image, 0 … length − 1}
   */
  indices?: ArrayLike<number>;
  /**
   * Report progress on stderr (a bar on a terminal, else a line every ~10%).
   *
   * @default {true}
   */
  progress?: boolean;
}

/** A view of some of a source's images, renumbered `0 … indices.length − 1`. */
function subset(images: ImageSource, indices: ArrayLike<number>): ImageSource {
  const map = Int32Array.from(indices);
  for (let r = 0; r < map.length; r++) {
    if (!(Number.isInteger(indices[r]) && map[r] >= 0 && map[r] < images.length)) {
      throw new RangeError(
        `extractFeatures: indices[${r}] is ${indices[r]}, not an image of "${images.name}" ` +
          `(0..${images.length - 1})`,
      );
    }
  }
  return {
    name: images.name,
    length: map.length,
    imageShape: images.imageShape,
    fingerprint: images.fingerprint,
    batch: (rows) => images.batch(Array.from(rows, (r) => map[r])),
    close: () => {},
  };
}

/**
 * Pooled features of every image (or of `indices`), from `model.embed` in
 * inference mode (batch norm uses its running statistics and changes
 * nothing) after the eval transform, batch by batch, read back
 * asynchronously. Leaves no tensors behind. The same pass as the teacher
 * cache's (`computeTeacherFeatures`), for any backbone.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { extractFeatures } from "./features.ts";
 *
 * const images = {
 *   name: "ramp", length: 5, imageShape: [1, 1, 1] as [number, number, number], fingerprint: "ramp",
 *   batch: (ix: ArrayLike<number>) => Promise.resolve(tf.tensor4d(Array.from(ix), [ix.length, 1, 1, 1])),
 *   close: () => {},
 * };
 * const model = {
 *   featureDim: 2,
 *   embed: (x: tf.Tensor4D) => tf.reshape(tf.concat([x, tf.mul(x, 2)], 3), [-1, 2]) as tf.Tensor2D,
 * };
 * const f = await extractFeatures(model, images, { indices: [4, 1], progress: false });
 * console.log(f.n, f.dim, f.features); // 2 2 Float32Array [4, 8, 1, 2]
 * ```
 *
 * @param model The backbone (teacher or student).
 * @param images The dataset.
 * @param options Transform, batch size, which images, progress.
 * @returns `n` rows of `dim` float32 features, in image order.
 * @throws {RangeError} For a bad batch size or index, or when the model's output is not `[batch, D]`.
 */
export async function extractFeatures(
  model: Embedder,
  images: ImageSource,
  options: ExtractFeaturesOptions = {},
): Promise<FeatureMatrix> {
  const source = options.indices === undefined ? images : subset(images, options.indices);
  const n = source.length;
  if (!(Number.isInteger(n) && n > 0)) {
    throw new RangeError(`extractFeatures: no images to embed from "${images.name}" (${n})`);
  }
  const bar = (options.progress ?? true)
    ? startProgress(`features ${images.name}`, n, { unit: "images" })
    : undefined;
  let done = 0;
  try {
    const features = await computeTeacherFeatures(model, source, {
      transform: options.transform,
      batchSize: options.batchSize,
      progress: false,
      onProgress: (d) => {
        bar?.tick(d - done);
        done = d;
      },
    });
    return { features, n, dim: features.length / n };
  } catch (e) {
    if (e instanceof Error) {
      e.message = e.message.replace(/^computeTeacherFeatures/, "extractFeatures");
    }
    throw e;
  } finally {
    bar?.done();
  }
}
