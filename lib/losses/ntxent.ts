/**
 * NT-Xent, the SimCLR loss (Chen et al., 2020, arXiv 2002.05709):
 *
 * ```
 * z = normalize([z1; z2])            2B rows, L2 with eps 1e-12 as F.normalize
 * s = z zᵀ / τ, diagonal removed
 * L = mean over i of −log( exp(s[i, p(i)]) / Σ_{j≠i} exp(s[i, j]) ),  p(i) = i ± B
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Scalar, Tensor2D } from "../tf_types.ts";

/**
 * NT-Xent over two views' projections `[B, d]` each; a scalar.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ntXentLoss } from "./ntxent.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const z = tf.tensor2d([[1, 0], [0, 1]]);
 * const loss = ntXentLoss(z, z, 0.5);
 * console.log((await loss.data())[0] < 0.3); // true: each view's positive is the closest row
 * tf.dispose([z, loss]);
 * ```
 *
 * @param z1 First view's projections.
 * @param z2 Second view's projections, row i the same image as `z1`'s row i.
 * @param temperature τ. @default {0.5}
 * @throws {RangeError} When the shapes differ or τ is not positive.
 */
export function ntXentLoss(z1: Tensor2D, z2: Tensor2D, temperature = 0.5): Scalar {
  if (z1.rank !== 2 || !tf.util.arraysEqual(z1.shape, z2.shape)) {
    throw new RangeError(`ntXentLoss: view shapes [${z1.shape}] and [${z2.shape}] differ`);
  }
  if (!(temperature > 0)) {
    throw new RangeError(`ntXentLoss: temperature must be > 0, got ${temperature}`);
  }
  const b = z1.shape[0];
  return tf.tidy(() => {
    const z = tf.concat([z1, z2], 0);
    const norm = tf.maximum(tf.norm(z, 2, 1, true), 1e-12);
    const zn = tf.div(z, norm) as Tensor2D;
    const sim = tf.div(tf.matMul(zn, zn, false, true), temperature);
    // A large negative on the diagonal removes self-similarity from the softmax.
    const logits = tf.sub(sim, tf.mul(tf.eye(2 * b), 1e9));
    const idx = tf.concat([tf.range(b, 2 * b, 1, "int32"), tf.range(0, b, 1, "int32")]);
    const targets = tf.oneHot(idx, 2 * b);
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logp), 1))) as Scalar;
  });
}
