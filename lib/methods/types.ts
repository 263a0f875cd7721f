/**
 * The per-run interface the training loop drives every distillation method
 * through, stateless (CoSS, RKD, …) or stateful (SEED's queue, BINGO's bags,
 * CompRess's banks).
 *
 * One step, as the loop runs it:
 *
 * ```ts ignore
 * const extra = method.positives?.(indices, step);      // BINGO only: bag members to embed
 * const { value, grads } = tf.variableGrads(() => {
 *   const student = head(studentNet(view));              // [B, d]
 *   const positive = extra && { teacher: teacherOf(extra), student: head(studentNet(viewOf(extra))) };
 *   const r = method.loss(teacher, student, { indices, step, positive });
 *   terms = keepAll(r.terms);
 *   return r.loss;
 * }, trainable);
 * optimizer.apply(grads, lr);
 * method.update();                                      // commit queue / bank writes
 * ```
 *
 * `loss` never changes the method's state: it stages the keys it would write
 * (detached copies) and `update` commits them, so a step whose loss is thrown
 * away (NaN guard) leaves queues and banks untouched. Checkpoint with `state()`
 * after `update()`; `setState` restores it exactly.
 *
 * @module
 */
import type { NeighbourLists } from "../data/sampler.ts";
import type { Scalar, Tensor, Tensor2D } from "../tf_types.ts";

/** Embeddings of each batch row's bag member, for methods that define `positives`. */
export interface PositiveEmbeddings {
  /** `[batch, teacherDim]` teacher embeddings of the rows' bag members. */
  teacher: Tensor2D;
  /** `[batch, studentDim]` student embeddings of the same images (inside the gradient). */
  student: Tensor2D;
}

/** What a method needs to know about the batch besides the embeddings. */
export interface StepContext {
  /** Dataset index of each batch row, in row order (may repeat). */
  indices: ArrayLike<number>;
  /** Optimizer steps taken before this batch (0 for the first). */
  step: number;
  /** Embeddings of the images `positives(indices, step)` chose; required by BINGO. */
  positive?: PositiveEmbeddings;
}

/** The loss of one batch and extra scalars to log; the caller disposes all. */
export interface MethodLoss {
  /** The value to minimise. */
  loss: Scalar;
  /** Named scalars for logging (may be empty). */
  terms: Record<string, Scalar>;
}

/**
 * A method's state between steps: tensors (queues, banks) and plain numbers
 * (write pointers). Store `tensors` with the checkpoint's variables and `meta`
 * in its JSON part.
 */
export interface MethodState {
  /** Named tensors. */
  tensors: Record<string, Tensor>;
  /** Named integers. */
  meta: Record<string, number>;
}

/** What {@linkcode createMethod} needs to know about the run. */
export interface MethodSetup {
  /** Width of the teacher embeddings. */
  teacherDim: number;
  /**
   * Width of the student embeddings the loss sees (after the head).
   * @default {teacherDim}
   */
  studentDim?: number;
  /** Number of training images (indices run over `[0, datasetSize)`). */
  datasetSize: number;
  /** Seed for the initial queues and BINGO's bag draws. */
  seed: number;
  /** Each image's teacher nearest neighbours (lib/data `mineNeighbours`); required by BINGO. */
  neighbours?: NeighbourLists;
}

/** A distillation method: one instance per run, holding whatever state the method keeps. */
export interface DistillMethod {
  /** The registry name (`coss`, `seed`, …). */
  readonly name: string;
  /**
   * For methods that contrast each image with a second one (BINGO's bag
   * members): the dataset index of that image for every batch row, drawn
   * deterministically from `(seed, step)`. The loop embeds these images with
   * the teacher and (inside the gradient) the student and passes them as
   * `ctx.positive`. Undefined for every other method.
   */
  positives?(indices: ArrayLike<number>, step: number): Int32Array;
  /**
   * The loss of one batch. Call it inside `tf.variableGrads`; it reads the
   * state but does not change it (see {@linkcode DistillMethod.update}).
   */
  loss(teacher: Tensor2D, student: Tensor2D, ctx: StepContext): MethodLoss;
  /** Commit what the last `loss` call staged (queue pushes, bank writes); a no-op when stateless. */
  update(): void;
  /** Copies of the state; the caller disposes the tensors. */
  state(): MethodState;
  /** Replace the state with copies of `state` (shapes must match); the caller keeps its tensors. */
  setState(state: MethodState): void;
  /** Free every tensor the method holds. */
  dispose(): void;
}
