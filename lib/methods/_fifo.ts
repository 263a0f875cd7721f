/**
 * Private state helpers of the methods: a FIFO queue of embeddings with a
 * write pointer, a per-index embedding bank, and the checks `setState` runs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** `[a,b]`, as messages print a shape. */
function shapeText(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/**
 * A `[K, dim]` FIFO queue: a batch of `B ≤ K` rows is written at rows
 * `ptr, ptr+1, …` (mod K), then `ptr = (ptr + B) mod K`, as MoCo-style codes
 * do (without their `K % B == 0` restriction).
 */
export class FifoQueue {
  #rows: tf.Tensor2D;
  #staged?: tf.Tensor2D;
  #ptr = 0;

  /** Take ownership of `initial` as the queue's contents. */
  constructor(readonly name: string, initial: tf.Tensor2D) {
    this.#rows = initial;
  }

  /** The current rows (owned by the queue: do not dispose). */
  get rows(): tf.Tensor2D {
    return this.#rows;
  }

  /** The next row to write. */
  get ptr(): number {
    return this.#ptr;
  }

  /** Number of rows K. */
  get size(): number {
    return this.#rows.shape[0];
  }

  /** Throw unless a batch of `b` rows fits. */
  checkBatch(fn: string, b: number): void {
    if (b > this.size) {
      throw new RangeError(`${fn}: batch of ${b} rows exceeds ${this.name} size ${this.size}`);
    }
  }

  /** Write `keys` `[B, dim]` at the pointer and advance it. Does not take ownership of `keys`. */
  push(keys: tf.Tensor2D): void {
    const k = this.size;
    const b = keys.shape[0];
    this.checkBatch("push", b);
    const source = new Int32Array(k);
    for (let r = 0; r < k; r++) source[r] = r;
    for (let i = 0; i < b; i++) source[(this.#ptr + i) % k] = k + i;
    const next = tf.tidy(() => tf.gather(tf.concat([this.#rows, keys], 0), source));
    this.#rows.dispose();
    this.#rows = next as tf.Tensor2D;
    this.#ptr = (this.#ptr + b) % k;
  }

  /**
   * Hold `keys` (taking ownership) until {@linkcode FifoQueue.commit}, so a
   * step whose loss is thrown away never reaches the queue; staging again
   * replaces what was staged.
   */
  stage(keys: tf.Tensor2D): void {
    this.#staged?.dispose();
    this.#staged = keys;
  }

  /** Push the staged keys, if any (a no-op otherwise). */
  commit(): void {
    if (!this.#staged) return;
    this.push(this.#staged);
    this.#dropStaged();
  }

  #dropStaged(): void {
    this.#staged?.dispose();
    this.#staged = undefined;
  }

  /** Copy the rows and the pointer into `state` under this queue's name. */
  save(state: { tensors: Record<string, tf.Tensor>; meta: Record<string, number> }): void {
    state.tensors[this.name] = tf.clone(this.#rows);
    state.meta[`${this.name}Ptr`] = this.#ptr;
  }

  /** Restore from `state` (copies) and drop anything staged; the pointer defaults to 0. */
  load(
    fn: string,
    state: { tensors: Record<string, tf.Tensor>; meta: Record<string, number> },
  ): void {
    const rows = takeTensor(fn, state.tensors, this.name, this.#rows.shape);
    const ptr = state.meta?.[`${this.name}Ptr`] ?? 0;
    if (!Number.isInteger(ptr) || ptr < 0 || ptr >= this.size) {
      throw new RangeError(`${fn}: ${this.name}Ptr ${ptr} is not an integer in [0, ${this.size})`);
    }
    this.#rows.dispose();
    this.#rows = rows as tf.Tensor2D;
    this.#ptr = ptr;
    this.#dropStaged();
  }

  /** Free the rows and anything staged. */
  dispose(): void {
    this.#rows.dispose();
    this.#dropStaged();
  }
}

/**
 * A float32 copy of `tensors[name]` after checking its shape; `RangeError`
 * when it is missing or shaped differently.
 */
export function takeTensor(
  fn: string,
  tensors: Record<string, tf.Tensor>,
  name: string,
  shape: readonly number[],
): tf.Tensor {
  const t = tensors?.[name];
  if (!t) throw new RangeError(`${fn}: state has no tensor "${name}"`);
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
    throw new RangeError(
      `${fn}: state tensor "${name}" has shape ${shapeText(t.shape)}, expected ${shapeText(shape)}`,
    );
  }
  return tf.tidy(() => tf.cast(t, "float32"));
}

/**
 * Check the batch's dataset indices: one per row, integers in
 * `[0, datasetSize)`. Returns them as an Int32Array.
 */
export function checkIndices(
  fn: string,
  indices: ArrayLike<number> | undefined,
  rows: number,
  datasetSize: number,
): Int32Array {
  if (!indices || typeof indices.length !== "number") {
    throw new TypeError(`${fn}: ctx.indices is missing`);
  }
  if (indices.length !== rows) {
    throw new RangeError(`${fn}: ctx.indices has ${indices.length} entries for ${rows} batch rows`);
  }
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = indices[i];
    if (!Number.isInteger(v) || v < 0 || v >= datasetSize) {
      throw new RangeError(
        `${fn}: ctx.indices[${i}] is ${v}, not an integer in [0, ${datasetSize})`,
      );
    }
    out[i] = v;
  }
  return out;
}
