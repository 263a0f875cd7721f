/**
 * CompRess as a training method: two aligned FIFO queues around
 * {@linkcode compressLoss}, one of teacher embeddings and one of student keys
 * of the same images.
 *
 * CompRess-2q takes the student keys from a momentum copy of the student
 * network, run on the same batch. A momentum network would need the loop to
 * run a second student forward pass and to own a second set of weights, so
 * this method models the momentum keys instead (`studentKeys`):
 *
 * - `"ema"` (default): a bank `E [datasetSize, studentDim]` keeps, per image,
 *   an exponential moving average of its normalised student embeddings; the
 *   key of row `i` is `normalize(m · E[idx_i] + (1 − m) · ŝ_i)` with
 *   `m = bankMomentum`, and it is stored back in `E[idx_i]` (a memory bank in
 *   the NPID style). The bank starts at zeros, so an image's first key is its
 *   own embedding. An image sits in the bank once per epoch, so `m` acts per
 *   epoch, not per step (0.5 by default, NPID's value). When an index repeats
 *   within a batch, every row computes its key from the bank as it was before
 *   the step and the last row's key is stored. The bank holds
 *   `datasetSize × studentDim` floats and is rewritten with one gather per
 *   step.
 * - `"online"`: the key is the detached current embedding `ŝ_i` (the
 *   official code's variant without momentum).
 *
 * Both queues start as uniform random rows in `±1/sqrt(dim/3)` (seeded), as
 * the official code initialises its memory, and each step writes the batch's
 * normalised teacher embeddings and student keys at the same rows, after the
 * loss has read them. The paper uses 128,000 rows on ImageNet (10%); scale
 * `queueSize` to the dataset.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { compressLoss } from "../losses/compress.ts";
import { l2Normalize } from "../losses/normalize.ts";
import { numberOption } from "../losses/options.ts";
import { checkIndices, FifoQueue, takeTensor } from "./_fifo.ts";
import type { DistillMethod, MethodLoss, MethodSetup, MethodState, StepContext } from "./types.ts";
import type { Tensor2D } from "../tf_types.ts";

/** Options of the `compress` method. */
export interface CompressMethodOptions {
  /**
   * Softmax temperature τ.
   * @default {0.04}
   */
  tau?: number;
  /**
   * Rows K of each queue (at least the batch size).
   * @default {4096}
   */
  queueSize?: number;
  /**
   * Where the student keys come from: `"ema"` (per-image bank) or `"online"`.
   * @default {"ema"}
   */
  studentKeys?: "ema" | "online";
  /**
   * Momentum m of the per-image bank (`"ema"` only), in [0, 1).
   * @default {0.5}
   */
  bankMomentum?: number;
}

/**
 * CompRess's state and step: teacher and student-key queues (and, with
 * `studentKeys: "ema"`, the per-image bank that makes the keys).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { CompressMethod } from "./compress.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const method = new CompressMethod({ queueSize: 8 }, { teacherDim: 4, datasetSize: 10, seed: 1 });
 * const t = tf.randomNormal([2, 4], 0, 1, "float32", 2) as tf.Tensor2D;
 * const s = tf.randomNormal([2, 4], 0, 1, "float32", 3) as tf.Tensor2D;
 * const { loss } = method.loss(t, s, { indices: [3, 7], step: 0 });
 * method.update();
 * const state = method.state();
 * console.log(Object.keys(state.tensors), state.meta); // queues, bank; pointers at 2
 * tf.dispose([t, s, loss, ...Object.values(state.tensors)]);
 * method.dispose();
 * ```
 */
export class CompressMethod implements DistillMethod {
  /** The registry name. */
  readonly name = "compress";
  readonly #tau: number;
  readonly #momentum: number;
  readonly #ema: boolean;
  readonly #datasetSize: number;
  readonly #teacherQueue: FifoQueue;
  readonly #studentQueue: FifoQueue;
  #bank?: Tensor2D;
  #pending?: { teacher: Tensor2D; student: Tensor2D; indices: Int32Array };

