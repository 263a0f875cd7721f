/**
 * Batch norm in training mode with a hand-written gradient (Ioffe & Szegedy,
 * 2015, §3). Over every axis but the last (`n` values per channel):
 *
 * - forward: `μ = Σx/n`, `var = Σ(x − μ)²/n`, `σ = √(var + ε)`, `x̂ = (x − μ)/σ`,
 *   `y = γ·x̂ + β`;
 * - backward, with `s = γ/σ`: `dβ = Σdy`, `dγ = Σdy·x̂`,
 *   `dx = s·(dy − Σdy/n − x̂·Σ(dy·x̂)/n)`.
 *
 * That is two reductions each way, and only `x − μ`, `1/σ` and `s` are kept
 * for the backward pass, where autodiff through the broadcasting ops keeps
 * several full-size tensors. On wasm that made the bench's training steps
 * faster and halved the wasm heap they need (docs/performance.md, "What made
 * wasm faster").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BATCH_NORM_FORWARD, BATCH_NORM_GRAD } from "../kernels/batch_norm_webgpu.ts";

/** The affine parameters of a batch norm, each of shape `[C]`. */
export interface BatchNormParams {
  /** Scale `γ`. */
  gamma: tf.Tensor;
  /** Shift `β`. */
  beta: tf.Tensor;
}

/** Options for {@linkcode batchNormTraining}. */
export interface BatchNormTrainingOptions {
  /**
   * Added to the variance before the square root.
   * @default {1e-5}
   */
  eps?: number;
  /**
   * Called once per forward pass with the batch mean and the biased batch
   * variance (each `[C]`), off the gradient tape and inside the op's scope:
   * tensors it makes are freed when it returns unless assigned to a variable.
   * @default {undefined}
   */
  onStats?: (mean: tf.Tensor, variance: tf.Tensor) => void;
  /**
   * Running averages to update once per forward pass, as PyTorch does:
   * `r ← (1 − m)·r + m·s`, with the unbiased batch variance for `variance`.
   * On webgpu this happens inside the fused kernel; elsewhere with tfjs ops.
   * @default {undefined}
   */
  running?: RunningStats;
}

/** A batch norm's running statistics and their momentum. */
export interface RunningStats {
  /** Running mean, `[C]`. */
  mean: tf.Variable;
  /** Running (unbiased) variance, `[C]`. */
  variance: tf.Variable;
  /** Weight of the new batch's statistics (PyTorch's default 0.1). */
  momentum: number;
}

/**
 * Whether the fused WebGPU kernels run this batch norm: on the webgpu
 * backend, with them registered (lib/kernels/batch_norm_webgpu.ts), and with
 * running statistics to update (the kernel writes them) and no `onStats`
 * callback (the kernel does not materialise the variance).
 */
function fused(options: BatchNormTrainingOptions): boolean {
  return tf.getBackend() === "webgpu" && options.running !== undefined &&
    options.onStats === undefined && tf.getKernel(BATCH_NORM_FORWARD, "webgpu") !== undefined &&
    tf.getKernel(BATCH_NORM_GRAD, "webgpu") !== undefined;
}

/** The fused path: 3 dispatches forward (statistics, merge with running update, normalise), 3 back. */
function batchNormFused(
  x: tf.Tensor,
  params: BatchNormParams,
  eps: number,
  running: RunningStats,
): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, gamma, beta] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, mean, invStd, runMean, runVar] = tf.engine().runKernel(
      BATCH_NORM_FORWARD,
      { x: input, gamma, beta, runMean: running.mean, runVar: running.variance },
      { eps, momentum: running.momentum } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    running.mean.assign(runMean);
    running.variance.assign(runVar);
    save([input, mean, invStd, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, mu, rs, g] = saved;
        return tf.engine().runKernel(
          BATCH_NORM_GRAD,
          { dy, x: xs, mean: mu, invStd: rs, gamma: g },
          {},
        ) as tf.Tensor[];
      },
    };
  });
  return op(x, params.gamma, params.beta);
}

/**
 * `Σ` over every axis but the last, as `[C]`: a reduction over the leading
 * axes, which the toolkit's wasm `Sum` (`lib/kernels/sum_leading.ts`) does in
 * one pass over the heap, faster than tfjs-wasm's transpose-then-sum
 * (docs/performance.md, "Kernels"). A `[1, n]·[n, C]` product with ones was
 * faster for one large tensor in isolation but not in training steps
 * (docs/performance.md, "What made wasm faster").
 */
function sumOverRows(x: tf.Tensor): tf.Tensor {
  return tf.sum(x, x.shape.slice(0, -1).map((_, i) => i));
}

/**
 * Batch norm of `x` (channels last, any rank) with batch statistics, and the
 * textbook gradient with respect to `x`, `γ` and `β`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { batchNormTraining } from "./batch_norm.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const x = tf.tensor2d([[1, 10], [3, 30]]);
 * const params = { gamma: tf.ones([2]), beta: tf.zeros([2]) };
 * const y = batchNormTraining(x, params);
 * console.log(await y.array()); // ≈ [[-1, -1], [1, 1]]
 * tf.dispose([x, y, params.gamma, params.beta]);
 * ```
 */
export function batchNormTraining(
  x: tf.Tensor,
  params: BatchNormParams,
  options: BatchNormTrainingOptions = {},
): tf.Tensor {
  const { eps = 1e-5, onStats, running } = options;
  if (running && fused(options)) return batchNormFused(x, params, eps, running);
  const n = x.size / x.shape[x.rank - 1];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, gamma, beta] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.div(sumOverRows(input), n);
    const centred = tf.sub(input, mean);
    const variance = tf.div(sumOverRows(tf.square(centred)), n);
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const scale = tf.mul(gamma, invStd);
    onStats?.(mean, variance);
    if (running) {
      const m = running.momentum;
      running.mean.assign(tf.add(tf.mul(running.mean, 1 - m), tf.mul(mean, m)));
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      running.variance.assign(tf.add(tf.mul(running.variance, 1 - m), tf.mul(unbiased, m)));
    }
    save([centred, invStd, scale]);
    return {
      value: tf.add(tf.mul(centred, scale), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xc, rstd, s] = saved;
          const sumDy = sumOverRows(dy);
          const sumDyXc = sumOverRows(tf.mul(dy, xc));
          // dx = s·dy + xc·k + shift, with k = −s·rstd²·Σ(dy·xc)/n and shift = −s·Σdy/n.
          const k = tf.mul(s, tf.mul(tf.square(rstd), tf.div(sumDyXc, -n)));
          const shift = tf.mul(s, tf.div(sumDy, -n));
          const dx = tf.add(tf.mul(dy, s), tf.add(tf.mul(xc, k), shift));
          return [dx, tf.mul(sumDyXc, rstd), sumDy];
        }),
    };
  });
  return op(x, params.gamma, params.beta);
}
