/**
 * The first `n` images of a source as a source of their own, for quick runs
 * and periodic evaluation.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { ImageSource } from "./types.ts";

/**
 * The first `n` images of `source` (all of them when `n` is undefined or not
 * smaller). Closing the subset does not close `source`.
 *
 * @example
 * ```ts ignore
 * const { images } = await openDataset({ name: "fashion-mnist" });
 * const quick = firstImages(images, 10_000); // quick.length === 10000
 * ```
 *
 * @throws {RangeError} When `n` is not a positive integer.
 */
export function firstImages(source: ImageSource, n: number | undefined | null): ImageSource {
  if (n === undefined || n === null || n >= source.length) return source;
  if (!(Number.isInteger(n) && n > 0)) {
    throw new RangeError(`subset size must be a positive integer, got ${n}`);
  }
  return {
    name: `${source.name}[:${n}]`,
    length: n,
    imageShape: source.imageShape,
    fingerprint: `${source.fingerprint}|first ${n}`,
    batch(indices: ArrayLike<number>): Promise<tf.Tensor4D> {
      for (let i = 0; i < indices.length; i++) {
        const j = indices[i];
        if (!(Number.isInteger(j) && j >= 0 && j < n)) {
          throw new RangeError(`image index ${j} (at ${i}) is not in [0, ${n})`);
        }
      }
      return source.batch(indices);
    },
    close(): void {},
  };
}
