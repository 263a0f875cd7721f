/**
 * Weighted k-nearest-neighbour classification on frozen features, the
 * kNN protocol of InstDisc, SEED and CoSS: features are L2-normalised, each
 * test image's `k` most cosine-similar training images vote for their class
 * with weight `exp(cos/T)`, and the class with the largest sum wins,
 *
 *   `score_c(x) = Σ_{j ∈ N_k(x)} [y_j = c] · exp(⟨x̂, x̂_j⟩ / T)`.
 *
 * The paper's table uses k = 10, T = 0.07; k = 20 and k = 200 are the other
 * common settings. The test × train similarity matrix is never held: test
 * rows and training rows are cut into `chunkSize` blocks, each block pair is
 * one matrix product on the active backend, and each test row keeps a
 * running top-k list on the JS side.
 *
 * Measured (2-core x86-64, wasm SIMD, one thread), 10 000 test × 60 000
 * training images, k = 10: about 4.5 s at d = 64 and 23–28 s at d = 512
 * (`chunkSize` 1024 to 2048 within run-to-run noise).
 *
 * Reference: Wu et al., "Unsupervised Feature Learning via Non-Parametric
 * Instance Discrimination" (CVPR 2018); Singh & Wang, CoSS (ECCV 2024, arXiv 2409.13939).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type FeatureMatrix,
  type Neighbours,
  normalizeRows,
  selectOnHost,
} from "../neighbours/mine.ts";
import { progress } from "../util/progress.ts";
import { TopKLists } from "../neighbours/topk.ts";

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

/** Options for {@linkcode knnClassify}. */
export interface KnnOptions extends KnnSearchOptions {
  /**
   * Temperature of the vote weight `exp(cos/T)`.
   *
   * @default {0.07}
   */
  t?: number;
  /**
   * Number of classes; labels must lie in `[0, numClasses)`.
   *
   * @default {1 + the largest label in either set}
   */
  numClasses?: number;
}

/** A kNN accuracy with the protocol that produced it. */
export interface KnnResult {
  /** Fraction of test images whose top-scored class is their label, in `[0, 1]`. */
  top1: number;
  /** Fraction with the label among the 5 top-scored classes; `null` with 5 classes or fewer. */
  top5: number | null;
  /** Neighbours voting. */
  k: number;
  /** Vote temperature. */
  t: number;
  /** Number of test images. */
  n: number;
  /** Number of training images. */
  nTrain: number;
  /** Number of classes. */
  numClasses: number;
  /** The predicted (top-1) class of each test image. */
  predictions: Int32Array;
}

/** Validate a feature matrix (shared with linear.ts; not part of the module's API). */
export function checkMatrix(m: FeatureMatrix, who: string, what: string): void {
  if (!(m?.features instanceof Float32Array)) {
    throw new TypeError(`${who}: ${what}.features must be a Float32Array`);
  }
  for (const key of ["n", "dim"] as const) {
    if (!(Number.isInteger(m[key]) && m[key] > 0)) {
      throw new RangeError(`${who}: ${what}.${key} must be a positive integer, got ${m[key]}`);
    }
  }
  if (m.features.length !== m.n * m.dim) {
    throw new RangeError(
      `${who}: ${what}.features has ${m.features.length} values, expected n·dim = ${m.n}·${m.dim}`,
    );
  }
}

function checkInt(who: string, name: string, v: number, min: number, max = Infinity): void {
  if (!(Number.isInteger(v) && v >= min && v <= max)) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`${who}: ${name} must be an integer ${range}, got ${v}`);
  }
}

