/**
 * The epoch/batch position both batch samplers keep, and the `epoch()`
 * iteration that moves it: resumable, keyed by `(seed, epoch)`.
 *
 * @module
 */
import { streamRng } from "../util/random.ts";

/** Where a sampler stands, for checkpoints (JSON-safe). */
export interface SamplerState {
  /** Which sampler wrote it. */
  kind: "neighbour" | "random";
  /** The sampler's seed. */
  seed: number;
  /** The epoch in progress (or next). */
  epoch: number;
  /** The next batch of that epoch. */
  batch: number;
}

/** Check an integer option; TypeError for a non-number, RangeError naming it otherwise. */
export function checkInt(
  who: string,
  name: string,
  value: unknown,
  min: number,
  max?: number,
): number {
  if (typeof value !== "number") {
    throw new TypeError(`${who}: ${name} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
    const range = max === undefined ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new RangeError(`${who}: ${name} must be ${range}, got ${value}`);
  }
  return value;
}

/** Check a seed: any safe integer. */
export function checkSeed(who: string, seed: unknown): number {
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw new RangeError(`${who}: seed must be a safe integer, got ${seed}`);
  }
  return seed;
}

/** Builds batch `b` of `epoch` from that epoch's permutation `order`. */
export type MakeBatch = (order: Int32Array, epoch: number, b: number) => Int32Array;

/** The position of a sampler and its resumable per-epoch iteration. */
export class EpochCursor {
  #epoch = 0;
  #batch = 0;

  constructor(
    readonly who: string,
    readonly kind: SamplerState["kind"],
    readonly seed: number,
    readonly size: number,
    readonly batchesPerEpoch: number,
    readonly makeBatch: MakeBatch,
  ) {}

  /** Validate at once, then iterate lazily (see `BatchSampler.epoch`). */
  run(index?: number, options: { fromBatch?: number } = {}): Iterable<Int32Array> {
    const e = index === undefined ? this.#epoch : checkInt(this.who, "epoch", index, 0);
    const from = options.fromBatch === undefined
      ? (e === this.#epoch ? this.#batch : 0)
      : checkInt(this.who, "fromBatch", options.fromBatch, 0, this.batchesPerEpoch);
    return this.#iterate(e, from);
  }

  *#iterate(e: number, from: number): Generator<Int32Array> {
    const order = Int32Array.from(streamRng(this.seed, e).permutation(this.size));
    for (let b = from; b < this.batchesPerEpoch; b++) {
      const batch = this.makeBatch(order, e, b);
      // Advance before yielding: a checkpoint taken while the caller trains
      // on batch b must resume at b + 1.
      this.#epoch = e;
      this.#batch = b + 1;
      yield batch;
    }
    this.#epoch = e + 1;
    this.#batch = 0;
  }

  state(): SamplerState {
    return { kind: this.kind, seed: this.seed, epoch: this.#epoch, batch: this.#batch };
  }

  setState(state: SamplerState): void {
    if (state?.kind !== this.kind) {
      throw new RangeError(`${this.who}: state is for a "${state?.kind}" sampler`);
    }
    if (state.seed !== this.seed) {
      throw new RangeError(`${this.who}: state seed ${state.seed} != sampler seed ${this.seed}`);
    }
    this.#epoch = checkInt(this.who, "state.epoch", state.epoch, 0);
    this.#batch = checkInt(this.who, "state.batch", state.batch, 0, this.batchesPerEpoch);
  }
}
