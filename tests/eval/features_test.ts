/**
 * extractFeatures: equal to `embed` on whole batches (a toy embedder that
 * tells training from inference, and a real ResNet), for batch sizes that do
 * not divide N, with the transform and with index subsets; progress;
 * validation; no leaked tensors, also when the model fails.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { ArrayImageSource } from "../../lib/data/array_source.ts";
import { Rng } from "../../lib/util/rng.ts";
import { extractFeatures } from "../../lib/eval/features.ts";
import { createModel } from "../../lib/models/registry.ts";
import type { Embedder, EmbedOptions } from "../../lib/models/types.ts";
import { assertClose, backendTest } from "../_helpers.ts";

const quiet = { progress: false };

function images(n: number, shape: [number, number, number] = [4, 4, 2]): ArrayImageSource {
  const rng = new Rng(n);
  const pixels = new Uint8Array(n * shape[0] * shape[1] * shape[2]).map(() => rng.int(256));
  return new ArrayImageSource("toy", pixels, shape, `toy-${n}`);
}

/** Flatten and project; adds 1000 in training mode, so a training-mode call shows. */
class Toy implements Embedder {
  readonly featureDim = 3;
  readonly w: tf.Tensor2D;
  constructor(inputs: number) {
    const rng = new Rng(1);
    this.w = tf.tensor2d(Array.from({ length: inputs * 3 }, () => rng.normal()), [inputs, 3]);
  }
  embed(x: tf.Tensor4D, options: EmbedOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const f = tf.matMul(tf.reshape(x, [x.shape[0], -1]), this.w);
      return (options.training ? tf.add(f, 1000) : f) as tf.Tensor2D;
    });
  }
}

const transform = (x: tf.Tensor4D): tf.Tensor4D => tf.sub(tf.mul(x, 2), 1);

/** `embed(transform(batch(indices)))` in one call, read back. */
async function direct(model: Embedder, src: ArrayImageSource, indices: number[]) {
  const x = await src.batch(indices);
  const y = tf.tidy(() => model.embed(transform(x), { training: false }));
  x.dispose();
  const data = await y.data();
  y.dispose();
  return data;
}

backendTest(
  "extractFeatures: equals embed on one batch, any batch size, with a subset",
  async () => {
    const src = images(10);
    const model = new Toy(32);
    try {
      const all = [...Array(10).keys()];
      const want = await direct(model, src, all);
      for (const batchSize of [1, 3, 10, 256]) {
        const got = await extractFeatures(model, src, { transform, batchSize, ...quiet });
        assert.deepEqual([got.n, got.dim], [10, 3]);
        assertClose(got.features, want, { rtol: 1e-6, label: `batch ${batchSize}` });
      }
      const indices = [7, 2, 2, 9];
      const sub = await extractFeatures(model, src, { transform, indices, batchSize: 3, ...quiet });
      assert.equal(sub.n, 4);
      assertClose(sub.features, await direct(model, src, indices), { rtol: 1e-6, label: "subset" });
    } finally {
      model.w.dispose();
    }
  },
);

backendTest(
  "extractFeatures: a ResNet in inference mode, batch by batch, equals one embed",
  async () => {
    const src = images(6, [8, 8, 1]);
    const model = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
    try {
      const got = await extractFeatures(model, src, { transform, batchSize: 4, ...quiet });
      assert.deepEqual([got.n, got.dim], [6, model.featureDim]);
      assertClose(got.features, await direct(model, src, [0, 1, 2, 3, 4, 5]), {
        rtol: 1e-5,
        label: "resnet18 features",
      });
    } finally {
      model.dispose();
    }
  },
  { backends: ["cpu", "wasm"] },
);

backendTest("extractFeatures: reports progress in line mode", async () => {
  if (Deno.stderr.isTerminal()) return; // a live bar, not lines
  const src = images(10);
  const model = new Toy(32);
  const lines: string[] = [];
  const error = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    await extractFeatures(model, src, { batchSize: 2 });
  } finally {
    console.error = error;
    model.w.dispose();
  }
  assert.ok(lines.length >= 2, lines.join("\n"));
  assert.match(lines.at(-1)!, /^features toy: done \(10\/10 images\)/);
}, { backends: ["cpu"] });

backendTest(
  "extractFeatures: bad arguments and a failing model are reported, nothing leaks",
  async () => {
    const src = images(10);
    const model = new Toy(32);
    try {
      await assert.rejects(
        extractFeatures(model, src, { indices: [1, 12], ...quiet }),
        (e: Error) =>
          e instanceof RangeError &&
          /indices\[1\] is 12, not an image of "toy" \(0\.\.9\)/.test(e.message),
      );
      await assert.rejects(
        extractFeatures(model, src, { indices: [], ...quiet }),
        /no images to embed/,
      );
      await assert.rejects(
        extractFeatures(model, src, { batchSize: 0, ...quiet }),
        /extractFeatures: batchSize must be a positive integer, got 0/,
      );
      const flat: Embedder = {
        featureDim: 3,
        embed: (x) => tf.reshape(x, [-1]) as unknown as tf.Tensor2D,
      };
      await assert.rejects(
        extractFeatures(flat, src, { batchSize: 4, ...quiet }),
        (e: Error) =>
          e instanceof RangeError &&
          /^extractFeatures: .*returned \[128\] for images 0\.\.3/.test(e.message),
      );
    } finally {
      model.w.dispose();
    }
  },
  { backends: ["cpu"] },
);