/** Offer one `rows × cols` block (test rows × training columns from `c0`) to the lists. */
async function offerBlock(
  lists: TopKLists,
  q: tf.Tensor2D,
  colsT: tf.Tensor2D,
  c0: number,
  host: boolean,
): Promise<void> {
  const k = lists.k;
  const rows = q.shape[0];
  const cols = colsT.shape[1];
  if (host) {
    const sims = tf.matMul(q, colsT);
    let block: Float32Array;
    try {
      block = await sims.data() as Float32Array;
    } finally {
      sims.dispose();
    }
    const best = lists.sims;
    for (let i = 0; i < rows; i++) {
      const last = i * k + k - 1;
      let cut = best[last];
      for (let j = 0, b = i * cols; j < cols; j++) {
        // Most entries fail this one comparison; equal ones lose to the lower index already kept.
        if (block[b + j] >= cut && lists.offer(i, block[b + j], c0 + j)) cut = best[last];
      }
    }
    return;
  }
  const width = Math.min(k, cols);
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
  for (let i = 0; i < rows; i++) {
    for (let j = i * width; j < (i + 1) * width; j++) lists.offer(i, values[j], c0 + indices[j]);
  }
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
 * import { knnSearch } from "./knn.ts";
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
  // Right operands as [dim, w]: tfjs-wasm multiplies ~10× slower with a transposed right operand.
  const blocks: tf.Tensor2D[] = [];
  try {
    for (let s = 0; s < train.n; s += chunk) {
      const e = Math.min(train.n, s + chunk);
      blocks.push(
        tf.tidy(() => tf.transpose(tf.tensor2d(trainN.subarray(s * dim, e * dim), [e - s, dim]))),
      );
    }
    for (let s = 0; s < test.n; s += chunk) {
      const rows = Math.min(test.n, s + chunk) - s;
      const lists = new TopKLists(rows, k);
      const q = tf.tensor2d(testN.subarray(s * dim, (s + rows) * dim), [rows, dim]);
      try {
        for (let b = 0; b < blocks.length; b++) {
          await offerBlock(lists, q, blocks[b], b * chunk, host);
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

/** Options for {@linkcode weightedVotes}. */
export interface VoteOptions {
  /**
   * Temperature of the vote weight `exp(cos/T)`.
   *
   * @default {0.07}
   */
  t?: number;
  /** Number of classes (the length of the result). */
  numClasses: number;
}

/** {@linkcode weightedVotes} into `out`, without validation. */
function vote(
  sims: ArrayLike<number>,
  labels: ArrayLike<number>,
  t: number,
  out: Float64Array,
  from = 0,
  count = sims.length,
): Float64Array {
  out.fill(0);
  let best = -Infinity;
  for (let j = from; j < from + count; j++) best = Math.max(best, sims[j]);
  for (let j = from; j < from + count; j++) out[labels[j]] += Math.exp((sims[j] - best) / t);
  return out;
}

/**
 * One image's class scores from its neighbours' cosines and labels:
 * `score_c = Σ_j [y_j = c] · exp((cos_j − cos_max)/T)`, i.e. the
 * `Σ exp(cos/T)` vote divided by the best neighbour's weight, which keeps
 * the ranking and cannot overflow for small `T`.
 *
 * @example
 * ```ts
 * import { weightedVotes } from "./knn.ts";
 *
 * // One close neighbour of class 0 outvotes two far ones of class 1.
 * const s = weightedVotes([0.9, 0.5, 0.5], [0, 1, 1], { t: 0.07, numClasses: 2 });
 * console.log(s[0] > s[1]); // true: 1 against 2·exp(-0.4/0.07) ≈ 0.0066
 * ```
 *
 * @param similarities The neighbours' cosines.
 * @param labels The neighbours' classes, in `[0, numClasses)`.
 * @param options Temperature and number of classes.
 * @returns `numClasses` scores (float64); classes without votes score 0.
 * @throws {RangeError} For mismatched lengths, a bad label or a non-positive `t`.
 */
export function weightedVotes(
  similarities: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: VoteOptions,
): Float64Array {
  const who = "weightedVotes";
  const t = options.t ?? 0.07;
  checkTemperature(who, t);
  checkInt(who, "numClasses", options.numClasses, 1);
  if (similarities.length !== labels.length) {
    throw new RangeError(
      `${who}: ${similarities.length} similarities but ${labels.length} labels`,
    );
  }
  checkLabels(who, "labels", labels, options.numClasses);
  return vote(similarities, labels, t, new Float64Array(options.numClasses));
}

function checkTemperature(who: string, t: number): void {
  if (!(typeof t === "number" && Number.isFinite(t) && t > 0)) {
    throw new RangeError(`${who}: t must be a positive number, got ${t}`);
  }
}

function checkLabels(who: string, what: string, labels: ArrayLike<number>, c: number): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < c)) {
      throw new RangeError(`${who}: ${what}[${i}] is ${y}, not a class in [0, ${c})`);
    }
  }
}

/**
 * The rank of class `y` among `scores` (0 = best): classes scoring more, or
 * the same with a lower index, come first. A class without votes has no rank
 * (`Infinity`): it is never a prediction.
 */
function classRank(scores: Float64Array, y: number): number {
  const sy = scores[y];
  if (!(sy > 0)) return Infinity;
  let rank = 0;
  for (let c = 0; c < scores.length; c++) {
    if (scores[c] > sy || (scores[c] === sy && c < y)) rank++;
  }
  return rank;
}

function maxLabel(labels: Int32Array): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) m = Math.max(m, labels[i]);
  return m;
}

