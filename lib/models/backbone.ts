/**
 * The base class of every model in the zoo: named parameters, an eager
 * `embed` for training and inference, and a symbolic forward for export.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { EagerOps, type Ops } from "./ops.ts";
import { ParamStore } from "./params.ts";
import type { Embedder, EmbedOptions } from "./types.ts";
import type { Tensor, Tensor2D, Tensor4D, Variable } from "../tf_types.ts";

/** What every model reports about itself (also written to export cards). */
export interface BackboneInfo {
  /** Registry name, e.g. `resnet18`. */
  architecture: string;
  /** The resolved arguments the model was built with. */
  args: Record<string, unknown>;
  /** Width of the pooled features. */
  featureDim: number;
  /** Image channels expected. */
  inChannels: number;
  /** Fixed input size for models that need one (ViT), else undefined. */
  inputSize?: number;
}

/**
 * A backbone: images `[B,H,W,C]` to pooled features `[B,featureDim]`.
 *
 * @example
 * A custom model: declare its parameters, write `forward` once against `ops`
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { Backbone, type Ops } from "./mod.ts";
 *
 * class TinyMlp extends Backbone {
 *   readonly architecture = "tiny_mlp";
 *   readonly args = {};
 *   readonly featureDim = 16;
 *   readonly inChannels = 1;
 *   constructor() {
 *     super(0);
 *     this.params.linear("fc", 28 * 28, 16);
 *   }
 *   forward<T>(ops: Ops<T>, x: T): T {
 *     return ops.relu(ops.linear(ops.reshape(x, [-1, 28 * 28]), "fc"));
 *   }
 * }
 *
 * await initBackend({ backend: "cpu", log: false });
 * const net = new TinyMlp();
 * const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
 * const features = net.embed(x);
 * console.log(features.shape, net.parameterCount); // [2, 16] 12560
 * tf.dispose([x, features]);
 * net.dispose();
 * ```
 */
export abstract class Backbone implements Embedder {
  /** The model's named variables (weights and batch-norm statistics). */
  readonly params: ParamStore;
  /** Registry name. */
  abstract readonly architecture: string;
  /** Resolved constructor arguments. */
  abstract readonly args: Record<string, unknown>;
  /** Width of the pooled features. */
  abstract readonly featureDim: number;
  /** Image channels expected. */
  abstract readonly inChannels: number;
  /** Fixed input size, for models with position embeddings. */
  readonly inputSize?: number;

  /** Start with an empty {@linkcode ParamStore} whose initialisers are seeded by `seed`. */
  constructor(seed = 0) {
    this.params = new ParamStore(seed);
  }

  /** The forward pass, written once for eager and symbolic ops; returns `[B, featureDim]`. */
  abstract forward<T>(ops: Ops<T>, x: T): T;

  /**
   * Pooled backbone features. Training mode uses batch statistics in batch
   * norm and updates the running averages; inference mode uses them.
   *
   * @throws {RangeError} When `x` is not `[B,H,W,inChannels]` (or the wrong size for ViT).
   */
  embed(x: Tensor4D, options: EmbedOptions = {}): Tensor2D {
    const [, h, w, c] = x.shape;
    if (x.rank !== 4 || c !== this.inChannels) {
      throw new RangeError(
        `${this.architecture}: input shape [${x.shape}] is not [batch, height, width, ${this.inChannels}]`,
      );
    }
    if (this.inputSize !== undefined && (h !== this.inputSize || w !== this.inputSize)) {
      throw new RangeError(
        `${this.architecture}: input shape [${x.shape}] must be ${this.inputSize}x${this.inputSize} images`,
      );
    }
    const ops = new EagerOps(this.params, options.training ?? false);
    return tf.tidy(() => this.forward<Tensor>(ops, x) as Tensor2D);
  }

  /** Variables the optimizer trains (not batch-norm statistics). */
  trainableVariables(): Variable[] {
    return this.params.trainable();
  }

  /** Number of trainable scalars. */
  get parameterCount(): number {
    return this.params.countTrainable();
  }

  /** Architecture, arguments and dimensions, for cards and logs. */
  info(): BackboneInfo {
    return {
      architecture: this.architecture,
      args: this.args,
      featureDim: this.featureDim,
      inChannels: this.inChannels,
      inputSize: this.inputSize,
    };
  }

  /** Free the model's variables. */
  dispose(): void {
    this.params.dispose();
  }
}

/** Channels scaled by a width multiplier, at least 1. */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/** torchvision's `_make_divisible`: round to a multiple of `divisor`, never below 90% of `v`. */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(
    divisor,
    Math.floor(v + divisor / 2) - ((Math.floor(v + divisor / 2)) % divisor),
  );
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** Check a positive number argument; throws RangeError naming the model and key. */
export function positive(model: string, key: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${model}: ${key} must be a positive number, got ${value}`);
  }
  return value;
}

/** Check a positive integer argument; throws RangeError naming the model and key. */
export function positiveInt(model: string, key: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) {
    throw new RangeError(`${model}: ${key} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Arguments shared by the mobile CNNs (MobileNetV2, EfficientNet-B0). */
export interface MobileNetArgs {
  /**
   * Channel multiplier (torchvision's `width_mult`).
   * @default {1}
   */
  width?: number;
  /**
   * Image channels.
   * @default {3}
   */
  inChannels?: number;
  /**
   * Stride of the first conv; 1 keeps more resolution on 28–32 px images.
   * @default {2}
   */
  stemStride?: 1 | 2;
  /**
   * Seed of the initialisers.
   * @default {0}
   */
  seed?: number;
}

/** Defaults and checks for {@linkcode MobileNetArgs}; errors name `model` and the key. */
export function resolveMobileNetArgs(model: string, args: MobileNetArgs): Required<MobileNetArgs> {
  const stemStride = args.stemStride ?? 2;
  if (stemStride !== 1 && stemStride !== 2) {
    throw new RangeError(`${model}: stemStride must be 1 or 2, got ${stemStride}`);
  }
  return {
    width: positive(model, "width", args.width ?? 1),
    inChannels: positiveInt(model, "inChannels", args.inChannels ?? 3),
    stemStride,
    seed: args.seed ?? 0,
  };
}
