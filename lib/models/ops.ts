/**
 * The operations model definitions are written against. One forward function
 * per architecture runs eagerly on tfjs tensors ({@linkcode EagerOps}, for
 * training and inference) and symbolically to emit a tfjs graph model for
 * export (`GraphOps` in `_graph_ops.ts`), so the exported graph cannot drift
 * from the trained model.
 *
 * Padding is PyTorch's: symmetric, `pad` pixels on every side.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParamStore } from "./params.ts";
import { batchNormTraining } from "./batch_norm.ts";
import { BATCH_NORM_INFERENCE } from "../kernels/batch_norm_webgpu.ts";

/** Options for convolutions. */
export interface ConvOptions {
  /**
   * Stride on both spatial axes.
   * @default {1}
   */
  stride?: number;
  /**
   * Zero padding on every side, as PyTorch's `padding`.
   * @default {0}
   */
  pad?: number;
  /**
   * Name of a bias vector, if the conv has one.
   * @default {undefined}
   */
  bias?: string;
}

/** Options for linear layers. */
export interface LinearOptions {
  /**
   * Use only output columns `[start, start + size)` of the weight and bias.
   * @default {undefined}
   */
  columns?: [number, number];
  /**
   * Whether `prefix.bias` exists.
   * @default {true}
   */
  bias?: boolean;
}

/** Operations over tensors of type `T` (eager tensors or graph node names). */
export interface Ops<T> {
  /**
   * Run one block; eagerly this frees the block's intermediates when it
   * returns (under a gradient tape, tfjs keeps what backprop needs).
   */
  scope(fn: () => T): T;
  /** 2-D convolution of NHWC `x` with the `[kh, kw, in, out]` parameter `weight`. */
  conv2d(x: T, weight: string, options?: ConvOptions): T;
  /** Depthwise convolution of NHWC `x` with the `[kh, kw, channels, 1]` parameter `weight`. */
  depthwiseConv2d(x: T, weight: string, options?: ConvOptions): T;
  /** Batch norm over the last axis with `prefix.{weight,bias,running_mean,running_var}`. */
  batchNorm(x: T, prefix: string, eps?: number): T;
  /** Layer norm over the last axis with `prefix.{weight,bias}`. */
  layerNorm(x: T, prefix: string, eps: number): T;
  /** `x @ prefix.weight + prefix.bias` for rank-2 `[B,in]` or rank-3 `[B,N,in]` inputs. */
  linear(x: T, prefix: string, options?: LinearOptions): T;
  /** `max(x, 0)`. */
  relu(x: T): T;
  /** `min(max(x, 0), 6)`, as MobileNetV2 uses. */
  relu6(x: T): T;
  /** `x·sigmoid(x)` (swish), as EfficientNet uses. */
  silu(x: T): T;
  /** Exact GELU, `0.5·x·(1 + erf(x/√2))`, as PyTorch's default. */
  gelu(x: T): T;
  /** `1 / (1 + e^(-x))`. */
  sigmoid(x: T): T;
  /** `a + b`, broadcasting (residual connections). */
  add(a: T, b: T): T;
  /** `a · b` elementwise, broadcasting (squeeze-and-excitation gates). */
  mul(a: T, b: T): T;
  /** `x · s` for a constant `s`. */
  scale(x: T, s: number): T;
  /**
   * Max pooling over `size × size` windows, `pad` zeros on every side; this equals PyTorch's
   * `MaxPool2d` (which pads with -inf) on non-negative inputs such as a ReLU output.
   */
  maxPool(x: T, size: number, stride: number, pad: number): T;
  /** Mean over the two spatial axes of NHWC; `[B,C]`, or `[B,1,1,C]` with keepDims. */
  meanSpatial(x: T, keepDims: boolean): T;
  /** Reshape; the batch axis may be -1. */
  reshape(x: T, shape: number[]): T;
  /** Permute the axes: output axis `i` is input axis `perm[i]`. */
  transpose(x: T, perm: number[]): T;
  /** Softmax over the last axis. */
  softmax(x: T): T;
  /** `a @ b` (or `a @ bᵀ`) over the last two axes. */
  batchMatMul(a: T, b: T, transposeB: boolean): T;
  /** `[B,N,D] → [B,N+1,D]` with the `[1,1,D]` parameter `name` first. */
  prependToken(x: T, name: string): T;
  /** Add a parameter, broadcasting. */
  addParam(x: T, name: string): T;
  /** `[B,N,D] → [B,D]`, the first token. */
  firstToken(x: T): T;
}

/** Batch-norm momentum, PyTorch's convention: `running = (1 - m)·running + m·batch`. */
export const BN_MOMENTUM = 0.1;

/** Eager operations on tfjs tensors, in training or inference mode. */
export class EagerOps implements Ops<tf.Tensor> {
  constructor(readonly params: ParamStore, readonly training: boolean) {}