/**
 * Weighted kNN accuracy: L2-normalise both feature sets, find each test
 * image's `k` nearest training images ({@linkcode knnSearch}), let them vote
 * `exp(cos/T)` for their class ({@linkcode weightedVotes}), and score top-1
 * and, with more than 5 classes, top-5.
 *
 * Ties: equal class scores rank the lower class index first; classes with no
 * vote are never predicted (so with `k < 5` top-5 counts at most `k`
 * classes). Neighbour ties are as in {@linkcode knnSearch}.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { formatKnn, knnClassify } from "./knn.ts";
 *
 * const train = { features: new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), n: 4, dim: 2 };
 * const test = { features: new Float32Array([1, 0.2, 0.2, 1]), n: 2, dim: 2 };
 * const r = await knnClassify(train, new Int32Array([0, 0, 1, 1]), test, new Int32Array([0, 1]), {
 *   k: 2, progress: false,
 * });
 * console.log(formatKnn(r)); // "kNN-2 top-1 100.00% (k=2, T=0.07, 2 test / 4 train, 2 classes)"
 * ```
 *
 * @param train Training features.
 * @param trainLabels One class per training row.
 * @param test Test features, the same `dim`.
 * @param testLabels One class per test row.
 * @param options `k`, `t`, classes, chunking, progress.
 * @returns Accuracies with the protocol, and each test image's prediction.
 * @throws {TypeError} For features that are not Float32Arrays or labels that are not Int32Arrays.
 * @throws {RangeError} For mismatched sizes, labels out of range, `k` or `t` out of range.
 */
export async function knnClassify(
  train: FeatureMatrix,
  trainLabels: Int32Array,
  test: FeatureMatrix,
  testLabels: Int32Array,
  options: KnnOptions = {},
): Promise<KnnResult> {
  const who = "knnClassify";
  checkMatrix(train, who, "train");
  checkMatrix(test, who, "test");
  for (
    const [what, labels, m] of [["train", trainLabels, train], ["test", testLabels, test]] as const
  ) {
    if (!(labels instanceof Int32Array)) {
      throw new TypeError(`${who}: ${what} labels must be an Int32Array`);
    }
    if (labels.length !== m.n) {
      throw new RangeError(`${who}: ${labels.length} ${what} labels for ${m.n} ${what} rows`);
    }
  }
  const k = options.k ?? 10;
  const t = options.t ?? 0.07;
  checkTemperature(who, t);
  const numClasses = options.numClasses ??
    Math.max(maxLabel(trainLabels), maxLabel(testLabels)) + 1;
  checkInt(who, "numClasses", numClasses, 1);
  checkLabels(who, "train labels", trainLabels, numClasses);
  checkLabels(who, "test labels", testLabels, numClasses);
  const nn = await knnSearch(train, test, { ...options, k });
  const neighbourLabels = nn.indices.map((j) => trainLabels[j]);
  const scores = new Float64Array(numClasses);
  const predictions = new Int32Array(test.n);
  let hit1 = 0, hit5 = 0;
  for (let i = 0; i < test.n; i++) {
    vote(nn.similarities, neighbourLabels, t, scores, i * k, k);
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[c] > scores[best]) best = c;
    predictions[i] = best;
    const rank = classRank(scores, testLabels[i]);
    if (rank < 1) hit1++;
    if (rank < 5) hit5++;
  }
  return {
    top1: hit1 / test.n,
    top5: numClasses > 5 ? hit5 / test.n : null,
    k,
    t,
    n: test.n,
    nTrain: train.n,
    numClasses,
    predictions,
  };
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/**
 * One line with a kNN result and its protocol, e.g.
 * `kNN-10 top-1 84.31% top-5 99.02% (k=10, T=0.07, 10000 test / 60000 train, 10 classes)`.
 *
 * @example
 * ```ts
 * import { formatKnn } from "./knn.ts";
 *
 * const line = formatKnn({
 *   top1: 0.8431, top5: 0.9902, k: 10, t: 0.07, n: 10000, nTrain: 60000, numClasses: 10,
 *   predictions: new Int32Array(0),
 * });
 * console.log(line); // "kNN-10 top-1 84.31% top-5 99.02% (k=10, T=0.07, 10000 test / 60000 train, 10 classes)"
 * ```
 *
 * @param r A result from {@linkcode knnClassify}.
 * @returns The line.
 */
export function formatKnn(r: KnnResult): string {
  const top5 = r.top5 === null ? "" : ` top-5 ${percent(r.top5)}`;
  return `kNN-${r.k} top-1 ${percent(r.top1)}${top5} (k=${r.k}, T=${r.t}, ` +
    `${r.n} test / ${r.nTrain} train, ${r.numClasses} classes)`;
}
