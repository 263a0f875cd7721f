/**
 * What each benchmark case builds and runs on the active backend (the specs
 * that name and size the cases are in cases.ts). Every step ends with an
 * awaited readback: the loss, the features, the augmented batch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ProjectionHead } from "../lib/models/head.ts";
import { createModel } from "../lib/models/registry.ts";
import type { Backbone } from "../lib/models/backbone.ts";
import { cossLoss } from "../lib/losses/coss.ts";
import { createOptimizer, type OptimizerConfig } from "../lib/optim/optim.ts";
import { Augmenter, augmentPreset, IMAGENET_MEAN, IMAGENET_STD } from "../lib/augment/augment.ts";
import { ArrayImageSource } from "../lib/data/array_source.ts";
import { knnClassify } from "../lib/eval/knn.ts";
import type { CaseConfig, CaseInstance } from "./_types.ts";
import { Cnn28 } from "./_cnn28.ts";

/** The optimizer of both step cases; `bench.py` builds `torch.optim.SGD` with the same numbers. */
export const SGD: OptimizerConfig = {
  name: "sgd",
  lr: 0.03,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 1e-4,
  betas: [0.9, 0.999],
  eps: 1e-8,
  clipNorm: null,
};

/** Sizes of a step case: `cnn28` (28×28×1, batch 128) or `resnet18` (32×32×3, batch 64). */
export function stepConfig(model: "cnn28" | "resnet18", quick: boolean): CaseConfig {
  const common = { lr: SGD.lr, momentum: SGD.momentum, weightDecay: SGD.weightDecay, hidden: 512 };
  if (model === "cnn28") {
    return { ...common, model, batch: quick ? 4 : 128, size: 28, channels: 1, teacherDim: 256 };
  }
  return {
    ...common,
    model,
    width: quick ? 0.125 : 1,
    batch: quick ? 2 : 64,
    size: 32,
    channels: 3,
    teacherDim: 512,
  };
}

function randomImages(c: CaseConfig, seed: number): tf.Tensor4D {
  const shape = [c.batch, c.size, c.size, c.channels] as [number, number, number, number];
  return tf.randomNormal(shape, 0, 1, "float32", seed) as tf.Tensor4D;
}

async function readAndDispose(t: tf.Tensor): Promise<void> {
  try {
    await t.data();
  } finally {
    t.dispose();
  }
}

/**
 * A CoSS training step as the distill loop runs it: student in training mode,
 * projection head, CoSS loss against a fixed teacher tensor, SGD update.
 * The head is built even when the widths agree (ResNet-18's 512 = teacher
 * 512, where `createProjectionHead` and the distill loop leave it out) so
 * that both step cases time the same pattern; it costs two small matrix
 * products.
 */
export function stepCase(c: CaseConfig): Promise<CaseInstance> {
  const model: Backbone = c.model === "cnn28"
    ? new Cnn28(c.channels as number, 0)
    : createModel("resnet18", {
      stem: "cifar",
      width: c.width as number,
      inChannels: c.channels as number,
    });
  const head = new ProjectionHead(model.featureDim, c.teacherDim as number, c.hidden as number, 1);
  const x = randomImages(c, 1);
  const teacher = tf.randomNormal([c.batch as number, c.teacherDim as number], 0, 1, "float32", 2);
  const trainable = [...model.trainableVariables(), ...head.trainableVariables()];
  const optimizer = createOptimizer(SGD, trainable);
  return Promise.resolve({
    images: c.batch as number,
    params: trainable.reduce((n, v) => n + v.size, 0),
    async step() {
      const { value, grads } = tf.variableGrads(
        () => cossLoss(teacher as tf.Tensor2D, head.apply(model.embed(x, { training: true }))),
        trainable,
      );
      optimizer.apply(grads, SGD.lr);
      tf.dispose(grads);
      await readAndDispose(value);
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([x, teacher]);
      head.dispose();
      model.dispose();
    },
  });
}

/** Teacher features of one batch: a zoo ResNet in inference mode. */
export function teacherCase(c: CaseConfig): Promise<CaseInstance> {
  const model = createModel(`resnet${c.depth}` as "resnet50", {
    stem: "cifar",
    width: c.width as number,
    inChannels: c.channels as number,
  });
  const x = randomImages(c, 3);
  return Promise.resolve({
    images: c.batch as number,
    params: model.parameterCount,
    step: () => readAndDispose(model.embed(x, { training: false })),
    dispose() {
      x.dispose();
      model.dispose();
    },
  });
}

/**
 * MoCo-v2 views of a uint8 batch held in memory, as a CIFAR dataset gives
 * them: `ArrayImageSource.batch` converts to float32 [0, 1], the
 * {@linkcode Augmenter} does the rest on the backend.
 */
export function augmentCase(c: CaseConfig): Promise<CaseInstance> {
  const [batch, size, channels] = [c.batch, c.size, c.channels] as number[];
  const pixels = new Uint8Array(batch * size * size * channels);
  let s = 12345;
  for (let i = 0; i < pixels.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    pixels[i] = s >>> 24;
  }
  const source = new ArrayImageSource("bench", pixels, [size, size, channels], "bench");
  const indices = Array.from({ length: batch }, (_, i) => i);
  const steps = augmentPreset("mocov2", { size, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const augmenter = new Augmenter(steps, { seed: 0 });
  return Promise.resolve({
    images: batch,
    async step() {
      const raw = await source.batch(indices);
      let view: tf.Tensor4D;
      try {
        view = augmenter.apply(raw);
      } finally {
        raw.dispose();
      }
      await readAndDispose(view);
    },
    dispose() {
      source.close();
    },
  });
}

/** `knnClassify` on random features and labels (fixed seeds); the data stays on the host. */
export async function knnCase(c: CaseConfig): Promise<CaseInstance> {
  const [nTrain, nTest, dim, classes] = [c.nTrain, c.nTest, c.dim, c.classes] as number[];
  const features = async (n: number, seed: number) => {
    const t = tf.randomNormal([n, dim], 0, 1, "float32", seed);
    try {
      return { features: await t.data() as Float32Array, n, dim };
    } finally {
      t.dispose();
    }
  };
  const labels = (n: number, seed: number) => {
    let s = seed >>> 0;
    return Int32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 16) % classes;
    });
  };
  const train = await features(nTrain, 4);
  const test = await features(nTest, 5);
  const trainLabels = labels(nTrain, 6);
  const testLabels = labels(nTest, 7);
  return {
    images: nTest,
    async step() {
      await knnClassify(train, trainLabels, test, testLabels, {
        k: c.k as number,
        t: c.t as number,
        chunkSize: c.chunk as number,
        numClasses: classes,
        progress: false,
      });
    },
    dispose() {},
  };
}
