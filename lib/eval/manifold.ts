/**
 * Manifold agreement between two embedding spaces of the same images
 * (teacher and student), in two forms:
 *
 * - **NN-IoU@k as the CoSS paper defines it** ({@linkcode nnOverlap}): for each
 *   *test* image, its k nearest *training* images in each space, and the
 *   overlap `|N_k^t(i) ∩ N_k^s(i)| / k`, averaged over test images. Chance
 *   (independent spaces) is `k / N_train`.
 * - **NN-Jaccard@k, test ↔ test** ({@linkcode nnIoU}, kept under its old
 *   function name): the neighbours of each test image among the other *test*
 *   images, scored by Jaccard `|∩| / |∪|`,
 *
 *   `NN-Jaccard@k = (1/N) Σ_i |N_k^t(i) ∩ N_k^s(i)| / |N_k^t(i) ∪ N_k^s(i)|`,
 *
 * with neighbours by cosine similarity. It is 1 when the spaces agree up to
 * a rotation or per-image scaling. For independent spaces the overlap `I`
 * is hypergeometric (`N − 1` others, `k` drawn, `k` marked, `E[I] = k²/(N−1)`)
 * and the mean IoU is `E[I/(2k − I)]`: exactly `1/(N−1)` at k = 1, about
 * `k²/((2k−1)(N−1))` while `k² ≪ N`, tending to `k/(2(N−1))`.
 * a different and smaller number than the paper's for the same spaces.
 * The CoSS paper reports k ∈ {1, 5, 11, 21, 31}.
 *
 * Reference: Singh & Wang, "Simple Unsupervised Knowledge Distillation With
 * Space Similarity" (ECCV 2024, arXiv 2409.13939).
 *
 * @module
 */
import { type FeatureMatrix, mineNeighbours, type Neighbours } from "../neighbours/mine.ts";
import { knnSearch } from "./knn.ts";

/** The k of NN-IoU by default: the paper's {1, 5, 11, 21, 31} plus 10 for the distillation table. */
export const NN_IOU_KS: readonly number[] = [1, 5, 10, 11, 21, 31];

/** Options for {@linkcode nnIoU}. */
export interface NnIoUOptions {
  /**
   * Rows per block of the neighbour search (`mineNeighbours`).
   *
   * @default {2048}
   */
  chunkSize?: number;
  /**
   * Report progress of each space's neighbour search on stderr.
   *
   * @default {true}
   */
  progress?: boolean;
}

