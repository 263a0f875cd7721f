/**
 * Offline k-nearest-neighbour mining on cached teacher features, for CoSS's
 * neighbour-aware batches: L2-normalise the rows, then keep each row's top-k
 * cosine neighbours, itself excluded,
 *
 *   `N_k(i) = top-k_{j ≠ i} ⟨x_i/‖x_i‖, x_j/‖x_j‖⟩`.
 *
 * The similarity matrix is never built: the rows are cut into square
 * blocks of `chunkSize`, and since the matrix is symmetric only the block
 * pairs `(I, J)` with `J ≥ I` are computed, each as one matrix product on
 * the active tfjs backend. Each block `S_IJ` offers its entries to the rows
 * of `I` (by row) and to the rows of `J` (by column), and every row keeps a
 * running top-k list on the JS side. On cpu and wasm the block is read back
 * and scanned against each list's current k-th best (most entries cost two
 * comparisons); on GPU backends `tf.topk` runs over the block and its
 * transpose and only `k` candidates per row come back (`selection`).
 * Memory: the normalised features twice (a JS copy and the backend's column
 * blocks, 123 MB each at 60k × 512) plus one or two `[chunkSize, chunkSize]`
 * blocks.
 *
 * Measured (2-core x86-64, wasm SIMD, one thread): 60 000 × 512 random
 * features, k = 31, in about 71 s with `chunkSize` 2048.
 *
 * Reference: Singh & Wang, "Simple Unsupervised Knowledge Distillation With Space Similarity"
 * (ECCV 2024, arXiv:2409.13939), neighbour-aware batch construction.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { progress } from "../util/progress.ts";
import { TopKLists } from "./topk.ts";
import type { FeatureMatrix, Neighbours } from "./types.ts";
import { checkMatrix } from "./check.ts";

export type { FeatureMatrix, Neighbours };
import type { Tensor2D } from "../tf_types.ts";

/** Options for {@linkcode mineNeighbours}. */
export interface MineNeighboursOptions {
  /**
   * Neighbours kept per image. The CoSS paper stores 384 and samples from the
   * top 31.
   *
   * @default {31}
   */
  k?: number;
  /**
   * Rows (and columns) per block. tfjs-wasm's matrix multiply runs faster
   * while the right operand (`dim × chunkSize` floats) fits the CPU cache;
   * the timings per block size are in docs/performance.md ("Smaller
   * measurements behind the code").
   *
   * @default {2048}
   */
  chunkSize?: number;
  /**
   * Report progress on stderr (a bar on a terminal, else a line every ~10%).
   *
   * @default {true}
   */
  progress?: boolean;
  /**
   * Where the top-k of each similarity block is selected. `"host"`: read
   * the block back and scan it in JS against each list's current k-th best
   * (cheap where readback is a memory copy: cpu, wasm; exact ties go to the
   * lower index). `"backend"`: `tf.topk` over the block and its transpose,
   * reading back only `k` candidates per row (better on a GPU). `"auto"`:
   * host on cpu and wasm, backend elsewhere.
   *
   * @default {"auto"}
   */
  selection?: "auto" | "host" | "backend";
  /**
   * Called after each row block with the number of rows whose lists are final, and the total.
   * @default {undefined}
   */
  onProgress?: (rowsDone: number, rows: number) => void;
}

/**
 * Whether top-k selection runs in JavaScript over read-back blocks (`"host"`,
 * and `"auto"` on cpu/wasm, where reading back is a copy) rather than with
 * `tf.topk` on the backend. Throws RangeError naming `who` for another value.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { selectOnHost } from "./mine.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * console.log(selectOnHost("example"), selectOnHost("example", "backend")); // true false
 * ```
 */
export function selectOnHost(who: string, selection: string = "auto"): boolean {
  if (!["auto", "host", "backend"].includes(selection)) {
    throw new RangeError(
      `${who}: selection must be "auto", "host" or "backend", got "${selection}"`,
    );
  }
  return selection === "host" ||
    (selection === "auto" && ["cpu", "wasm"].includes(tf.getBackend()));
}

