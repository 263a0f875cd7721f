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
import { knnSearch, type KnnSearchOptions } from "../neighbours/search.ts";
import { checkInt, checkMatrix } from "../neighbours/check.ts";
import type { FeatureMatrix } from "../neighbours/types.ts";

// Re-exported: the search lives with mining in neighbours/; the kNN protocol's API stays here.
export { checkMatrix, knnSearch };
export type { KnnSearchOptions };

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