function checkKs(who: string, ks: readonly number[], n: number): number[] {
  if (!Array.isArray(ks) || ks.length === 0) {
    throw new TypeError(`${who}: ks must be a non-empty array of integers, got ${ks}`);
  }
  for (const k of ks) {
    if (!(Number.isInteger(k) && k >= 1 && k <= n - 1)) {
      throw new RangeError(`${who}: k must be an integer in [1, n-1 = ${n - 1}], got ${k}`);
    }
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

/**
 * NN-IoU@k from neighbour lists already mined in both spaces (e.g. the
 * teacher's from `loadOrMineNeighbours`), using each list's first `k`
 * entries. Both lists must be sorted most similar first, as
 * `mineNeighbours` returns them.
 *
 * @example
 * ```ts
 * import { neighbourIoU } from "./manifold.ts";
 *
 * const a = { indices: new Int32Array([1, 2, 0, 2, 0, 1]), similarities: new Float32Array(6), n: 3, k: 2 };
 * const b = { indices: new Int32Array([1, 2, 2, 0, 1, 0]), similarities: new Float32Array(6), n: 3, k: 2 };
 * console.log(neighbourIoU(a, b, [1, 2])); // { "1": 0.333…, "2": 1 }
 * ```
 *
 * @param a Neighbours in the first space.
 * @param b Neighbours of the same images in the second space.
 * @param ks Prefix lengths to score, each at most both lists' `k`.
 * @returns Mean IoU by `k`, in `[0, 1]`.
 * @throws {RangeError} When the lists cover different numbers of images or are too short.
 */
export function neighbourIoU(
  a: Neighbours,
  b: Neighbours,
  ks: readonly number[] = NN_IOU_KS,
): Record<number, number> {
  const who = "neighbourIoU";
  if (a.n !== b.n) {
    throw new RangeError(`${who}: ${a.n} images in the first space, ${b.n} in the second`);
  }
  const n = a.n;
  const sorted = checkKs(who, ks, n + 1);
  const kmax = sorted[sorted.length - 1];
  if (kmax > a.k || kmax > b.k) {
    throw new RangeError(
      `${who}: k = ${kmax} needs that many neighbours, the lists hold ${a.k} and ${b.k}`,
    );
  }
  // inA[j] === i ⇔ j is among row i's current prefix in space a (likewise inB).
  const inA = new Int32Array(n).fill(-1);
  const inB = new Int32Array(n).fill(-1);
  const sums = new Float64Array(sorted.length);
  for (let i = 0; i < n; i++) {
    let inter = 0, p = 0;
    const ra = i * a.k, rb = i * b.k;
    for (let s = 0; s < sorted.length; s++) {
      const k = sorted[s];
      for (; p < k; p++) {
        const x = a.indices[ra + p], y = b.indices[rb + p];
        if (inB[x] === i) inter++;
        inA[x] = i;
        if (inA[y] === i) inter++;
        inB[y] = i;
      }
      sums[s] += inter / (2 * k - inter);
    }
  }
  const out: Record<number, number> = {};
  sorted.forEach((k, s) => out[k] = sums[s] / n);
  return out;
}

/**
 * NN-IoU@k between two spaces over the same images: each space's neighbours
 * are mined once with `mineNeighbours` at the largest `k` (cosine, self
 * excluded, exact ties to the lower index), and every smaller `k` uses the
 * lists' prefixes.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { nnIoU } from "./manifold.ts";
 *
 * const a = { features: new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), n: 4, dim: 2 };
 * const b = { features: a.features.map((v) => 3 * v), n: 4, dim: 2 };
 * console.log(await nnIoU(a, b, [1, 2], { progress: false })); // { "1": 1, "2": 1 }
 * ```
 *
 * @param a Features of the images in the first space (e.g. the teacher's).
 * @param b Features of the same images, in the same order, in the second space.
 * @param ks Neighbourhood sizes, each in `[1, n − 1]`.
 * @param options Chunking and progress of the neighbour search.
 * @returns Mean IoU by `k`, in `[0, 1]`.
 * @throws {RangeError} When the spaces hold different numbers of images, or for a bad `k`.
 */
export async function nnIoU(
  a: FeatureMatrix,
  b: FeatureMatrix,
  ks: readonly number[] = NN_IOU_KS,
  options: NnIoUOptions = {},
): Promise<Record<number, number>> {
  const who = "nnIoU";
  if (a?.n !== b?.n) {
    throw new RangeError(`${who}: ${a?.n} images in the first space, ${b?.n} in the second`);
  }
  const sorted = checkKs(who, ks, a.n);
  const mine = {
    k: sorted[sorted.length - 1],
    chunkSize: options.chunkSize,
    progress: options.progress,
  };
  const na = await mineNeighbours(a, mine);
  const nb = await mineNeighbours(b, mine);
  return neighbourIoU(na, nb, sorted);
}

/**
 * NN-IoU results on one line, e.g. `NN-IoU@1 0.412 @5 0.388 @11 0.371 (2000 images)`.
 *
 * @example
 * ```ts
 * import { formatNnIoU } from "./manifold.ts";
 *
 * console.log(formatNnIoU({ 1: 0.5, 5: 0.25 }, 100)); // "NN-IoU@1 0.500 @5 0.250 (100 images)"
 * ```
 *
 * @param iou A result of {@linkcode nnIoU}.
 * @param n The number of images it was computed on.
 * @returns The line.
 */
export function formatNnIoU(iou: Record<number, number>, n: number): string {
  const ks = Object.keys(iou).map(Number).sort((x, y) => x - y);
  return `NN-IoU${ks.map((k) => `@${k} ${iou[k].toFixed(3)}`).join(" ")} (${n} images)`;
}

/**
 * Mean NN-IoU@k of two independent random spaces of `n` points, the level a
 * report compares against: the overlap `I` is hypergeometric (`n − 1`
 * others, `k` drawn, `k` marked) and the IoU is `I / (2k − I)`.
 *
 * @example
 * ```ts
 * import { chanceNnIoU } from "./manifold.ts";
 *
 * console.log(chanceNnIoU(1, 101)); // 0.01 (= 1/(n − 1))
 * ```
 *
 * @param k Neighbourhood size, in `[1, n − 1]`.
 * @param n Number of images.
 * @returns The expected NN-IoU@k, in `[0, 1]`.
 */
export function chanceNnIoU(k: number, n: number): number {
  const m = n - 1;
  const logC = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < b; i++) s += Math.log(a - i) - Math.log(i + 1);
    return s;
  };
  const total = logC(m, k);
  let mean = 0;
  for (let i = 0; i <= k; i++) {
    if (m - k < k - i) continue;
    mean += Math.exp(logC(k, i) + logC(m - k, k - i) - total) * (i / (2 * k - i));
  }
  return mean;
}

