/**
 * The interfaces every model, teacher and student shares.
 *
 * @module
 */
import type { Tensor2D, Tensor4D } from "../tf_types.ts";

/** Options for {@linkcode Embedder.embed}. */
export interface EmbedOptions {
  /**
   * Training mode: batch norm uses batch statistics and updates its running
   * averages. Inference mode uses the running averages and changes nothing.
   *
   * @default {false}
   */
  training?: boolean;
}

/** Anything that maps a batch of images to pooled features. */
export interface Embedder {
  /** Width of the features {@linkcode Embedder.embed} returns. */
  readonly featureDim: number;
  /**
   * Images `[B, H, W, C]` (NHWC, float32, already normalised) to pooled
   * features `[B, featureDim]`. Synchronous, so it can run inside `tf.tidy`
   * and under a gradient tape.
   */
  embed(x: Tensor4D, options?: EmbedOptions): Tensor2D;
}
