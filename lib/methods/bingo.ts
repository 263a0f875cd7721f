/**
 * BINGO as a training method: bags of teacher nearest neighbours and a FIFO
 * queue of teacher keys around {@linkcode bingoLoss}.
 *
 * - **Bags:** image `i`'s bag is its top `bagSize` teacher neighbours (5 in
 *   the paper), taken from `setup.neighbours` (`mineNeighbours` in
 *   lib/data). {@linkcode BingoMethod.positives} draws one member per batch
 *   row, uniformly, from a generator seeded by `(seed, step)`, so the draw
 *   needs no saved state and a resumed run draws the same members.
 * - **Queue:** starts as `K` random unit vectors (seeded); each step pushes
 *   the normalised teacher keys of the batch's images (not of the bag
 *   members), after the loss has read it.
 *
 * The loop embeds the chosen members with the teacher and, inside the
 * gradient, the student, and passes both as `ctx.positive`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NeighbourLists } from "../data/sampler.ts";
import { Rng } from "../util/rng.ts";
import { type BingoOptions, bingoTerms } from "../losses/bingo.ts";
import { l2Normalize } from "../losses/normalize.ts";
import { numberOption } from "../losses/options.ts";
import { checkIndices, FifoQueue } from "./_fifo.ts";
import type { DistillMethod, MethodLoss, MethodSetup, MethodState, StepContext } from "./types.ts";
import type { Tensor2D } from "../tf_types.ts";

/** Options of the `bingo` method: the loss's plus the queue and bag sizes. */
export interface BingoMethodOptions extends BingoOptions {
  /**
   * Rows K of the teacher-key queue (at least the batch size).
   * @default {4096}
   */
  queueSize?: number;
  /**
   * Nearest neighbours per bag, drawn from (≤ the neighbour lists' k).
   * @default {5}
   */
  bagSize?: number;
}

/**
 * BINGO's state and step: neighbour bags, a teacher-key queue, and the loss.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { BingoMethod } from "./bingo.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * // 4 images, 2 neighbours each
 * const neighbours = { indices: new Int32Array([1, 2, 0, 3, 3, 0, 2, 1]), k: 2, n: 4 };
 * const method = new BingoMethod({ queueSize: 8, bagSize: 2 }, {
 *   teacherDim: 3, datasetSize: 4, seed: 1, neighbours,
 * });
 * const bag = method.positives([0, 2], 0); // e.g. Int32Array [1, 3]
 * const t = tf.randomNormal([2, 3], 0, 1, "float32", 2) as tf.Tensor2D;
 * const s = tf.randomNormal([2, 3], 0, 1, "float32", 3) as tf.Tensor2D;
 * const positive = { teacher: tf.reverse(t, 0) as tf.Tensor2D, student: tf.reverse(s, 0) as tf.Tensor2D };
 * const { loss, terms } = method.loss(t, s, { indices: [0, 2], step: 0, positive });
 * method.update();
 * console.log(bag.length, Object.keys(terms)); // 2 ["anchor", "positive"]
 * tf.dispose([t, s, positive.teacher, positive.student, loss, ...Object.values(terms)]);
 * method.dispose();
 * ```
 */
export class BingoMethod implements DistillMethod {
  /** The registry name. */
  readonly name = "bingo";
  readonly #options: BingoOptions;
  readonly #queue: FifoQueue;
  readonly #bagSize: number;
  readonly #neighbours: NeighbourLists;
  readonly #seed: number;
  readonly #datasetSize: number;

  /**
   * A BINGO method with a seeded random initial queue.
   *
   * @throws {TypeError} Without `setup.neighbours`.
   * @throws {RangeError} For sizes out of range, lists shorter than `bagSize`,
   * or lists for a different number of images than `setup.datasetSize`.
   */
  constructor(options: BingoMethodOptions, setup: MethodSetup) {
    const fn = "BingoMethod";
    const k = numberOption(fn, options, "queueSize", 4096, { min: 1, integer: true });
    this.#bagSize = numberOption(fn, options, "bagSize", 5, { min: 1, integer: true });
    this.#options = {
      tau: numberOption(fn, options, "tau", 0.2, { min: 0, minOpen: true }),
      ownWeight: numberOption(fn, options, "ownWeight", 0.5, { min: 0 }),
      bagWeight: numberOption(fn, options, "bagWeight", 0.5, { min: 0 }),
    };
    const lists = setup.neighbours;
    if (!lists) {
      throw new TypeError(`${fn}: setup.neighbours (teacher nearest neighbours) is missing`);
    }
    if (lists.k < this.#bagSize) {
      throw new RangeError(
        `${fn}: bagSize ${this.#bagSize} exceeds the ${lists.k} neighbours per image`,
      );
    }
    if (lists.n !== setup.datasetSize) {
      throw new RangeError(
        `${fn}: neighbour lists cover ${lists.n} images, the dataset has ${setup.datasetSize}`,
      );
    }
    this.#neighbours = lists;
    this.#seed = setup.seed;
    this.#datasetSize = setup.datasetSize;
    const initial = tf.tidy(() =>
      l2Normalize(tf.randomNormal([k, setup.teacherDim], 0, 1, "float32", setup.seed), 1)
    ) as Tensor2D;
    this.#queue = new FifoQueue("queue", initial);
  }

  /**
   * One bag member per row: a uniform draw from the row's top `bagSize`
   * neighbours, seeded by `(seed, step)`.
   */
  positives(indices: ArrayLike<number>, step: number): Int32Array {
    const fn = "BingoMethod.positives";
    const rows = checkIndices(fn, indices, indices?.length ?? 0, this.#datasetSize);
    if (!Number.isInteger(step) || step < 0 || step >= 2 ** 20) {
      throw new RangeError(`${fn}: step ${step} is not an integer in [0, 2^20)`);
    }
    // Low word: the seed; high word: the step. Every (seed, step) gets its own stream.
    const rng = new Rng((this.#seed >>> 0) + step * 2 ** 32);
    const { indices: lists, k } = this.#neighbours;
    return rows.map((i) => lists[i * k + rng.int(this.#bagSize)]);
  }

  /** The batch's BINGO loss against the current queue; stages the normalised teacher keys. */
  loss(teacher: Tensor2D, student: Tensor2D, ctx: StepContext): MethodLoss {
    const fn = "BingoMethod.loss";
    if (!ctx?.positive) {
      throw new TypeError(`${fn}: ctx.positive (embeddings of the rows' bag members) is missing`);
    }
    this.#queue.checkBatch(fn, teacher.shape[0]);
    const bag = {
      teacherPositive: ctx.positive.teacher,
      studentPositive: ctx.positive.student,
      queue: this.#queue.rows,
    };
    const { loss, anchor, positive } = bingoTerms(teacher, student, bag, this.#options);
    this.#queue.stage(tf.keep(tf.tidy(() => l2Normalize(teacher, 1))));
    return { loss, terms: { anchor, positive } };
  }

  /** Push the staged teacher keys into the queue. */
  update(): void {
    this.#queue.commit();
  }

  /** `{ tensors: { queue }, meta: { queuePtr } }` (copies). */
  state(): MethodState {
    const state: MethodState = { tensors: {}, meta: {} };
    this.#queue.save(state);
    return state;
  }

  /** Restore the queue and its pointer (copies); drops anything staged. */
  setState(state: MethodState): void {
    this.#queue.load("BingoMethod.setState", state);
  }

  /** Free the queue and anything staged. */
  dispose(): void {
    this.#queue.dispose();
  }
}
