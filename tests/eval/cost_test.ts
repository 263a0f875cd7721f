/**
 * Model cost (lib/eval/cost.ts): multiply-adds counted from the kernels a
 * forward pass runs, against the count by hand; latency medians; the
 * teacher-versus-student line.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest } from "../_helpers.ts";
import { countMacs, formatCost, modelCost } from "../../lib/eval/cost.ts";
import type { Embedder } from "../../lib/models/types.ts";
import type { Tensor2D, Tensor4D } from "../../lib/tf_types.ts";

/** conv 3×3 (3→4) on 8×8, depthwise 3×3 on 4 channels, ReLU, flatten, matMul to 10. */
class Tiny implements Embedder {
  readonly featureDim = 10;
  readonly parameterCount = 3 * 3 * 3 * 4 + 3 * 3 * 4 + 256 * 10;
  #w = tf.tidy(() => tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 1)));
  #d = tf.tidy(() => tf.variable(tf.randomNormal([3, 3, 4, 1], 0, 1, "float32", 2)));
  #m = tf.tidy(() => tf.variable(tf.randomNormal([256, 10], 0, 1, "float32", 3)));
  embed(x: Tensor4D): Tensor2D {
    return tf.tidy(() => {
      const y = tf.depthwiseConv2d(
        tf.conv2d(x, this.#w as tf.Tensor4D, 1, "same"),
        this.#d as tf.Tensor4D,
        1,
        "same",
      );
      return tf.matMul(tf.reshape(tf.relu(y), [x.shape[0], 256]), this.#m as tf.Tensor2D);
    });
  }
  dispose() {
    tf.dispose([this.#w, this.#d, this.#m]);
  }
}

backendTest("countMacs: conv, depthwise and matMul multiply-adds, counted once each", async () => {
  const tiny = new Tiny();
  // 8·8·4 outputs × 3·3·3 + 8·8·4 outputs × 3·3 + 10 outputs × 256.
  assert.equal(countMacs(tiny, [8, 8, 3]), 8 * 8 * 4 * 27 + 8 * 8 * 4 * 9 + 10 * 256);
  const cost = await modelCost(tiny, [8, 8, 3], { runs1: 3, runs64: 2 });
  assert.equal(cost.params, tiny.parameterCount);
  assert.ok(cost.msPerImage1 > 0 && cost.msPerImage64 > 0, JSON.stringify(cost));
  assert.equal(cost.backend, tf.getBackend());
  tiny.dispose();
});

Deno.test("formatCost: a table and the one line a reader weighs", () => {
  const c = (params: number, macs: number, ms: number) => ({
    params,
    macs,
    msPerImage1: ms,
    msPerImage64: ms / 4,
    backend: "wasm",
  });
  const text = formatCost(c(900, 9e7, 3), c(100, 1e7, 1), { teacher: 0.9, student: 0.875, k: 10 });
  const lines = text.split("\n");
  assert.equal(lines[2], "| teacher | 900 | 90.0 | 3.00 | 0.750 |");
  assert.equal(lines[3], "| student | 100 | 10.0 | 1.00 | 0.250 |");
  assert.equal(
    lines.at(-1),
    "student: 9.0× fewer parameters, 9.0× fewer multiply-adds, 3.0× faster at batch 64, " +
      "−2.50 kNN-10 points",
  );
  assert.match(formatCost(c(1, 1, 1), c(1, 1, 1)), /faster at batch 64$/);
});
