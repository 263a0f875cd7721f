/**
 * EfficientNet-B0 (Tan & Le, 2019), names and structure as torchvision's
 * `efficientnet_b0`: MBConv blocks with squeeze-and-excitation and SiLU,
 * channels rounded to multiples of 8, a 1280-wide last conv. Stochastic
 * depth is not applied (students here train without it).
 *
 * @module
 */
import type { Ops } from "./ops.ts";
import { Backbone, makeDivisible, type MobileNetArgs, resolveMobileNetArgs } from "./backbone.ts";

/** Arguments of {@linkcode EfficientNetB0}. */
export type EfficientNetArgs = MobileNetArgs;

// expand ratio, kernel, stride, in, out, layers (torchvision's B0 bneck_conf)
const STAGES = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

interface Block {
  prefix: string;
  expand: boolean;
  kernel: number;
  stride: number;
  residual: boolean;
}

/**
 * A torchvision-compatible EfficientNet-B0 backbone (the classifier is not part of it).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { EfficientNetB0 } from "./efficientnet.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const net = new EfficientNetB0({ width: 0.25, inChannels: 3 });
 * const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
 * const features = net.embed(x);
 * console.log(features.shape); // [1, 320]
 * tf.dispose([x, features]);
 * net.dispose();
 * ```
 */
export class EfficientNetB0 extends Backbone {
  /** Always `"efficientnet_b0"`. */
  readonly architecture = "efficientnet_b0";
  /** The arguments with their defaults filled in. */
  readonly args: Required<MobileNetArgs>;
  /** Width of the pooled features: 4 × the last stage's channels, 1280 at width 1. */
  readonly featureDim: number;
  /** Image channels expected. */
  readonly inChannels: number;
  readonly #blocks: Block[] = [];

  /**
   * Build the network with freshly initialised weights (seeded by `args.seed`).
   *
   * @throws {RangeError} For a width or channel count that is not positive, or a stem stride other than 1 or 2.
   */
  constructor(args: EfficientNetArgs = {}) {
    super(args.seed ?? 0);
    this.args = resolveMobileNetArgs("efficientnet_b0", args);
    this.inChannels = this.args.inChannels;
    const c = (n: number) => makeDivisible(n * this.args.width);
    const p = this.params;
    p.conv("features.0.0.weight", 3, 3, this.inChannels, c(32));
    p.batchNorm("features.0.1", c(32));
    STAGES.forEach(([t, k, s, cin, cout, n], stage) => {
      for (let i = 0; i < n; i++) {
        const inp = c(i === 0 ? cin : cout);
        const out = c(cout);
        const stride = i === 0 ? s : 1;
        const expanded = makeDivisible(inp * t);
        const squeeze = Math.max(1, Math.floor(inp / 4));
        const prefix = `features.${stage + 1}.${i}.block`;
        const expand = expanded !== inp;
        let j = 0;
        if (expand) {
          p.conv(`${prefix}.${j}.0.weight`, 1, 1, inp, expanded);
          p.batchNorm(`${prefix}.${j++}.1`, expanded);
        }
        p.depthwise(`${prefix}.${j}.0.weight`, k, k, expanded);
        p.batchNorm(`${prefix}.${j++}.1`, expanded);
        p.conv(`${prefix}.${j}.fc1.weight`, 1, 1, expanded, squeeze);
        p.vector(`${prefix}.${j}.fc1.bias`, [squeeze]);
        p.conv(`${prefix}.${j}.fc2.weight`, 1, 1, squeeze, expanded);
        p.vector(`${prefix}.${j++}.fc2.bias`, [expanded]);
        p.conv(`${prefix}.${j}.0.weight`, 1, 1, expanded, out);
        p.batchNorm(`${prefix}.${j}.1`, out);
        this.#blocks.push({
          prefix,
          expand,
          kernel: k,
          stride,
          residual: stride === 1 && inp === out,
        });
      }
    });
    this.featureDim = 4 * c(320);
    p.conv("features.8.0.weight", 1, 1, c(320), this.featureDim);
    p.batchNorm("features.8.1", this.featureDim);
  }

  /**
   * The forward pass, images `[B, H, W, C]` to pooled features `[B, featureDim]`,
   * written once against `ops` (eager tensors for `embed`, graph nodes for export).
   */
  forward<T>(ops: Ops<T>, x: T): T {
    let h = this.#cbs(ops, x, "features.0", { stride: this.args.stemStride, pad: 1 });
    for (const b of this.#blocks) {
      const x0 = h;
      h = ops.scope(() => this.#block(ops, x0, b));
    }
    return ops.meanSpatial(this.#cbs(ops, h, "features.8"), false);
  }

  /** Conv, batch norm, SiLU (torchvision's Conv2dNormActivation). */
  #cbs<T>(ops: Ops<T>, h: T, conv: string, o: { stride?: number; pad?: number } = {}): T {
    return ops.silu(ops.batchNorm(ops.conv2d(h, `${conv}.0.weight`, o), `${conv}.1`));
  }

  #block<T>(ops: Ops<T>, h: T, b: Block): T {
    let j = 0;
    let y = b.expand ? this.#cbs(ops, h, `${b.prefix}.${j++}`) : h;
    const dw = `${b.prefix}.${j++}`;
    y = ops.depthwiseConv2d(y, `${dw}.0.weight`, { stride: b.stride, pad: (b.kernel - 1) / 2 });
    y = ops.silu(ops.batchNorm(y, `${dw}.1`));
    // Squeeze-and-excitation: channel gates from the pooled activations.
    const se = `${b.prefix}.${j++}`;
    let s = ops.meanSpatial(y, true);
    s = ops.silu(ops.conv2d(s, `${se}.fc1.weight`, { bias: `${se}.fc1.bias` }));
    s = ops.sigmoid(ops.conv2d(s, `${se}.fc2.weight`, { bias: `${se}.fc2.bias` }));
    y = ops.mul(y, s);
    const proj = `${b.prefix}.${j}`;
    y = ops.batchNorm(ops.conv2d(y, `${proj}.0.weight`), `${proj}.1`);
    return b.residual ? ops.add(h, y) : y;
  }
}
