/**
 * The tfjs types the toolkit's signatures name, re-declared as plain aliases
 * so that the API docs can link and describe them. Each is the very same type
 * as its tfjs namesake (`Tensor2D` here is `tf.Tensor2D`), so values pass
 * freely between the two.
 *
 * Why aliases and not `export type { Tensor2D } from "@tensorflow/tfjs-core"`:
 * re-exporting tfjs's own declarations would make them part of this package's
 * documented surface, with every undocumented member of tfjs.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "./backend.ts";
 * import type { Scalar, Tensor2D } from "./tf_types.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x: Tensor2D = tf.tensor2d([[3, 4]]);
 * const squares: Scalar = tf.sum(tf.square(x));
 * console.log(await squares.data()); // Float32Array [25]
 * tf.dispose([x, squares]);
 * ```
 *
 * @module
 */
import type * as core from "@tensorflow/tfjs-core";
import type * as tfjs from "@tensorflow/tfjs";

/**
 * A tfjs tensor of any rank and dtype (`tf.Tensor`). Read it back with
 * `await t.data()`; free it with `t.dispose()` or inside `tf.tidy`.
 */
export type Tensor = core.Tensor;

/** A rank-0 tfjs tensor (`tf.Scalar`): what every loss returns. */
export type Scalar = core.Scalar;

/** A rank-1 tfjs tensor (`tf.Tensor1D`), e.g. one value per batch row. */
export type Tensor1D = core.Tensor1D;

/**
 * A rank-2 tfjs tensor (`tf.Tensor2D`); here nearly always a batch of
 * embeddings, `[batch, dim]`, one row per image.
 */
export type Tensor2D = core.Tensor2D;

/** A rank-3 tfjs tensor (`tf.Tensor3D`), e.g. ViT tokens `[batch, tokens, dim]`. */
export type Tensor3D = core.Tensor3D;

/**
 * A rank-4 tfjs tensor (`tf.Tensor4D`); here nearly always a batch of images
 * in NHWC layout, `[batch, height, width, channels]`.
 */
export type Tensor4D = core.Tensor4D;

/**
 * A mutable tfjs tensor (`tf.Variable`) that gradients are taken against:
 * model weights, batch-norm statistics and optimizer slots.
 */
export type Variable = core.Variable;

/**
 * A tfjs kernel registration (`tf.KernelConfig`): kernel name, backend name and
 * the function that computes it, as `tf.registerKernel` takes it.
 */
export type KernelConfig = core.KernelConfig;

/**
 * A tfjs graph model (`tf.GraphModel`), as `tf.loadGraphModel` returns:
 * inference only, e.g. a converted TensorFlow or PyTorch teacher.
 */
export type GraphModel = tfjs.GraphModel;

/** A tfjs Layers model (`tf.LayersModel`), as `tf.loadLayersModel` returns. */
export type LayersModel = tfjs.LayersModel;

/**
 * Where tfjs loads a model from or saves it to (`tf.io.IOHandler`): an object
 * with `load` and/or `save`, such as the one `fileSystemHandler` returns.
 */
export type IOHandler = core.io.IOHandler;

/**
 * A tfjs model held in memory (`tf.io.ModelArtifacts`): its topology, the
 * weight specs and the weight bytes, as an `IOHandler` saves and loads them.
 */
export type ModelArtifacts = core.io.ModelArtifacts;
