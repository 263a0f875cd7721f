/**
 * Private helpers shared by the losses: PyTorch-compatible L2 normalisation,
 * a structural stop-gradient, and the shape check for a (teacher, student) pair.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The epsilon of PyTorch's `F.normalize`: vectors are divided by `max(‖x‖, NORM_EPS)`. */
export const NORM_EPS = 1e-12;

/**
 * L2-normalise `x` along `axis` exactly as PyTorch's `F.normalize(x, dim=axis)`:
 * `x / max(‖x‖, 1e-12)`.
 *
 * Computed as `x · rsqrt(max(Σx², 1e-24))`, which is the same function, because
 * going through `sqrt` first makes tfjs's gradient NaN at an all-zero vector
 * (`0 · ∞`). Here an all-zero vector maps to zero and its gradient is the
 * identity divided by 1e-12, which is also what PyTorch's autograd gives.
 *
 * @example Rows of a 2×2 matrix
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { l2Normalize } from "./normalize.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const x = tf.tensor2d([[3, 4], [0, 0]]);
 * const rows = l2Normalize(x, 1);
 * console.log(await rows.data()); // [0.6, 0.8, 0, 0]
 * tf.dispose([x, rows]);
 * ```
 */
export function l2Normalize<T extends tf.Tensor>(x: T, axis: number): T {
  return tf.tidy(() => {
    const sumSq = tf.sum(tf.square(x), axis, true);
    return tf.mul(x, tf.rsqrt(tf.maximum(sumSq, NORM_EPS * NORM_EPS))) as T;
  });
}

/**
 * Identity in the forward pass, zero gradient in the backward pass (PyTorch's
 * `.detach()`). Gradients taken with respect to its input are zeros rather
 * than an error, so a frozen input is frozen by construction.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { stopGradient } from "./normalize.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const x = tf.tensor1d([1, 2]);
 * const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x);
 * console.log(await dx.data()); // [1, 2]: only the second factor counts
 * tf.dispose([x, dx]);
 * ```
 */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = tf.customGrad(
  (x: tf.Tensor | tf.GradSaveFunc) => {
    const t = x as tf.Tensor;
    return { value: tf.clone(t), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  },
) as <T extends tf.Tensor>(x: T) => T;

/**
 * Check that `teacher` and `student` are both `[batch, dim]` float32 tensors of
 * the same, non-empty shape. Throws `RangeError` naming both shapes, or
 * `TypeError` for a non-float dtype.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { checkPair } from "./normalize.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 *
 * const t = tf.zeros([4, 8]);
 * const s = tf.zeros([4, 6]);
 * try {
 *   checkPair("myLoss", t, s);
 * } catch (e) {
 *   console.log((e as Error).message); // myLoss: teacher shape [4,8] and student shape [4,6] differ
 * }
 * tf.dispose([t, s]);
 * ```
 */
export function checkPair(fn: string, teacher: tf.Tensor, student: tf.Tensor): void {
  const ts = `[${teacher.shape.join(",")}]`;
  const ss = `[${student.shape.join(",")}]`;
  const shapes = `teacher shape ${ts} and student shape ${ss}`;
  if (teacher.rank !== 2 || student.rank !== 2) {
    throw new RangeError(`${fn}: ${shapes} must both be rank 2 [batch, dim]`);
  }
  if (teacher.shape[0] !== student.shape[0] || teacher.shape[1] !== student.shape[1]) {
    throw new RangeError(`${fn}: ${shapes} differ`);
  }
  if (teacher.size === 0) {
    throw new RangeError(`${fn}: ${shapes} are empty; batch and dim must both be at least 1`);
  }
  for (const [role, t] of [["teacher", teacher], ["student", student]] as const) {
    if (t.dtype !== "float32") {
      throw new TypeError(`${fn}: ${role} dtype "${t.dtype}" is not float32`);
    }
  }
}
