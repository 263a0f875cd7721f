/**
 * Batch samplers: which image indices go into each training batch.
 *
 * - {@linkcode NeighbourBatchSampler}: CoSS's neighbour-aware batches. Each
 *   batch is `anchors` images in a seeded random order, each followed by
 *   `neighbours` images drawn uniformly without replacement from its top-`pool`
 *   teacher neighbours (paper: 16 × (1 + 15) from the top 31 = 256).
 * - {@linkcode RandomBatchSampler}: a plain shuffled pass.
 *
 * **Budgets are counted in image passes.** An epoch of the neighbour sampler
 * visits every image once *as an anchor*, so it processes
 * `anchors · (1 + neighbours) · batchesPerEpoch` images, about `1 + neighbours`
 * (16×) a plain epoch. Compare runs by {@linkcode BatchSampler.imagesPerEpoch}
 * × epochs, not by epochs.
 *
 * Randomness is keyed by `(seed, epoch)` for the anchor order and
 * `(seed, epoch, batch)` for the neighbour draws, so any batch can be
 * regenerated directly: the same seed gives the same batches, different
 * epochs differ, and resuming from {@linkcode BatchSampler.state} is exact.
 *
 * @module
 */
import { checkInt, checkSeed, EpochCursor, type SamplerState } from "./_epoch_cursor.ts";
import { streamRng } from "../util/random.ts";

export type { SamplerState };

/** What the training loop needs from a sampler. */
export interface BatchSampler {
  /** Images per (full) batch. */
  readonly batchSize: number;
  /** Batches one epoch yields. */
  readonly batchesPerEpoch: number;
  /** Image passes per epoch (the budget unit): the sum of the batch sizes. */
  readonly imagesPerEpoch: number;
  /**
   * The batches of epoch `index`, each a fresh Int32Array of image indices.
   * Starts at batch `state().batch` when `index` is the state's epoch (so a
   * restored sampler resumes mid-epoch), else at batch 0; `fromBatch`
   * overrides. Iterating moves the state along.
   */
  epoch(index?: number, options?: { fromBatch?: number }): Iterable<Int32Array>;
  /** The position to checkpoint: the next batch to yield. */
  state(): SamplerState;
  /** Restore a position from {@linkcode BatchSampler.state}. */
  setState(state: SamplerState): void;
}

/** Neighbour lists, as `mineNeighbours` (knn.ts) returns them. */
export interface NeighbourLists {
  /** `n · k` indices, row `i` at `i*k .. i*k+k`, most similar first. */
  indices: Int32Array;
  /** Neighbours per row. */
  k: number;
  /** Number of images. */
  n: number;
}

/** Options for {@linkcode NeighbourBatchSampler}. */
export interface NeighbourBatchSamplerOptions {
  /**
   * Anchors per batch.
   * @default {16}
   */
  anchors?: number;
  /**
   * Neighbours drawn after each anchor.
   * @default {15}
   */
  neighbours?: number;
  /**
   * Draw from each anchor's top `pool` neighbours (≤ the lists' k).
   * @default {31}
   */
  pool?: number;
  /**
   * Seed for the anchor order and the draws.
   * @default {0}
   */
  seed?: number;
  /**
   * Drop the last batch when it has fewer than `anchors` anchors.
   * @default {true}
   */
  dropLast?: boolean;
}

/** Options for {@linkcode RandomBatchSampler}. */
export interface RandomBatchSamplerOptions {
  /** Images per batch. */
  batchSize: number;
  /**
   * Seed for the order.
   * @default {0}
   */
  seed?: number;
  /**
   * Drop the last batch when it is smaller than `batchSize`.
   * @default {true}
   */
  dropLast?: boolean;
}

