/**
 * `tf`: the one TensorFlow.js 4.22 namespace the toolkit computes with
 * (`@tensorflow/tfjs`: core ops, layers, graph-model loading), re-exported so
 * that scripts create tensors on the same engine and backend as the toolkit.
 *
 * As a value, `tf` is the whole tfjs API (`tf.tensor2d`, `tf.tidy`,
 * `tf.loadGraphModel`, ...). As a type namespace it carries the tfjs types the
 * toolkit's signatures use (`tf.Tensor2D`, `tf.Scalar`, `tf.Variable`, ...),
 * each the same type as in tfjs. For any other tfjs type, or for a generic
 * such as `Tensor<Rank.R3>`, import it from `@tensorflow/tfjs` itself.
 *
 * @example
 * ```ts
 * import { initBackend } from "./backend.ts";
 * import { tf } from "./tf.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x: tf.Tensor2D = tf.tensor2d([[1, 2], [3, 4]]);
 * const total: tf.Scalar = tf.sum(x);
 * console.log(await total.data()); // Float32Array [10]
 * tf.dispose([x, total]);
 * ```
 *
 * @module
 */
import * as tfjs from "@tensorflow/tfjs";
import type * as core from "@tensorflow/tfjs-core";
import type * as types from "./tf_types.ts";

/**
 * The TensorFlow.js 4.22 API (`@tensorflow/tfjs`) that the toolkit computes
 * with: use it, not a second copy of tfjs, so that tensors live on the
 * backend {@linkcode initBackend} chose.
 */
export const tf: typeof tfjs = tfjs;

/**
 * The tfjs types named by the toolkit's API, as `tf.Tensor2D` and so on; each
 * is the same type as in tfjs (tensor types are not generic here: they use
 * tfjs's default rank).
 */
export declare namespace tf {
  /** A tfjs tensor of any rank and dtype. */
  export type Tensor = types.Tensor;
  /** A rank-0 tensor: what every loss returns. */
  export type Scalar = types.Scalar;
  /** A rank-1 tensor. */
  export type Tensor1D = types.Tensor1D;
  /** A rank-2 tensor, here a batch of embeddings `[batch, dim]`. */
  export type Tensor2D = types.Tensor2D;
  /** A rank-3 tensor. */
  export type Tensor3D = types.Tensor3D;
  /** A rank-4 tensor, here a batch of NHWC images `[batch, height, width, channels]`. */
  export type Tensor4D = types.Tensor4D;
  /** A mutable tensor that gradients are taken against (weights, optimizer slots). */
  export type Variable = types.Variable;
  /** A tensor rank, `"R0"` to `"R6"` (the `tf.Rank` enum). */
  export type Rank = core.Rank;
  /** A tensor dtype: `"float32"`, `"int32"`, `"bool"`, `"complex64"` or `"string"`. */
  export type DataType = core.DataType;
  /** Anything `tf.tensor` accepts as values: numbers, nested arrays, typed arrays. */
  export type TensorLike = core.TensorLike;
  /** Tensors by name, as graph models take inputs and tfjs returns gradients. */
  export type NamedTensorMap = core.NamedTensorMap;
  /** A kernel registration, as `tf.registerKernel` takes it. */
  export type KernelConfig = types.KernelConfig;
  /** A graph model, as `tf.loadGraphModel` returns (inference only). */
  export type GraphModel = types.GraphModel;
  /** A Layers model, as `tf.loadLayersModel` returns. */
  export type LayersModel = types.LayersModel;
  /** The tfjs model I/O types. */
  export namespace io {
    /** Where a model loads from or saves to: an object with `load` and/or `save`. */
    export type IOHandler = types.IOHandler;
    /** A model in memory: topology, weight specs and weight bytes. */
    export type ModelArtifacts = types.ModelArtifacts;
  }
}
