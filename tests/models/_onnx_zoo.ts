/**
 * Small configurations of every zoo model for the ONNX export tests, with
 * batch-norm statistics moved off their (0, 1) initial values so that the
 * exported batch norm is really exercised, and the tfjs reference embedding.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Backbone } from "../../lib/models/backbone.ts";
import { createModel, type ModelName } from "../../lib/models/registry.ts";

/** Every registry name, small, with its input size. */
export const ONNX_ZOO: [ModelName, Record<string, unknown>, number][] = [
  ["resnet18", { stem: "cifar", width: 0.125, inChannels: 1 }, 28],
  ["resnet34", { stem: "imagenet", width: 0.0625, inChannels: 3 }, 32],
  ["resnet50", { stem: "imagenet", width: 0.0625, inChannels: 3 }, 32],
  ["mobilenet_v2", { width: 0.25, inChannels: 1, stemStride: 1 }, 28],
  ["efficientnet_b0", { width: 0.25, inChannels: 3 }, 32],
  ["vit", { dim: 24, depth: 1, heads: 2, patchSize: 7, imageSize: 28, inChannels: 1 }, 28],
  ["vit_tiny", { depth: 1, patchSize: 8, imageSize: 32 }, 32],
  ["vit_small", { depth: 1, patchSize: 16, imageSize: 32 }, 32],
];

/** Build zoo entry `i` with seeded, non-trivial batch-norm statistics. */
export function buildZooModel(i: number): Backbone {
  const [name, args] = ONNX_ZOO[i];
  const model = createModel(name, args as never);
  let seed = 11;
  tf.tidy(() => {
    for (const n of model.params.names()) {
      const v = model.params.get(n);
      if (n.endsWith(".running_mean")) {
        v.assign(tf.randomNormal(v.shape, 0, 0.1, "float32", seed++));
      }
      if (n.endsWith(".running_var")) {
        v.assign(tf.randomUniform(v.shape, 0.5, 1.5, "float32", seed++));
      }
    }
  });
  return model;
}

/** Seeded NHWC test images `[batch, size, size, C]` in [0, 1). */
export function zooImages(batch: number, size: number, channels: number): tf.Tensor4D {
  return tf.randomUniform([batch, size, size, channels], 0, 1, "float32", 5) as tf.Tensor4D;
}

/** The largest absolute difference and the largest reference magnitude. */
export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): {
  err: number;
  scale: number;
} {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != expected ${expected.length}`);
  }
  let err = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { err, scale };
}
