/**
 * Private building blocks the baseline losses share: soft cross-entropy and
 * KL from logits, MoCo-style InfoNCE against a queue, pairwise Euclidean
 * distances, a norm with PyTorch's zero gradient at 0, row-wise Pearson
 * correlation and smooth-L1. All are written with broadcasting ops that exist
 * on cpu, wasm and webgpu, and none reads tensors back.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * `-(1/B) Σ_i Σ_k p[i,k] · log_softmax(logits)[i,k]` with
 * `p = softmax(targetLogits)` along the last axis. `p` is formed as
 * `exp(log_softmax(targetLogits))`, so an entry that underflows to 0 adds 0
 * rather than NaN.
 */
export function softCrossEntropy(targetLogits: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.exp(tf.logSoftmax(targetLogits));
    const b = logits.shape[0];
    return tf.div(tf.neg(tf.sum(tf.mul(p, tf.logSoftmax(logits)))), b) as tf.Scalar;
  });
}

/**
 * `KL(softmax(targetLogits) ‖ softmax(logits))` summed over the last axis and
 * averaged over rows (PyTorch's `kl_div(..., reduction="batchmean")`), from
 * log-probabilities so that underflowing target entries add exactly 0.
 */
export function klFromLogits(targetLogits: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(targetLogits);
    const logQ = tf.logSoftmax(logits);
    const b = logits.shape[0];
    return tf.div(tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ))), b) as tf.Scalar;
  });
}

/** Row-wise dot products `[B, 1]` of two `[B, d]` tensors. */
export function rowDot(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.sum(tf.mul(a, b), 1, true) as tf.Tensor2D;
}

/**
 * MoCo's InfoNCE: for each row, logits `[q·k, q·Q_1, …, q·Q_K] / τ` and the
 * cross-entropy with the positive at index 0, averaged over rows. `query`,
 * `key` and the queue rows are used as given (callers normalise them).
 */
export function infoNce(
  query: tf.Tensor2D,
  key: tf.Tensor2D,
  queue: tf.Tensor2D,
  tau: number,
): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.div(
      tf.concat([rowDot(query, key), tf.matMul(query, queue, false, true)], 1),
      tau,
    );
    const logP = tf.logSoftmax(logits as tf.Tensor2D);
    return tf.neg(tf.mean(tf.slice(logP, [0, 0], [-1, 1]))) as tf.Scalar;
  });
}

/**
 * Pairwise Euclidean distances `[A, B]` between the rows of `a` and `b`, as
 * the metric-distillation codes compute them:
 * `sqrt(max(‖a_i‖² + ‖b_j‖² − 2 a_i·b_j, 1e-12))`. The clamp keeps the value
 * and the gradient finite for coinciding rows (the gradient there is 0).
 */
export function pairwiseDistance(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const sqA = tf.sum(tf.square(a), 1, true);
    const sqB = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]);
    const d2 = tf.sub(tf.add(sqA, sqB), tf.mul(tf.matMul(a, b, false, true), 2));
    return tf.sqrt(tf.maximum(d2, 1e-12)) as tf.Tensor2D;
  });
}

/** The smallest sum of squares {@linkcode safeNorm} takes a square root of. */
const TINY = 1e-30;

/**
 * The L2 norm along `axis` with PyTorch's gradient convention: 0 (not NaN) at
 * an all-zero vector. Computed as `sqrt(max(Σx², 1e-30))`, so an all-zero
 * vector has norm 1e-15 instead of 0, which is negligible next to the
 * epsilons the callers add (≥ 1e-8).
 */
export function safeNorm(x: tf.Tensor, axis: number, keepDims = false): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.maximum(tf.sum(tf.square(x), axis, keepDims), TINY)));
}

/**
 * Pearson correlation of matching rows of `a` and `b` `[B, n]`:
 * `(a_c · b_c) / (‖a_c‖ ‖b_c‖ + eps)` with `x_c = x − mean(x)` per row.
 * Rows of `b` flagged as constant in `bConstant` (`[B, 1]`, 1 = constant)
 * are centred to exactly 0: their true centred values are 0, and float32
 * rounding of order 1e-9 would otherwise be amplified by `1/eps`.
 */
export function rowPearson(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  eps: number,
  bConstant?: tf.Tensor2D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const ac = tf.sub(a, tf.mean(a, 1, true));
    let bc = tf.sub(b, tf.mean(b, 1, true));
    if (bConstant) bc = tf.mul(bc, tf.sub(1, bConstant));
    const num = tf.sum(tf.mul(ac, bc), 1);
    return tf.div(num, tf.add(tf.mul(safeNorm(ac, 1), safeNorm(bc, 1)), eps)) as tf.Tensor1D;
  });
}

/**
 * `f(...inputs)` computed as one operation whose gradient is zero for every
 * input. Comparisons (`greater`, `equal`, …) have no gradient in tfjs, and
 * any of them on a path from a differentiated input to the loss makes
 * `tf.grad` throw even after a stop-gradient; inside this wrapper they are
 * not recorded on the tape at all.
 */
export function noGrad<T extends tf.Tensor>(
  f: (...xs: tf.Tensor[]) => T,
  ...inputs: tf.Tensor[]
): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    return { value: f(...xs), gradFunc: () => xs.map((x) => tf.zerosLike(x)) };
  });
  return op(...inputs) as T;
}

/** `[B, 1]`: 1 where a row of `x` is constant (max = min), else 0; no gradient. */
export function constantRows(x: tf.Tensor2D): tf.Tensor2D {
  return noGrad(
    (v) => tf.cast(tf.equal(tf.max(v, 1, true), tf.min(v, 1, true)), "float32") as tf.Tensor2D,
    x,
  );
}

/**
 * Mean smooth-L1 (Huber with β = 1) of `x = a − b`: `0.5 x²` for `|x| < 1`,
 * else `|x| − 0.5`, written as `0.5 q² + |x| − q` with `q = min(|x|, 1)` so
 * that no comparison sits on the gradient path.
 */
export function smoothL1Mean(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const ax = tf.abs(tf.sub(a, b));
    const q = tf.minimum(ax, 1);
    return tf.mean(tf.add(tf.mul(tf.square(q), 0.5), tf.sub(ax, q))) as tf.Scalar;
  });
}