/**
 * CoSS's neighbour-aware batches: per batch, `anchors` images in a seeded
 * random order, each followed by `neighbours` distinct indices drawn
 * uniformly from its top-`pool` list. Every image is an anchor exactly once
 * per epoch; an image may also appear as someone's neighbour, so a batch can
 * hold the same index more than once (as in the paper). Neighbours only shape
 * the batch; they get no loss term of their own.
 *
 * @example
 * ```ts
 * import { NeighbourBatchSampler } from "./sampler.ts";
 *
 * // 6 images, 3 neighbours each (e.g. from mineNeighbours)
 * const indices = new Int32Array([1, 2, 3, 0, 2, 3, 0, 1, 4, 5, 4, 2, 5, 3, 0, 4, 3, 1]);
 * const sampler = new NeighbourBatchSampler({ indices, k: 3, n: 6 }, {
 *   anchors: 2, neighbours: 1, pool: 2, seed: 1,
 * });
 * console.log(sampler.batchSize, sampler.batchesPerEpoch); // 4, 3
 * for (const batch of sampler.epoch(0)) console.log(batch); // [a0, nn(a0), a1, nn(a1)]
 * ```
 */
export class NeighbourBatchSampler implements BatchSampler {
  /** Anchors per batch. */
  readonly anchors: number;
  /** Neighbours after each anchor. */
  readonly neighbours: number;
  /** Size of the list neighbours are drawn from. */
  readonly pool: number;
  /** The seed. */
  readonly seed: number;
  /** Whether an incomplete last batch is dropped. */
  readonly dropLast: boolean;
  /** `anchors · (1 + neighbours)`. */
  readonly batchSize: number;
  /** `⌊n / anchors⌋`, plus one when the remainder is kept. */
  readonly batchesPerEpoch: number;
  /** Image passes per epoch: about `(1 + neighbours)` times `n`. */
  readonly imagesPerEpoch: number;
  readonly #lists: NeighbourLists;
  readonly #cursor: EpochCursor;

  /**
   * A sampler over `lists` (validated once here).
   *
   * @param lists Each image's neighbours, most similar first, self excluded.
   * @param options Batch composition, seed, remainder policy.
   * @throws {RangeError} For an option out of range (naming it), `pool` > `k`,
   *   or lists that contain their own row, repeat an index, or leave `[0, n)`.
   */
  constructor(lists: NeighbourLists, options: NeighbourBatchSamplerOptions = {}) {
    const who = "NeighbourBatchSampler";
    if (!(lists?.indices instanceof Int32Array)) {
      throw new TypeError(`${who}: neighbour indices must be an Int32Array`);
    }
    const n = checkInt(who, "n", lists.n, 1);
    const k = checkInt(who, "k", lists.k, 1);
    if (lists.indices.length !== n * k) {
      throw new RangeError(
        `${who}: neighbour indices has ${lists.indices.length} entries, expected n·k = ${n}·${k}`,
      );
    }
    this.anchors = checkInt(who, "anchors", options.anchors ?? 16, 1, n);
    this.pool = checkInt(who, "pool", options.pool ?? 31, 1);
    if (this.pool > k) {
      throw new RangeError(`${who}: pool (${this.pool}) exceeds the lists' k (${k})`);
    }
    this.neighbours = checkInt(who, "neighbours", options.neighbours ?? 15, 0, this.pool);
    this.seed = checkSeed(who, options.seed ?? 0);
    this.dropLast = options.dropLast ?? true;
    checkLists(who, lists, this.pool);
    this.#lists = lists;

    this.batchSize = this.anchors * (1 + this.neighbours);
    const full = Math.floor(n / this.anchors);
    const partial = !this.dropLast && n % this.anchors > 0;
    this.batchesPerEpoch = full + (partial ? 1 : 0);
    this.imagesPerEpoch = (this.dropLast ? full * this.anchors : n) * (1 + this.neighbours);
    this.#cursor = new EpochCursor(
      who,
      "neighbour",
      this.seed,
      n,
      this.batchesPerEpoch,
      (order, epoch, b) => this.#batch(order, epoch, b),
    );
  }

  /** {@inheritDoc BatchSampler.epoch} */
  epoch(index?: number, options?: { fromBatch?: number }): Iterable<Int32Array> {
    return this.#cursor.run(index, options);
  }

  /** The next batch to yield, for checkpoints. */
  state(): SamplerState {
    return this.#cursor.state();
  }

  /** Resume from a {@linkcode NeighbourBatchSampler.state}; throws RangeError for another sampler's. */
  setState(state: SamplerState): void {
    this.#cursor.setState(state);
  }

  #batch(order: Int32Array, epoch: number, b: number): Int32Array {
    const { indices, k, n } = this.#lists;
    const m = this.neighbours;
    const pool = this.pool;
    const first = b * this.anchors;
    const count = Math.min(this.anchors, n - first);
    const random = streamRng(this.seed, epoch, b, 1);
    const slots = new Int32Array(pool);
    const out = new Int32Array(count * (1 + m));
    let o = 0;
    for (let a = 0; a < count; a++) {
      const anchor = order[first + a];
      out[o++] = anchor;
      // Partial Fisher–Yates: the first m slots become a uniform m-subset.
      for (let j = 0; j < pool; j++) slots[j] = j;
      for (let j = 0; j < m; j++) {
        const r = j + random.int(pool - j);
        const t = slots[j];
        slots[j] = slots[r];
        slots[r] = t;
        out[o++] = indices[anchor * k + slots[j]];
      }
    }
    return out;
  }
}

