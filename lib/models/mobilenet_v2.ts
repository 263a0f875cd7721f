/**
 * MobileNetV2 (Sandler et al., 2018), names and structure as torchvision's
 * `mobilenet_v2`: inverted residual blocks with ReLU6, a width multiplier,
 * channels rounded to multiples of 8, and a 1280-wide last conv.
 *
 * @module
 */
import type { Ops } from "./ops.ts";
import { Backbone, makeDivisible, type MobileNetArgs, resolveMobileNetArgs } from "./backbone.ts";

/** Arguments of {@linkcode MobileNetV2}. */
export type MobileNetV2Args = MobileNetArgs;

// expansion t, channels c, repeats n, stride s (torchvision's inverted_residual_setting)
const SETTINGS = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

interface Block {
  prefix: string;
  expand: boolean;
  stride: number;
  residual: boolean;
}

/**
 * A torchvision-compatible MobileNetV2 backbone (the classifier is not part of it).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { MobileNetV2 } from "./mobilenet_v2.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const net = new MobileNetV2({ width: 0.35, inChannels: 1, stemStride: 1 });
 * const x = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
 * const features = net.embed(x);
 * console.log(features.shape); // [1, 1280]
 * tf.dispose([x, features]);
 * net.dispose();
 * ```
 */
export class MobileNetV2 extends Backbone {
  /** Always `"mobilenet_v2"`. */
  readonly architecture = "mobilenet_v2";
  /** The arguments with their defaults filled in. */
  readonly args: Required<MobileNetArgs>;
  /** Width of the pooled features: 1280 at width ≤ 1, scaled up with wider multipliers. */
  readonly featureDim: number;
  /** Image channels expected. */
  readonly inChannels: number;
  readonly #blocks: Block[] = [];
  readonly #last: string;

  /**
   * Build the network with freshly initialised weights (seeded by `args.seed`).
   *
   * @throws {RangeError} For a width or channel count that is not positive, or a stem stride other than 1 or 2.
   */
  constructor(args: MobileNetV2Args = {}) {
    super(args.seed ?? 0);
    this.args = resolveMobileNetArgs("mobilenet_v2", args);
    this.inChannels = this.args.inChannels;
    const w = this.args.width;
    const p = this.params;
    let inp = makeDivisible(32 * w);
    p.conv("features.0.0.weight", 3, 3, this.inChannels, inp);
    p.batchNorm("features.0.1", inp);
    let index = 1;
    for (const [t, c, n, s] of SETTINGS) {
      const out = makeDivisible(c * w);
      for (let i = 0; i < n; i++) {
        const prefix = `features.${index++}.conv`;
        const stride = i === 0 ? s : 1;
        const hidden = Math.round(inp * t);
        const expand = t !== 1;
        let j = 0;
        if (expand) {
          p.conv(`${prefix}.${j}.0.weight`, 1, 1, inp, hidden);
          p.batchNorm(`${prefix}.${j++}.1`, hidden);
        }
        p.depthwise(`${prefix}.${j}.0.weight`, 3, 3, hidden);
        p.batchNorm(`${prefix}.${j++}.1`, hidden);
        p.conv(`${prefix}.${j++}.weight`, 1, 1, hidden, out);
        p.batchNorm(`${prefix}.${j}`, out);
        this.#blocks.push({ prefix, expand, stride, residual: stride === 1 && inp === out });
        inp = out;
      }
    }
    this.featureDim = makeDivisible(1280 * Math.max(1, w));
    this.#last = `features.${index}`;
    p.conv(`${this.#last}.0.weight`, 1, 1, inp, this.featureDim);
    p.batchNorm(`${this.#last}.1`, this.featureDim);
  }

  /**
   * The forward pass, images `[B, H, W, C]` to pooled features `[B, featureDim]`,
   * written once against `ops` (eager tensors for `embed`, graph nodes for export).
   */
  forward<T>(ops: Ops<T>, x: T): T {
    let h = this.#cbr(ops, x, "features.0", { stride: this.args.stemStride, pad: 1 });
    for (const b of this.#blocks) {
      const x0 = h;
      h = ops.scope(() => this.#block(ops, x0, b));
    }
    return ops.meanSpatial(this.#cbr(ops, h, this.#last), false);
  }

  /** Conv, batch norm, ReLU6 (torchvision's Conv2dNormActivation). */
  #cbr<T>(ops: Ops<T>, h: T, conv: string, o: { stride?: number; pad?: number } = {}): T {
    return ops.relu6(ops.batchNorm(ops.conv2d(h, `${conv}.0.weight`, o), `${conv}.1`));
  }

  #block<T>(ops: Ops<T>, h: T, b: Block): T {
    let j = 0;
    let y = b.expand ? this.#cbr(ops, h, `${b.prefix}.${j++}`) : h;
    const dw = `${b.prefix}.${j++}`;
    y = ops.depthwiseConv2d(y, `${dw}.0.weight`, { stride: b.stride, pad: 1 });
    y = ops.relu6(ops.batchNorm(y, `${dw}.1`));
    y = ops.batchNorm(ops.conv2d(y, `${b.prefix}.${j++}.weight`), `${b.prefix}.${j}`);
    return b.residual ? ops.add(h, y) : y;
  }
}