/**
 * Rows scaled to unit length (zero rows stay zero); sums in double precision.
 * Errors name `who` and, when given, which matrix (`what`).
 *
 * @example
 * ```ts
 * import { normalizeRows } from "./mine.ts";
 *
 * const unit = normalizeRows({ features: new Float32Array([3, 4, 0, 0]), n: 2, dim: 2 }, "example");
 * console.log(unit); // Float32Array [0.6, 0.8, 0, 0]: the zero row stays zero
 * ```
 */
export function normalizeRows(m: FeatureMatrix, who: string, what?: string): Float32Array {
  const { features, n, dim } = m;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const base = i * dim;
    let sq = 0;
    for (let j = base; j < base + dim; j++) sq += features[j] * features[j];
    if (!Number.isFinite(sq)) {
      throw new RangeError(
        what ? `${who}: ${what} row ${i} is not finite` : `${who}: row ${i} has non-finite values`,
      );
    }
    const scale = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let j = base; j < base + dim; j++) out[j] = features[j] * scale;
  }
  return out;
}

/**
 * The right-hand operand of a similarity block: `rows` normalised feature
 * rows, transposed to `[dim, rows]` (tfjs-wasm multiplies much slower with a
 * transposed right operand: docs/performance.md, "Smaller measurements behind
 * the code"). `mineNeighbours` and the sharded mine of
 * `deno task prepare` build every block from this and
 * {@linkcode similarityBlock}, so their similarities agree bit for bit.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { columnBlock } from "./mine.ts";
 * const t = columnBlock(new Float32Array([1, 0, 0, 1]), 2, 2);
 * console.log(t.shape); // [2, 2]
 * t.dispose();
 * ```
 */
export function columnBlock(normed: Float32Array, rows: number, dim: number): Tensor2D {
  return tf.tidy(() => tf.transpose(tf.tensor2d(normed, [rows, dim])));
}

/**
 * The similarities of the rows of `q` (`[rows, dim]`) with the columns of
 * `colsT` (a {@linkcode columnBlock}), read back row-major; nothing is left on the backend.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { columnBlock, similarityBlock } from "./mine.ts";
 * const rows = new Float32Array([1, 0, 0, 1]);
 * const q = tf.tensor2d(rows, [2, 2]), colsT = columnBlock(rows, 2, 2);
 * console.log(await similarityBlock(q, colsT)); // Float32Array [1, 0, 0, 1]
 * tf.dispose([q, colsT]);
 * ```
 */
export async function similarityBlock(q: Tensor2D, colsT: Tensor2D): Promise<Float32Array> {
  const sims = tf.matMul(q, colsT);
  try {
    return await sims.data() as Float32Array;
  } finally {
    sims.dispose();
  }
}

/**
 * One block pair: similarities of rows `r0..` (`q`) with columns `c0..`
 * (`colsT`, transposed), offered to both sides' lists. Host selection scans
 * the block in JS; backend selection takes `tf.topk` over the rows (those
 * rows' candidates among the columns) and over the transpose (the columns'
 * candidates among the rows; skipped on the diagonal, where it would repeat
 * the first).
 */
async function offerPair(
  lists: TopKLists,
  q: tf.Tensor2D,
  colsT: tf.Tensor2D,
  r0: number,
  c0: number,
  host: boolean,
): Promise<void> {
  const k = lists.k;
  const rows = q.shape[0];
  const cols = colsT.shape[1];
  const diagonal = r0 === c0;
  if (host) {
    lists.offerBlock(await similarityBlock(q, colsT), rows, cols, r0, c0);
    return;
  }
  const out = tf.tidy(() => {
    const sims = tf.matMul(q, colsT); // [rows, cols]
    // On the diagonal self is among the k+1 best unless k+1 others tie or beat it.
    const byRow = tf.topk(sims, Math.min(diagonal ? k + 1 : k, cols));
    if (diagonal) return [byRow.values, byRow.indices];
    const byCol = tf.topk(tf.transpose(sims), Math.min(k, rows));
    return [byRow.values, byRow.indices, byCol.values, byCol.indices];
  });
  let data: (Float32Array | Int32Array)[];
  try {
    data = await Promise.all(out.map((t) => t.data() as Promise<Float32Array | Int32Array>));
  } finally {
    tf.dispose(out);
  }
  const [rowV, rowI, colV, colI] = data;
  lists.offerRows(rowV as Float32Array, rowI as Int32Array, out[0].shape[1]!, r0, rows, c0);
  if (colV) {
    lists.offerRows(colV as Float32Array, colI as Int32Array, out[2].shape[1]!, c0, cols, r0);
  }
}

