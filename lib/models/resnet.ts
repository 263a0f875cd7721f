/**
 * ResNet-18/34/50 (He et al., 2016), parameter names and structure as
 * torchvision's `resnet18/34/50` (v1.5: the stride sits on the 3×3 conv of
 * a bottleneck), with a width multiplier and two stems:
 * - `imagenet`: 7×7/2 conv, batch norm, ReLU, 3×3/2 max-pool;
 * - `cifar`: 3×3/1 conv, batch norm, ReLU, no pool (for 28–64 px images).
 *
 * @module
 */
import type { Ops } from "./ops.ts";
import { Backbone, positive, positiveInt, scaled } from "./backbone.ts";

/** Arguments of {@linkcode ResNet}. */
export interface ResNetArgs {
  /** Depth: 18 and 34 use basic blocks, 50 bottlenecks. */
  depth: 18 | 34 | 50;
  /**
   * Stem: `imagenet` (7×7/2 conv + max-pool) or `cifar` (3×3/1 conv).
   * @default {"imagenet"}
   */
  stem?: "imagenet" | "cifar";
  /**
   * Channel multiplier; 1 gives torchvision's 64-128-256-512 stages.
   * @default {1}
   */
  width?: number;
  /**
   * Image channels (1 for Fashion-MNIST, 3 for RGB).
   * @default {3}
   */
  inChannels?: number;
  /**
   * Seed of the initialisers.
   * @default {0}
   */
  seed?: number;
}

const LAYERS: Record<ResNetArgs["depth"], number[]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};

interface Block {
  prefix: string;
  stride: number;
  downsample: boolean;
}

/**
 * A torchvision-compatible ResNet backbone; `embed` returns the globally
 * average-pooled output of the last stage (the `fc` layer is not part of it).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ResNet } from "./resnet.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const net = new ResNet({ depth: 18, stem: "cifar", width: 0.25, inChannels: 1 });
 * const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
 * const features = net.embed(x);
 * console.log(features.shape); // [2, 128]
 * tf.dispose([x, features]);
 * net.dispose();
 * ```
 */
export class ResNet extends Backbone {
  /** `"resnet18"`, `"resnet34"` or `"resnet50"`, by depth. */
  readonly architecture: string;
  /** The arguments with their defaults filled in. */
  readonly args: Required<ResNetArgs>;
  /** Width of the pooled features: 512·width (×4 for ResNet-50), e.g. 128 at width 0.25. */
  readonly featureDim: number;
  /** Image channels expected. */
  readonly inChannels: number;
  readonly #blocks: Block[][] = [];
  readonly #bottleneck: boolean;

  /**
   * Build the network with freshly initialised weights (seeded by `args.seed`).
   *
   * @throws {RangeError} For an unknown depth or stem, or a width or channel count that is not positive.
   */
  constructor(args: ResNetArgs) {
    super(args.seed ?? 0);
    const name = `resnet${args.depth}`;
    if (!(args.depth in LAYERS)) {
      throw new RangeError(`resnet: depth must be 18, 34 or 50, got ${args.depth}`);
    }
    const stem = args.stem ?? "imagenet";
    if (stem !== "imagenet" && stem !== "cifar") {
      throw new RangeError(`${name}: stem must be "imagenet" or "cifar", got "${stem}"`);
    }
    this.args = {
      depth: args.depth,
      stem,
      width: positive(name, "width", args.width ?? 1),
      inChannels: positiveInt(name, "inChannels", args.inChannels ?? 3),
      seed: args.seed ?? 0,
    };
    this.architecture = name;
    this.inChannels = this.args.inChannels;
    this.#bottleneck = args.depth === 50;
    const expansion = this.#bottleneck ? 4 : 1;
    const p = this.params;
    const w = this.args.width;
    let inplanes = scaled(64, w);
    const k = stem === "imagenet" ? 7 : 3;
    p.conv("conv1.weight", k, k, this.inChannels, inplanes);
    p.batchNorm("bn1", inplanes);
    LAYERS[args.depth].forEach((count, stage) => {
      const planes = scaled(64 * 2 ** stage, w);
      const blocks: Block[] = [];
      for (let i = 0; i < count; i++) {
        const prefix = `layer${stage + 1}.${i}`;
        const stride = i === 0 && stage > 0 ? 2 : 1;
        const downsample = i === 0 && (stride !== 1 || inplanes !== planes * expansion);
        if (this.#bottleneck) {
          p.conv(`${prefix}.conv1.weight`, 1, 1, inplanes, planes);
          p.batchNorm(`${prefix}.bn1`, planes);
          p.conv(`${prefix}.conv2.weight`, 3, 3, planes, planes);
          p.batchNorm(`${prefix}.bn2`, planes);
          p.conv(`${prefix}.conv3.weight`, 1, 1, planes, planes * expansion);
          p.batchNorm(`${prefix}.bn3`, planes * expansion);
        } else {
          p.conv(`${prefix}.conv1.weight`, 3, 3, inplanes, planes);
          p.batchNorm(`${prefix}.bn1`, planes);
          p.conv(`${prefix}.conv2.weight`, 3, 3, planes, planes);
          p.batchNorm(`${prefix}.bn2`, planes);
        }
        if (downsample) {
          p.conv(`${prefix}.downsample.0.weight`, 1, 1, inplanes, planes * expansion);
          p.batchNorm(`${prefix}.downsample.1`, planes * expansion);
        }
        inplanes = planes * expansion;
        blocks.push({ prefix, stride, downsample });
      }
      this.#blocks.push(blocks);
    });
    this.featureDim = inplanes;
  }

  /**
   * The forward pass, images `[B, H, W, C]` to pooled features `[B, featureDim]`,
   * written once against `ops` (eager tensors for `embed`, graph nodes for export).
   */
  forward<T>(ops: Ops<T>, x: T): T {
    const imagenet = this.args.stem === "imagenet";
    let h = ops.conv2d(x, "conv1.weight", { stride: imagenet ? 2 : 1, pad: imagenet ? 3 : 1 });
    h = ops.relu(ops.batchNorm(h, "bn1"));
    if (imagenet) h = ops.maxPool(h, 3, 2, 1);
    for (const stage of this.#blocks) {
      for (const b of stage) {
        const x0 = h;
        h = ops.scope(() => this.#block(ops, x0, b));
      }
    }
    return ops.meanSpatial(h, false);
  }

  #block<T>(ops: Ops<T>, x: T, b: Block): T {
    const p = b.prefix;
    let out: T;
    if (this.#bottleneck) {
      out = ops.relu(ops.batchNorm(ops.conv2d(x, `${p}.conv1.weight`), `${p}.bn1`));
      out = ops.conv2d(out, `${p}.conv2.weight`, { stride: b.stride, pad: 1 });
      out = ops.relu(ops.batchNorm(out, `${p}.bn2`));
      out = ops.batchNorm(ops.conv2d(out, `${p}.conv3.weight`), `${p}.bn3`);
    } else {
      out = ops.conv2d(x, `${p}.conv1.weight`, { stride: b.stride, pad: 1 });
      out = ops.relu(ops.batchNorm(out, `${p}.bn1`));
      out = ops.batchNorm(ops.conv2d(out, `${p}.conv2.weight`, { pad: 1 }), `${p}.bn2`);
    }
    const identity = b.downsample
      ? ops.batchNorm(
        ops.conv2d(x, `${p}.downsample.0.weight`, { stride: b.stride }),
        `${p}.downsample.1`,
      )
      : x;
    return ops.relu(ops.add(out, identity));
  }
}