/** One space's features: the training bank and the test queries. */
export interface BankAndQueries {
  /** Training images (the bank). */
  train: FeatureMatrix;
  /** Test images (the queries). */
  test: FeatureMatrix;
}

/**
 * NN-IoU@k in the CoSS paper's form: for each test image, its `k` nearest
 * training images by cosine in the teacher's space and in the student's,
 * and the overlap `|∩| / k`, averaged over the test images.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu";
 * import { nnOverlap } from "./manifold.ts";
 *
 * const train = { features: new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), n: 4, dim: 2 };
 * const test = { features: new Float32Array([1, 0.05, 0.05, 1]), n: 2, dim: 2 };
 * const scaled = (m: typeof train) => ({ ...m, features: m.features.map((v) => 2 * v) });
 * const same = await nnOverlap({ train, test }, { train: scaled(train), test: scaled(test) }, [1, 2]);
 * console.log(same); // { "1": 1, "2": 1 }
 * ```
 *
 * @param teacher The teacher's bank and queries.
 * @param student The student's features of the same images, in the same order.
 * @param ks Neighbourhood sizes, each in `[1, train.n]`.
 * @param options Chunking and progress of the searches.
 * @returns Mean overlap by `k`, in `[0, 1]`.
 * @throws {RangeError} When the spaces hold different numbers of images, or for a bad `k`.
 */
export async function nnOverlap(
  teacher: BankAndQueries,
  student: BankAndQueries,
  ks: readonly number[] = [1, 5, 11, 21, 31],
  options: NnIoUOptions = {},
): Promise<Record<number, number>> {
  const who = "nnOverlap";
  if (teacher.train.n !== student.train.n || teacher.test.n !== student.test.n) {
    throw new RangeError(
      `${who}: the teacher has ${teacher.train.n} training / ${teacher.test.n} test images, ` +
        `the student ${student.train.n} / ${student.test.n}`,
    );
  }
  const sorted = checkKs(who, ks, teacher.train.n + 1);
  const k = sorted[sorted.length - 1];
  const search = { k, chunkSize: options.chunkSize, progress: options.progress };
  const a = await knnSearch(teacher.train, teacher.test, search);
  const b = await knnSearch(student.train, student.test, search);
  const n = teacher.test.n;
  const marked = new Int32Array(teacher.train.n).fill(-1);
  const sums = new Float64Array(sorted.length);
  for (let i = 0; i < n; i++) {
    let inter = 0, p = 0;
    // Overlap of the two prefixes, grown together: x enters a's prefix, y enters b's.
    const inB = new Set<number>();
    for (let s = 0; s < sorted.length; s++) {
      for (; p < sorted[s]; p++) {
        const x = a.indices[i * k + p], y = b.indices[i * k + p];
        if (inB.has(x)) inter++;
        marked[x] = i;
        if (marked[y] === i) inter++;
        inB.add(y);
      }
      sums[s] += inter / sorted[s];
    }
  }
  const out: Record<number, number> = {};
  sorted.forEach((kk, s) => out[kk] = sums[s] / n);
  return out;
}
