/**
 * The interfaces every model, teacher and student shares.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
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
  /**
   * Inference-mode features computed outside tfjs (an ONNX teacher in
   * onnxruntime). When present, {@linkcode embedInference} calls it instead
   * of `embed`, which such a model cannot run synchronously.
   */
  embedAsync?(x: Tensor4D): Promise<Tensor2D>;
}

/**
 * Inference-mode features of `model` for `x` (not disposed): `embedAsync`
 * where the model has it (ONNX teachers), else `embed` in a `tf.tidy`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { embedInference } from "./types.ts";
 *
 * const pixels = { featureDim: 4, embed: (x: tf.Tensor4D) => tf.reshape(x, [-1, 4]) as tf.Tensor2D };
 * const x = tf.ones([2, 2, 2, 1]) as tf.Tensor4D;
 * const y = await embedInference(pixels, x);
 * console.log(y.shape); // [2, 4]
 * tf.dispose([x, y]);
 * ```
 */
export async function embedInference(model: Embedder, x: Tensor4D): Promise<Tensor2D> {
  if (model.embedAsync) return await model.embedAsync(x);
  return tf.tidy(() => model.embed(x, { training: false }));
}
