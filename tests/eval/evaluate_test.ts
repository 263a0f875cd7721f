/**
 * `evaluateRun`, the evaluation behind `deno task distill` and `deno task
 * eval`, on toy images with known answers: separable classes give 100% kNN
 * and linear accuracy, a student equal to its teacher (up to scale) agrees
 * perfectly, a scrambled student does not, and every number carries its
 * protocol. On every backend, without leaked tensors.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { ArrayImageSource } from "../../lib/data/array_source.ts";
import { Rng } from "../../lib/util/rng.ts";
import { chanceNnIoU } from "../../lib/eval/manifold.ts";
import type { Embedder } from "../../lib/models/types.ts";
import { evaluateRun, PixelEmbedder } from "../../lib/eval/evaluate.ts";
import { backendTest } from "../_helpers.ts";

/** `n` 4×4×1 images: class c lights pixel 5c, plus noise; labels cycle through 3 classes. */
function toy(n: number, seed: number) {
  const rng = new Rng(seed);
  const pixels = new Float32Array(n * 16);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 16; p++) pixels[i * 16 + p] = 0.1 * rng.next();
    pixels[i * 16 + 5 * labels[i]] = 1;
  }
  return { images: new ArrayImageSource(`toy${seed}`, pixels, [4, 4, 1], `toy${seed}`), labels };
}

/** Pixels through a fixed map: `scale` times the identity, or a random matrix. */
class Mapped implements Embedder {
  readonly featureDim = 16;
  #w: tf.Tensor2D;
  constructor(w: tf.Tensor2D) {
    this.#w = w;
  }
  embed(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], 16]), this.#w));
  }
  dispose() {
    this.#w.dispose();
  }
}

backendTest("evaluateRun: separable toy data, a student equal to its teacher", async () => {
  const train = toy(90, 1), test = toy(30, 2);
  const teacher = new PixelEmbedder([4, 4, 1]);
  const student = new Mapped(tf.tidy(() => tf.mul(tf.eye(16), 3)) as tf.Tensor2D);
  const { evaluation, table, testFeatures } = await evaluateRun({
    models: [
      { name: "student", model: student, linear: true },
      { name: "teacher", model: teacher, linear: true },
    ],
    pair: ["teacher", "student"],
    project: (x) => tf.mul(x, 2),
    iouKs: [1, 5, 11],
    linear: { epochs: 30, lr: 0.1, milestones: [20] },
    train: train.images,
    trainLabels: train.labels,
    test: test.images,
    testLabels: test.labels,
    transform: (x) => x,
    k: 5,
    t: 0.1,
  });
  student.dispose();
  assert.deepEqual(evaluation.data, { train: "toy1", test: "toy2", nTrain: 90, nTest: 30 });
  assert.deepEqual(evaluation.knn.map((r) => [r.name, r.top1, r.k, r.t, r.n, r.nTrain]), [
    ["student", 1, 5, 0.1, 30, 90],
    ["teacher", 1, 5, 0.1, 30, 90],
  ]);
  assert.equal(evaluation.knn[0].top5, null, "3 classes: no top-5");
  assert.deepEqual(evaluation.linear.map((r) => [r.name, r.top1]), [["student", 1], [
    "teacher",
    1,
  ]]);
  assert.equal(evaluation.linear[0].protocol.epochs, 30);
  assert.deepEqual(evaluation.linear[0].protocol.milestones, [20]);
  const m = evaluation.manifold!;
  assert.deepEqual(m.nnIoU.map((b) => [b.k, b.value]), [[1, 1], [5, 1], [11, 1]]);
  assert.equal(m.nnIoU[2].chance, chanceNnIoU(11, 30));
  assert.ok(Math.abs(m.cka - 1) < 1e-5, `CKA ${m.cka}`);
  assert.ok(m.cosine && m.cosine.projected);
  assert.ok(Math.abs(m.cosine.perSample - 1) < 1e-5 && Math.abs(m.cosine.perDimension - 1) < 1e-5);
  assert.equal(testFeatures.get("student")!.n, 30);
  assert.match(table, /^kNN-5 top-1 +100\.00% {2}student {2}\(weighted exp\(cos\/0\.1\), 30 test/m);
  assert.match(table, /^NN-IoU @1 1\.000 @5 1\.000 @11 1\.000 {2}teacher ↔ student \(the paper's/m);
  assert.match(table, /^NN-Jaccard @1 1\.000 @5 1\.000 @11 1\.000 {2}teacher ↔ student/m);
  assert.deepEqual(m.nnOverlap?.map((b) => [b.k, b.value, b.chance]), [
    [1, 1, 1 / 90],
    [5, 1, 5 / 90],
    [11, 1, 11 / 90],
  ]);
});

backendTest("evaluateRun: a scrambled student disagrees with its teacher", async () => {
  const train = toy(60, 3), test = toy(60, 4);
  const rng = new Rng(9);
  const w = tf.tensor2d(Array.from({ length: 256 }, () => rng.normal()), [16, 16]);
  const scrambled = new Mapped(w);
  const { evaluation } = await evaluateRun({
    models: [
      { name: "teacher", model: new PixelEmbedder([4, 4, 1]) },
      { name: "student", model: scrambled },
    ],
    pair: ["teacher", "student"],
    iouKs: [1, 5],
    train: train.images,
    trainLabels: train.labels,
    test: test.images,
    testLabels: test.labels,
    transform: (x) => x,
    k: 3,
    t: 0.07,
  });
  scrambled.dispose();
  const m = evaluation.manifold!;
  // Not identical spaces: CKA below 1, neighbourhoods partly different, no head and
  // equal widths, so the cosines are measured on the backbone features and fall below 1.
  assert.ok(m.cka < 0.99, `CKA ${m.cka}`);
  assert.ok(m.nnIoU[1].value < 0.9, `NN-Jaccard@5 ${m.nnIoU[1].value}`);
  assert.ok(m.nnOverlap![1].value < 0.9, `NN-IoU@5 ${m.nnOverlap![1].value}`);
  assert.ok(m.cosine && !m.cosine.projected && m.cosine.perSample < 0.9);
  assert.deepEqual(evaluation.linear, []);
});