/**
 * Each row's top-`k` cosine neighbours, itself excluded, computed block by
 * block on the active backend without ever holding the `N × N` matrix.
 *
 * Ties: among exactly equal similarities the lower index comes first and
 * is kept; with `selection: "backend"`, which of several equal entries
 * `tf.topk` keeps within one block is the backend's choice. Zero rows have
 * similarity 0 to everything. Similarities are float32 dot products of the
 * normalised rows, so near-ties may order differently from a float64
 * computation.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { mineNeighbours } from "./mine.ts";
 *
 * const features = new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]);
 * const nn = await mineNeighbours({ features, n: 4, dim: 2 }, { k: 1, progress: false });
 * console.log(nn.indices); // Int32Array [1, 0, 3, 2]
 * ```
 *
 * @param matrix The features: `n` rows of `dim` floats.
 * @param options `k`, chunk size and progress reporting.
 * @returns Indices (int32) and similarities, `k` per row, most similar first.
 * @throws {TypeError} When `features` is not a Float32Array.
 * @throws {RangeError} For bad sizes, `k` outside `[1, n-1]`, or non-finite features.
 */
export async function mineNeighbours(
  matrix: FeatureMatrix,
  options: MineNeighboursOptions = {},
): Promise<Neighbours> {
  const who = "mineNeighbours";
  checkMatrix(matrix, who);
  const { n, dim } = matrix;
  const k = options.k ?? 31;
  const block = options.chunkSize ?? 2048;
  if (!(Number.isInteger(k) && k >= 1 && k <= n - 1)) {
    throw new RangeError(`${who}: k must be an integer in [1, n-1 = ${n - 1}], got ${k}`);
  }
  if (!(Number.isInteger(block) && block >= 1)) {
    throw new RangeError(`${who}: chunkSize must be a positive integer, got ${block}`);
  }
  const host = selectOnHost(who, options.selection);
  const normed = normalizeRows(matrix, who);
  const lists = new TopKLists(n, k);
  // Work is proportional to the similarities computed: the upper block triangle.
  let totalWork = 0;
  for (let s = 0; s < n; s += block) totalWork += Math.min(block, n - s) * (n - s);
  const bar = (options.progress ?? true)
    ? progress(`kNN ${n}×${dim} k=${k}`, totalWork / 1e6, { unit: "M similarities" })
    : undefined;
  // Column blocks [dim, w]: the right-hand operands. tfjs-wasm multiplies
  // much slower with a transposed right operand, and when the right operand
  // outgrows the cache, hence square blocks (docs/performance.md, "Smaller
  // measurements behind the code").
  const blocks: tf.Tensor2D[] = [];
  try {
    for (let s = 0; s < n; s += block) {
      const e = Math.min(n, s + block);
      blocks.push(columnBlock(normed.subarray(s * dim, e * dim), e - s, dim));
    }
    for (let bi = 0; bi < blocks.length; bi++) {
      const s = bi * block;
      const rows = blocks[bi].shape[1];
      const q = tf.tensor2d(normed.subarray(s * dim, (s + rows) * dim), [rows, dim]);
      try {
        for (let bj = bi; bj < blocks.length; bj++) {
          await offerPair(lists, q, blocks[bj], s, bj * block, host);
          bar?.tick(rows * blocks[bj].shape[1] / 1e6);
        }
      } finally {
        q.dispose();
      }
      options.onProgress?.(s + rows, n);
    }
  } finally {
    tf.dispose(blocks);
    bar?.done();
  }
  const bad = lists.firstIncomplete();
  if (bad >= 0) {
    throw new Error(`${who}: internal error, row ${bad} has fewer than ${k} neighbours`);
  }
  return { indices: lists.indices, similarities: lists.sims, n, k };
}