  scope(fn: () => tf.Tensor): tf.Tensor {
    return tf.tidy(fn);
  }

  #p(name: string): tf.Variable {
    return this.params.get(name);
  }

  #pads(pad: number): [[0, 0], [number, number], [number, number], [0, 0]] {
    return [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  }

  #conv(
    op: typeof tf.conv2d | typeof tf.depthwiseConv2d,
    x: tf.Tensor,
    weight: string,
    o: ConvOptions,
  ): tf.Tensor {
    const pad = o.pad ? this.#pads(o.pad) : "valid";
    const y = op(x as tf.Tensor4D, this.#p(weight) as tf.Tensor4D, o.stride ?? 1, pad);
    return o.bias ? tf.add(y, this.#p(o.bias)) : y;
  }

  conv2d(x: tf.Tensor, weight: string, o: ConvOptions = {}): tf.Tensor {
    return this.#conv(tf.conv2d, x, weight, o);
  }

  depthwiseConv2d(x: tf.Tensor, weight: string, o: ConvOptions = {}): tf.Tensor {
    return this.#conv(tf.depthwiseConv2d, x, weight, o);
  }

  batchNorm(x: tf.Tensor, prefix: string, eps = 1e-5): tf.Tensor {
    const gamma = this.#p(`${prefix}.weight`);
    const beta = this.#p(`${prefix}.bias`);
    const runMean = this.#p(`${prefix}.running_mean`);
    const runVar = this.#p(`${prefix}.running_var`);
    if (!this.training) {
      if (tf.getBackend() === "webgpu" && tf.getKernel(BATCH_NORM_INFERENCE, "webgpu")) {
        // One dispatch on WebGPU (lib/kernels/batch_norm_webgpu.ts), the same formula.
        return tf.engine().runKernel(
          BATCH_NORM_INFERENCE,
          { x, gamma, beta, runMean, runVar },
          { eps } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
      }
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runVar, eps)));
      return tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(runMean, scale)));
    }
    return batchNormTraining(x, { gamma, beta }, {
      eps,
      running: { mean: runMean, variance: runVar, momentum: BN_MOMENTUM },
    });
  }

  layerNorm(x: tf.Tensor, prefix: string, eps: number): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, this.#p(`${prefix}.weight`)), this.#p(`${prefix}.bias`));
  }

  linear(x: tf.Tensor, prefix: string, o: LinearOptions = {}): tf.Tensor {
    let w: tf.Tensor = this.#p(`${prefix}.weight`);
    let b: tf.Tensor | undefined = o.bias === false ? undefined : this.#p(`${prefix}.bias`);
    if (o.columns) {
      const [start, size] = o.columns;
      w = tf.slice(w, [0, start], [-1, size]);
      if (b) b = tf.slice(b, [start], [size]);
    }
    const flat = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
    let y: tf.Tensor = tf.matMul(flat as tf.Tensor2D, w as tf.Tensor2D);
    if (b) y = tf.add(y, b);
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1] as number]);
  }

  relu(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }

  relu6(x: tf.Tensor): tf.Tensor {
    return tf.relu6(x);
  }

  silu(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, tf.sigmoid(x));
  }

  gelu(x: tf.Tensor): tf.Tensor {
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  }

  sigmoid(x: tf.Tensor): tf.Tensor {
    return tf.sigmoid(x);
  }

  add(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.add(a, b);
  }

  mul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.mul(a, b);
  }

  scale(x: tf.Tensor, s: number): tf.Tensor {
    return tf.mul(x, s);
  }

  maxPool(x: tf.Tensor, size: number, stride: number, pad: number): tf.Tensor {
    // Zero padding equals PyTorch's -inf padding here: every caller pools a ReLU output.
    const padded = pad ? tf.pad(x, this.#pads(pad)) : x;
    return tf.maxPool(padded as tf.Tensor4D, size, stride, "valid");
  }

  meanSpatial(x: tf.Tensor, keepDims: boolean): tf.Tensor {
    return tf.mean(x, [1, 2], keepDims);
  }

  reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
    return tf.reshape(x, shape);
  }

  transpose(x: tf.Tensor, perm: number[]): tf.Tensor {
    return tf.transpose(x, perm);
  }

  softmax(x: tf.Tensor): tf.Tensor {
    return tf.softmax(x);
  }

  batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB: boolean): tf.Tensor {
    return tf.matMul(a, b, false, transposeB);
  }

  prependToken(x: tf.Tensor, name: string): tf.Tensor {
    const token = this.#p(name);
    const [batch, , dim] = x.shape;
    return tf.concat([tf.broadcastTo(token, [batch, 1, dim]), x], 1);
  }

  addParam(x: tf.Tensor, name: string): tf.Tensor {
    return tf.add(x, this.#p(name));
  }

  firstToken(x: tf.Tensor): tf.Tensor {
    const [batch, , dim] = x.shape;
    return tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, dim]), [batch, dim]);
  }
}
