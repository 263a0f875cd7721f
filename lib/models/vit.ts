/**
 * Vision Transformer (Dosovitskiy et al., 2021) with a class token and
 * pre-norm blocks, parameter names as timm's `VisionTransformer`
 * (`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.{norm1,attn.qkv,
 * attn.proj,norm2,mlp.fc1,mlp.fc2}`, `norm`). Features are the final-norm
 * class token; LayerNorm eps 1e-6 and exact GELU, as timm.
 *
 * @module
 */
import type { Ops } from "./ops.ts";
import { Backbone, positive, positiveInt } from "./backbone.ts";

/** Arguments of {@linkcode ViT}. */
export interface ViTArgs {
  /**
   * Token width.
   * @default {192} (ViT-Tiny; ViT-Small is 384)
   */
  dim?: number;
  /**
   * Number of transformer blocks.
   * @default {12}
   */
  depth?: number;
  /**
   * Attention heads; must divide `dim`.
   * @default {3} (ViT-Tiny; ViT-Small is 6)
   */
  heads?: number;
  /**
   * MLP hidden width as a multiple of `dim`.
   * @default {4}
   */
  mlpRatio?: number;
  /**
   * Square patch size; must divide `imageSize`.
   * @default {16}
   */
  patchSize?: number;
  /**
   * Square input size the position embedding is built for.
   * @default {224}
   */
  imageSize?: number;
  /**
   * Image channels.
   * @default {3}
   */
  inChannels?: number;
  /**
   * Seed of the initialisers.
   * @default {0}
   */
  seed?: number;
}

/** ViT-Tiny and ViT-Small token widths and heads. */
export const VIT_PRESETS: Readonly<Record<"tiny" | "small", Pick<ViTArgs, "dim" | "heads">>> = {
  tiny: { dim: 192, heads: 3 },
  small: { dim: 384, heads: 6 },
};

/**
 * A timm-compatible ViT backbone.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 * import { ViT } from "./vit.ts";
 *
 * await initBackend({ backend: "cpu", log: false });
 * const vit = new ViT({ dim: 32, depth: 2, heads: 2, patchSize: 4, imageSize: 28, inChannels: 1 });
 * const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
 * const features = vit.embed(x);
 * console.log(features.shape); // [2, 32]
 * tf.dispose([x, features]);
 * vit.dispose();
 * ```
 */
export class ViT extends Backbone {
  /** Always `"vit"`, whichever preset built it. */
  readonly architecture = "vit";
  /** The arguments with their defaults filled in. */
  readonly args: Required<ViTArgs>;
  /** Width of the features: the token width `dim`. */
  readonly featureDim: number;
  /** Image channels expected. */
  readonly inChannels: number;
  /** The only input height and width accepted, `imageSize`: the position embedding is fixed. */
  override readonly inputSize: number;
  readonly #tokens: number;

  /**
   * Build the network with freshly initialised weights (seeded by `args.seed`).
   *
   * @throws {RangeError} For a size that is not a positive integer, `heads` not dividing `dim`, or `patchSize` not dividing `imageSize`.
   */
  constructor(args: ViTArgs = {}) {
    super(args.seed ?? 0);
    const a: Required<ViTArgs> = {
      dim: positiveInt("vit", "dim", args.dim ?? 192),
      depth: positiveInt("vit", "depth", args.depth ?? 12),
      heads: positiveInt("vit", "heads", args.heads ?? 3),
      mlpRatio: positive("vit", "mlpRatio", args.mlpRatio ?? 4),
      patchSize: positiveInt("vit", "patchSize", args.patchSize ?? 16),
      imageSize: positiveInt("vit", "imageSize", args.imageSize ?? 224),
      inChannels: positiveInt("vit", "inChannels", args.inChannels ?? 3),
      seed: args.seed ?? 0,
    };
    if (a.dim % a.heads !== 0) {
      throw new RangeError(`vit: heads (${a.heads}) must divide dim (${a.dim})`);
    }
    if (a.imageSize % a.patchSize !== 0) {
      throw new RangeError(
        `vit: patchSize (${a.patchSize}) must divide imageSize (${a.imageSize})`,
      );
    }
    this.args = a;
    this.featureDim = a.dim;
    this.inChannels = a.inChannels;
    this.inputSize = a.imageSize;
    const grid = a.imageSize / a.patchSize;
    this.#tokens = grid * grid + 1;
    const hidden = Math.round(a.dim * a.mlpRatio);
    const p = this.params;
    p.conv("patch_embed.proj.weight", a.patchSize, a.patchSize, a.inChannels, a.dim);
    p.vector("patch_embed.proj.bias", [a.dim]);
    p.vector("cls_token", [1, 1, a.dim], 0.02);
    p.vector("pos_embed", [1, this.#tokens, a.dim], 0.02);
    for (let i = 0; i < a.depth; i++) {
      const b = `blocks.${i}`;
      p.layerNorm(`${b}.norm1`, a.dim);
      p.linear(`${b}.attn.qkv`, a.dim, 3 * a.dim);
      p.linear(`${b}.attn.proj`, a.dim, a.dim);
      p.layerNorm(`${b}.norm2`, a.dim);
      p.linear(`${b}.mlp.fc1`, a.dim, hidden);
      p.linear(`${b}.mlp.fc2`, hidden, a.dim);
    }
    p.layerNorm("norm", a.dim);
  }

  /**
   * The forward pass, images `[B, H, W, C]` to the final-norm class token `[B, dim]`,
   * written once against `ops` (eager tensors for `embed`, graph nodes for export).
   */
  forward<T>(ops: Ops<T>, x: T): T {
    const { dim, depth, patchSize } = this.args;
    const n = this.#tokens;
    let h = ops.conv2d(x, "patch_embed.proj.weight", {
      stride: patchSize,
      bias: "patch_embed.proj.bias",
    });
    h = ops.reshape(h, [-1, n - 1, dim]);
    h = ops.addParam(ops.prependToken(h, "cls_token"), "pos_embed");
    for (let i = 0; i < depth; i++) {
      const b = `blocks.${i}`;
      const x0 = h;
      h = ops.scope(() => {
        const y = ops.add(x0, this.#attention(ops, ops.layerNorm(x0, `${b}.norm1`, 1e-6), b));
        const m = ops.gelu(ops.linear(ops.layerNorm(y, `${b}.norm2`, 1e-6), `${b}.mlp.fc1`));
        return ops.add(y, ops.linear(m, `${b}.mlp.fc2`));
      });
    }
    return ops.firstToken(ops.layerNorm(h, "norm", 1e-6));
  }

  #attention<T>(ops: Ops<T>, x: T, block: string): T {
    const { dim, heads } = this.args;
    const n = this.#tokens;
    const hd = dim / heads;
    const split = (part: number) => {
      const t = ops.linear(x, `${block}.attn.qkv`, { columns: [part * dim, dim] });
      return ops.transpose(ops.reshape(t, [-1, n, heads, hd]), [0, 2, 1, 3]);
    };
    const q = ops.scale(split(0), hd ** -0.5);
    const attn = ops.softmax(ops.batchMatMul(q, split(1), true));
    const out = ops.transpose(ops.batchMatMul(attn, split(2), false), [0, 2, 1, 3]);
    return ops.linear(ops.reshape(out, [-1, n, dim]), `${block}.attn.proj`);
  }
}
