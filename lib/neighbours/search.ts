/**
 * Blocked exact k-nearest-neighbour search of one set (queries) in another
 * (the index), by cosine similarity: the search kNN evaluation runs, on the
 * same running top-k lists, column blocks and selection as
 * {@linkcode mineNeighbours} (which searches a set in itself).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { progress } from "../util/progress.ts";
import { TopKLists } from "./topk.ts";
import { checkInt, checkMatrix } from "./check.ts";
import { columnBlock, normalizeRows, selectOnHost, similarityBlock } from "./mine.ts";
import type { FeatureMatrix, Neighbours } from "./types.ts";

/** Options for {@linkcode knnSearch}. */
export interface KnnSearchOptions {
  /**
   * Neighbours kept per test image.
   *
   * @default {10}
   */
  k?: number;
  /**
   * Test rows per chunk, and training rows per block: the largest matrix
   * on the backend is `chunkSize × chunkSize`. tfjs-wasm multiplies fastest
   * while the right operand fits the CPU cache (see `mineNeighbours`).
   *
   * @default {1024}
   */
  chunkSize?: number;
  /**
   * Where each block's top-k is selected. `"host"`: read the block back and
   * scan it in JS (cheap where readback is a copy: cpu, wasm). `"backend"`:
   * `tf.topk` on the block, reading back `k` candidates per row (better on
   * a GPU). `"auto"`: host on cpu and wasm, backend elsewhere.
   *
   * @default {"auto"}
   */
  selection?: "auto" | "host" | "backend";
  /**
   * Report progress on stderr (a bar on a terminal, else a line every ~10%).
   *
   * @default {true}
   */
  progress?: boolean;
}

/** Offer one `rows × cols` block (queries × index columns from `c0`) to the queries' lists. */
async function offerQueryBlock(
  lists: TopKLists,
  q: tf.Tensor2D,
  colsT: tf.Tensor2D,
  c0: number,
  host: boolean,
): Promise<void> {
  const rows = q.shape[0];
  const cols = colsT.shape[1];
  if (host) {
    lists.offerQueryBlock(await similarityBlock(q, colsT), rows, cols, c0);
    return;
  }
  const width = Math.min(lists.k, cols);
  const out = tf.tidy(() => {
    const top = tf.topk(tf.matMul(q, colsT), width);
    return [top.values, top.indices];
  });
  let values: Float32Array, indices: Int32Array;
  try {
    [values, indices] = await Promise.all([out[0].data(), out[1].data()]) as [
      Float32Array,
      Int32Array,
    ];
  } finally {
    tf.dispose(out);
  }
  lists.offerRows(values, indices, width, 0, rows, c0, false);
}

/**
 * Each test row's top-`k` training rows by cosine similarity, computed
 * block by block on the active backend without the `test × train` matrix.
 *
 * Ties: among exactly equal similarities the lower training index is kept
 * and listed first (with `selection: "backend"`, which of several equal
 * entries `tf.topk` keeps within one block is the backend's choice). Zero
 * rows have similarity 0 to everything. Similarities are float32 dot
 * products, so near-ties may order differently from a float64 computation.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { knnSearch } from "./search.ts";
 *
 * const train = { features: new Float32Array([1, 0, 0, 1, -1, 0]), n: 3, dim: 2 };
 * const test = { features: new Float32Array([0.9, 0.2]), n: 1, dim: 2 };
 * const nn = await knnSearch(train, test, { k: 2, progress: false });
 * console.log(nn.indices); // Int32Array [0, 1]
 * ```
 *
 * @param train Training features: `n` rows of `dim` floats.
 * @param test Test features, the same `dim`.
 * @param options `k`, chunk size, selection, progress.
 * @returns For each test row, `k` training indices and cosines, most similar first.
 * @throws {TypeError} When features are not Float32Arrays.
 * @throws {RangeError} For mismatched sizes, `k` outside `[1, train.n]`, or non-finite values.
 */
export async function knnSearch(
  train: FeatureMatrix,
  test: FeatureMatrix,
  options: KnnSearchOptions = {},
): Promise<Neighbours> {
  const who = "knnSearch";
  checkMatrix(train, who, "train");
  checkMatrix(test, who, "test");
  if (train.dim !== test.dim) {
    throw new RangeError(`${who}: train has dim ${train.dim} but test has dim ${test.dim}`);
  }
  const k = options.k ?? 10;
  const chunk = options.chunkSize ?? 1024;
  checkInt(who, "k", k, 1, train.n);
  checkInt(who, "chunkSize", chunk, 1);
  const host = selectOnHost(who, options.selection);
  const dim = train.dim;
  const trainN = normalizeRows(train, who, "train");
  const testN = normalizeRows(test, who, "test");
  const indices = new Int32Array(test.n * k);
  const similarities = new Float32Array(test.n * k);
  const bar = (options.progress ?? true)
    ? progress(`kNN ${test.n}×${train.n}×${dim} k=${k}`, test.n * train.n / 1e6, {
      unit: "M similarities",
    })
    : undefined;
  // Right operands as [dim, w]: tfjs-wasm multiplies much slower with a transposed right operand
  // (docs/performance.md, "Smaller measurements behind the code").
  const blocks: tf.Tensor2D[] = [];
  try {
    for (let s = 0; s < train.n; s += chunk) {
      const e = Math.min(train.n, s + chunk);
      blocks.push(columnBlock(trainN.subarray(s * dim, e * dim), e - s, dim));
    }
    for (let s = 0; s < test.n; s += chunk) {
      const rows = Math.min(test.n, s + chunk) - s;
      const lists = new TopKLists(rows, k);
      const q = tf.tensor2d(testN.subarray(s * dim, (s + rows) * dim), [rows, dim]);
      try {
        for (let b = 0; b < blocks.length; b++) {
          await offerQueryBlock(lists, q, blocks[b], b * chunk, host);
          bar?.tick(rows * blocks[b].shape[1] / 1e6);
        }
      } finally {
        q.dispose();
      }
      indices.set(lists.indices, s * k);
      similarities.set(lists.sims, s * k);
    }
  } finally {
    tf.dispose(blocks);
    bar?.done();
  }
  return { indices, similarities, n: test.n, k };
}
