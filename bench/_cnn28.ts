/**
 * The benchmark's small ResNet-like CNN for 28×28×1 images, written on the
 * model zoo's own building blocks ({@linkcode Backbone}, the `Ops` forward,
 * `ParamStore` initialisers), so it trains exactly as a zoo model does
 * (batch norm in training mode with broadcasting ops, the toolkit's conv
 * gradient kernels).
 *
 * Three stages of 32, 64 and 128 channels; each stage is one residual block
 * `relu(bn2(conv2(relu(bn1(conv1(x))))) + bn(conv1×1(x)))` with 3×3 convs
 * (padding 1) and a projection shortcut; 2×2 max-pool after stages 1 and 2;
 * global average pool. `bench/reference.py` builds the same network
 * in PyTorch (`Cnn28`), with the same parameter names.
 *
 * @module
 */
import type { Ops } from "../lib/models/ops.ts";
import { Backbone } from "../lib/models/backbone.ts";

/** Channels of the three stages. */
export const CNN28_STAGES: readonly number[] = [32, 64, 128];

/** The benchmark CNN; `embed` returns `[B, 128]`. */
export class Cnn28 extends Backbone {
  readonly architecture = "bench_cnn28";
  readonly args: { inChannels: number; seed: number };
  readonly featureDim: number;
  readonly inChannels: number;

  constructor(inChannels = 1, seed = 0) {
    super(seed);
    this.args = { inChannels, seed };
    this.inChannels = inChannels;
    const p = this.params;
    let cin = inChannels;
    CNN28_STAGES.forEach((c, i) => {
      const prefix = `layer${i + 1}`;
      p.conv(`${prefix}.conv1.weight`, 3, 3, cin, c);
      p.batchNorm(`${prefix}.bn1`, c);
      p.conv(`${prefix}.conv2.weight`, 3, 3, c, c);
      p.batchNorm(`${prefix}.bn2`, c);
      p.conv(`${prefix}.shortcut.0.weight`, 1, 1, cin, c);
      p.batchNorm(`${prefix}.shortcut.1`, c);
      cin = c;
    });
    this.featureDim = cin;
  }

  forward<T>(ops: Ops<T>, x: T): T {
    let h = x;
    CNN28_STAGES.forEach((_, i) => {
      const p = `layer${i + 1}`;
      const x0 = h;
      h = ops.scope(() => {
        let out = ops.relu(
          ops.batchNorm(ops.conv2d(x0, `${p}.conv1.weight`, { pad: 1 }), `${p}.bn1`),
        );
        out = ops.batchNorm(ops.conv2d(out, `${p}.conv2.weight`, { pad: 1 }), `${p}.bn2`);
        const short = ops.batchNorm(ops.conv2d(x0, `${p}.shortcut.0.weight`), `${p}.shortcut.1`);
        return ops.relu(ops.add(out, short));
      });
      if (i < CNN28_STAGES.length - 1) h = ops.maxPool(h, 2, 2, 0);
    });
    return ops.meanSpatial(h, false);
  }
}
