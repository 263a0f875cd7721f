/**
 * SEED as a training method: {@linkcode seedLoss} against a FIFO queue of the
 * normalised teacher embeddings of earlier batches.
 *
 * The queue starts as `K` random unit vectors (seeded), as in the official
 * code, and each step pushes the batch's normalised teacher embeddings after
 * the loss has read the queue. The paper uses K = 65,536 on ImageNet (about 5%
 * of the images); scale `queueSize` to the dataset (the default 4096 is about
 * 7% of Fashion-MNIST's 60,000).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { l2Normalize } from "../losses/normalize.ts";
import { numberOption } from "../losses/options.ts";
import { seedLoss, type SeedOptions } from "../losses/seed.ts";
import { FifoQueue } from "./_fifo.ts";
import type { DistillMethod, MethodLoss, MethodSetup, MethodState, StepContext } from "./types.ts";
import type { Tensor2D } from "../tf_types.ts";

/** Options of the `seed` method: the loss's temperatures plus the queue size. */
export interface SeedMethodOptions extends SeedOptions {
  /**
   * Rows K of the teacher-embedding queue (at least the batch size).
   * @default {4096}
   */
  queueSize?: number;
}

/**
 * SEED's state and step: a teacher-embedding queue read by the loss and
 * refilled after each optimizer step.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { SeedMethod } from "./seed.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const method = new SeedMethod({ queueSize: 8 }, { teacherDim: 4, datasetSize: 100, seed: 1 });
 * const t = tf.randomNormal([2, 4], 0, 1, "float32", 2) as tf.Tensor2D;
 * const s = tf.randomNormal([2, 4], 0, 1, "float32", 3) as tf.Tensor2D;
 * const { loss } = method.loss(t, s, { indices: [5, 9], step: 0 });
 * method.update(); // the two teacher rows enter the queue
 * const state = method.state();
 * console.log(state.meta); // { queuePtr: 2 }
 * tf.dispose([t, s, loss, ...Object.values(state.tensors)]);
 * method.dispose();
 * ```
 */
export class SeedMethod implements DistillMethod {
  /** The registry name. */
  readonly name = "seed";
  readonly #options: SeedOptions;
  readonly #queue: FifoQueue;

  /**
   * A SEED method with a seeded random initial queue.
   *
   * @throws {RangeError} For a queue size below 1 or a temperature ≤ 0.
   */
  constructor(options: SeedMethodOptions, setup: MethodSetup) {
    const fn = "SeedMethod";
    const k = numberOption(fn, options, "queueSize", 4096, { min: 1, integer: true });
    const positive = { min: 0, minOpen: true };
    this.#options = {
      tauTeacher: numberOption(fn, options, "tauTeacher", 1e-4, positive),
      tauStudent: numberOption(fn, options, "tauStudent", 0.2, positive),
    };
    const initial = tf.tidy(() =>
      l2Normalize(tf.randomNormal([k, setup.teacherDim], 0, 1, "float32", setup.seed), 1)
    ) as Tensor2D;
    this.#queue = new FifoQueue("queue", initial);
  }

  /** The batch's SEED loss against the current queue; stages the normalised teacher rows. */
  loss(teacher: Tensor2D, student: Tensor2D, _ctx: StepContext): MethodLoss {
    this.#queue.checkBatch("SeedMethod.loss", teacher.shape[0]);
    const loss = seedLoss(teacher, student, { queue: this.#queue.rows }, this.#options);
    this.#queue.stage(tf.keep(tf.tidy(() => l2Normalize(teacher, 1))));
    return { loss, terms: {} };
  }

  /** Push the staged teacher rows into the queue. */
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
    this.#queue.load("SeedMethod.setState", state);
  }

  /** Free the queue and anything staged. */
  dispose(): void {
    this.#queue.dispose();
  }
}
