/**
 * Read batches ahead of the consumer with a bounded queue.
 *
 * @module
 */
import type { ImageSource } from "./types.ts";
import type { Tensor4D } from "../tf_types.ts";

/** Options for {@linkcode prefetchBatches}. */
export interface PrefetchOptions {
  /**
   * How many batches may be requested ahead of the one the consumer holds:
   * at most `depth` calls to `source.batch` are in flight or finished but
   * not yet taken. Memory is bounded by `depth + 1` batches.
   *
   * @default {2}
   */
  depth?: number;
}

/**
 * Yield `source.batch(indices)` for each index list in `batches`, in order,
 * reading up to `depth` batches ahead so that decoding overlaps the
 * consumer's work. The consumer disposes each yielded tensor; batches read
 * ahead but never taken (the loop broke off, or a batch failed) are disposed
 * here.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { prefetchBatches } from "./datasets.ts";
 * import type { ImageSource } from "./types.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const source: ImageSource = {
 *   name: "zeros", length: 8, imageShape: [2, 2, 1], fingerprint: "zeros",
 *   batch: (ix) => Promise.resolve(tf.zeros([ix.length, 2, 2, 1]) as tf.Tensor4D),
 *   close: () => {},
 * };
 * for await (const x of prefetchBatches(source, [[0, 1], [2, 3], [4, 5]], { depth: 2 })) {
 *   console.log(x.shape); // [2, 2, 2, 1]
 *   x.dispose();
 * }
 * ```
 *
 * @param source Where batches come from.
 * @param batches Index lists, in the order they are wanted (may be lazy).
 * @param options The queue bound.
 * @returns The batches as float32 NHWC tensors.
 * @throws {RangeError} When `depth` is not a positive integer.
 */
export async function* prefetchBatches(
  source: ImageSource,
  batches: Iterable<ArrayLike<number>>,
  options: PrefetchOptions = {},
): AsyncGenerator<Tensor4D, void, undefined> {
  const depth = options.depth ?? 2;
  if (!Number.isInteger(depth) || depth < 1) {
    throw new RangeError(`prefetch depth must be a positive integer, got ${depth}`);
  }
  const it = batches[Symbol.iterator]();
  const queue: Promise<Tensor4D>[] = [];
  let exhausted = false;
  const fill = () => {
    while (!exhausted && queue.length < depth) {
      const next = it.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const p = source.batch(next.value);
      p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection meanwhile
      queue.push(p);
    }
  };
  try {
    fill();
    while (queue.length > 0) {
      const t = await queue.shift()!;
      fill();
      yield t;
    }
  } finally {
    for (const p of queue) p.then((t) => t.dispose(), () => {});
    await Promise.allSettled(queue);
  }
}