  /**
   * A CompRess method with seeded random initial queues and, for `"ema"`
   * keys, a zero bank.
   *
   * @throws {RangeError} For options out of range or an unknown `studentKeys`.
   */
  constructor(options: CompressMethodOptions, setup: MethodSetup) {
    const fn = "CompressMethod";
    this.#tau = numberOption(fn, options, "tau", 0.04, { min: 0, minOpen: true });
    const k = numberOption(fn, options, "queueSize", 4096, { min: 1, integer: true });
    this.#momentum = numberOption(fn, options, "bankMomentum", 0.5, { min: 0, max: 1 });
    if (this.#momentum === 1) throw new RangeError(`${fn}: option bankMomentum must be below 1`);
    const keys = options.studentKeys ?? "ema";
    if (keys !== "ema" && keys !== "online") {
      throw new RangeError(`${fn}: option studentKeys is "${keys}", expected "ema" or "online"`);
    }
    this.#ema = keys === "ema";
    this.#datasetSize = setup.datasetSize;
    const dT = setup.teacherDim;
    const dS = setup.studentDim ?? dT;
    const uniform = (d: number, seed: number) => {
      const r = 1 / Math.sqrt(d / 3);
      return tf.randomUniform([k, d], -r, r, "float32", seed) as Tensor2D;
    };
    this.#teacherQueue = new FifoQueue("teacherQueue", uniform(dT, setup.seed));
    this.#studentQueue = new FifoQueue("studentQueue", uniform(dS, setup.seed + 1));
    if (this.#ema) this.#bank = tf.zeros([setup.datasetSize, dS]);
  }

  /** The batch's CompRess loss against the current queues; stages the keys. */
  loss(teacher: Tensor2D, student: Tensor2D, ctx: StepContext): MethodLoss {
    const fn = "CompressMethod.loss";
    this.#teacherQueue.checkBatch(fn, teacher.shape[0]);
    const indices = this.#ema
      ? checkIndices(fn, ctx?.indices, teacher.shape[0], this.#datasetSize)
      : new Int32Array(0);
    const banks = { teacherBank: this.#teacherQueue.rows, studentBank: this.#studentQueue.rows };
    const loss = compressLoss(teacher, student, banks, { tau: this.#tau });
    const [keysT, keysS] = tf.tidy(() => {
      const s = l2Normalize(student, 1);
      let key = s;
      if (this.#bank) {
        const old = tf.gather(this.#bank, indices);
        key = l2Normalize(tf.add(tf.mul(old, this.#momentum), tf.mul(s, 1 - this.#momentum)), 1);
      }
      return [l2Normalize(teacher, 1), key];
    });
    this.#dropPending();
    this.#pending = { teacher: tf.keep(keysT), student: tf.keep(keysS), indices };
    return { loss, terms: {} };
  }

  /** Write the staged keys into both queues and, for `"ema"`, into the bank. */
  update(): void {
    const p = this.#pending;
    if (!p) return;
    this.#teacherQueue.push(p.teacher);
    this.#studentQueue.push(p.student);
    if (this.#bank) {
      const n = this.#datasetSize;
      const source = new Int32Array(n);
      for (let r = 0; r < n; r++) source[r] = r;
      p.indices.forEach((idx, i) => source[idx] = n + i); // the last occurrence wins
      const next = tf.tidy(() => tf.gather(tf.concat([this.#bank!, p.student], 0), source));
      this.#bank.dispose();
      this.#bank = next as Tensor2D;
    }
    this.#dropPending();
  }

  /**
   * `{ tensors: { teacherQueue, studentQueue, bank? }, meta: { teacherQueuePtr,
   * studentQueuePtr } }` (copies; `bank` only with `"ema"` keys).
   */
  state(): MethodState {
    const state: MethodState = { tensors: {}, meta: {} };
    this.#teacherQueue.save(state);
    this.#studentQueue.save(state);
    if (this.#bank) state.tensors.bank = tf.clone(this.#bank);
    return state;
  }

  /** Restore queues, pointers and bank (copies); drops anything staged. */
  setState(state: MethodState): void {
    const fn = "CompressMethod.setState";
    const bank = this.#bank && takeTensor(fn, state.tensors, "bank", this.#bank.shape);
    this.#teacherQueue.load(fn, state);
    this.#studentQueue.load(fn, state);
    if (bank) {
      this.#bank!.dispose();
      this.#bank = bank as Tensor2D;
    }
    this.#dropPending();
  }

  /** Free queues, bank and anything staged. */
  dispose(): void {
    this.#teacherQueue.dispose();
    this.#studentQueue.dispose();
    this.#bank?.dispose();
    this.#dropPending();
  }

  #dropPending(): void {
    if (this.#pending) tf.dispose([this.#pending.teacher, this.#pending.student]);
    this.#pending = undefined;
  }
}