/** Lists must be in range, exclude their own row and not repeat within the pool. */
function checkLists(who: string, lists: NeighbourLists, pool: number): void {
  const { indices, n, k } = lists;
  const seen = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const v = indices[i * k + j];
      if (v < 0 || v >= n) {
        throw new RangeError(`${who}: neighbour ${v} of image ${i} is outside [0, ${n})`);
      }
      if (j >= pool) continue;
      if (v === i) {
        throw new RangeError(
          `${who}: image ${i} lists itself as a neighbour (mine with self excluded)`,
        );
      }
      if (seen[v] === i) throw new RangeError(`${who}: image ${i} lists neighbour ${v} twice`);
      seen[v] = i;
    }
  }
}

/**
 * A plain sampler: a seeded random permutation per epoch, cut into batches.
 * Each index appears once per epoch (minus a dropped remainder).
 *
 * @example
 * ```ts
 * import { RandomBatchSampler } from "./sampler.ts";
 *
 * const sampler = new RandomBatchSampler(10, { batchSize: 4, seed: 3 });
 * console.log(sampler.batchesPerEpoch, sampler.imagesPerEpoch); // 2, 8
 * const [first] = sampler.epoch(0); // Int32Array of 4 distinct indices
 * ```
 */
export class RandomBatchSampler implements BatchSampler {
  /** Number of images. */
  readonly n: number;
  /** The seed. */
  readonly seed: number;
  /** Whether an incomplete last batch is dropped. */
  readonly dropLast: boolean;
  /** Images per full batch. */
  readonly batchSize: number;
  /** `⌊n / batchSize⌋`, plus one when the remainder is kept. */
  readonly batchesPerEpoch: number;
  /** Image passes per epoch: `n` less a dropped remainder. */
  readonly imagesPerEpoch: number;
  readonly #cursor: EpochCursor;

  /**
   * A sampler over images `0..n-1`.
   *
   * @param n Number of images.
   * @param options Batch size, seed, remainder policy.
   * @throws {RangeError} For an option out of range, naming it.
   */
  constructor(n: number, options: RandomBatchSamplerOptions) {
    const who = "RandomBatchSampler";
    this.n = checkInt(who, "n", n, 1);
    this.batchSize = checkInt(who, "batchSize", options?.batchSize, 1, n);
    this.seed = checkSeed(who, options.seed ?? 0);
    this.dropLast = options.dropLast ?? true;
    const full = Math.floor(n / this.batchSize);
    this.batchesPerEpoch = full + (!this.dropLast && n % this.batchSize > 0 ? 1 : 0);
    this.imagesPerEpoch = this.dropLast ? full * this.batchSize : n;
    this.#cursor = new EpochCursor(
      who,
      "random",
      this.seed,
      n,
      this.batchesPerEpoch,
      (order, _epoch, b) => order.slice(b * this.batchSize, (b + 1) * this.batchSize),
    );
  }

  /** {@inheritDoc BatchSampler.epoch} */
  epoch(index?: number, options?: { fromBatch?: number }): Iterable<Int32Array> {
    return this.#cursor.run(index, options);
  }

  /** The next batch to yield, for checkpoints. */
  state(): SamplerState {
    return this.#cursor.state();
  }

  /** Resume from a {@linkcode RandomBatchSampler.state}; throws RangeError for another sampler's. */
  setState(state: SamplerState): void {
    this.#cursor.setState(state);
  }
}
