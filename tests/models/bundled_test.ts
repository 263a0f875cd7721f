/**
 * The bundled teacher: it loads, its card is complete and honest, its
 * features match PyTorch's on the same weights, and its kNN accuracy on a
 * subset agrees with the card.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { openDataset } from "../../lib/data/datasets.ts";
import { extractFeatures } from "../../lib/eval/features.ts";
import { knnClassify } from "../../lib/eval/knn.ts";
import { BUNDLED_TEACHERS, loadBundledTeacher } from "../../lib/models/bundled.ts";
import { assertClose, DEBIAN_FASHION_MNIST, IGNORE_DEBIAN_FASHION_MNIST } from "../_helpers.ts";

Deno.test("loadBundledTeacher: an unknown name is refused, listing the available ones", async () => {
  assert.deepEqual(BUNDLED_TEACHERS, ["fashion-mnist", "fmnist-resnet18-w025"]);
  await assert.rejects(
    () => loadBundledTeacher("cifar10"),
    (e: Error) =>
      e instanceof RangeError && e.message ===
        'Unknown bundled teacher "cifar10": available are fashion-mnist, fmnist-resnet18-w025',
  );
});

for (const name of BUNDLED_TEACHERS) {
  Deno.test(`the bundled teacher ${name}: weights within 8 MB, a complete card`, async () => {
    await initBackend({ backend: "cpu", log: false });
    const { model, card } = await loadBundledTeacher(name);
    const weights = new URL(`../../lib/teachers/${name}/model.safetensors`, import.meta.url);
    try {
      assert.equal(model.featureDim, card.featureDim);
      assert.equal(model.parameterCount, card.parameterCount);
      assert.ok((await Deno.stat(weights)).size <= 8 * 1024 * 1024, "weights over 8 MB");
      assert.deepEqual([card.inputSize, card.channels], [28, 1]);
      assert.equal(card.mean.length, 1);
      assert.equal(card.std.length, 1);
      assert.ok(["supervised", "simclr"].includes(card.method));
      assert.equal((card.recipe as { method: string }).method, card.method);
      for (const key of ["epochs", "steps", "wallTimeSeconds", "trainSeconds"] as const) {
        assert.ok(Number.isFinite(card[key]) && card[key] > 0, `card.${key} is ${card[key]}`);
      }
      assert.ok(card.backend && card.command.includes("pretrain"), "card lacks backend or command");
      assert.match(String(card.gitCommit), /^[0-9a-f]{40}$/);
      const { knn, linear, rawPixelKnn } = card.metrics;
      for (const r of [knn, rawPixelKnn]) {
        assert.deepEqual([r.k, r.t, r.n, r.nTrain], [10, 0.07, 10000, 60000]);
      }
      assert.ok(linear && linear.top1 > 0 && linear.weightDecay === 0);
      assert.ok(knn.top1 > rawPixelKnn.top1, "the shipped teacher must beat raw pixels");
      assert.ok(card.choice && card.choice.length > 0, "card.choice says why this teacher ships");
    } finally {
      model.dispose();
    }
  });
}

Deno.test("the bundled teacher's features match PyTorch's on the same weights", async () => {
  await initBackend({ backend: "wasm", log: false });
  const golden = JSON.parse(
    await Deno.readTextFile(
      new URL("../fixtures/pretrain/teacher_features.json", import.meta.url),
    ),
  ) as { dim: number; features: number[] };
  const { model, card } = await loadBundledTeacher();
  const bytes = new Uint8Array(8 * 784);
  const gz = await Deno.readFile(`${DEBIAN_FASHION_MNIST}/t10k-images-idx3-ubyte.gz`).catch(
    () => null,
  );
  if (gz === null) {
    model.dispose();
    assert.ok(IGNORE_DEBIAN_FASHION_MNIST, "Debian's Fashion-MNIST is missing");
    return;
  }
  const raw = new Uint8Array(
    await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  bytes.set(raw.subarray(16, 16 + bytes.length));
  const x = tf.tidy(() =>
    tf.div(tf.sub(tf.div(tf.tensor4d(bytes, [8, 28, 28, 1], "float32"), 255), card.mean), card.std)
  ) as tf.Tensor4D;
  const f = model.embed(x);
  assert.deepEqual(f.shape, [8, golden.dim]);
  assertClose(await f.data(), golden.features, { rtol: 1e-4, label: "teacher features" });
  tf.dispose([x, f]);
  model.dispose();
});

await testNeeding(["fashion-mnist"], {
  name: "the bundled teacher's kNN-10 on 1,000 test / 10,000 train images agrees with its card",
  fn: async () => {
    await initBackend({ backend: "wasm", log: false });
    const { model, card } = await loadBundledTeacher();
    const spec = { name: "fashion-mnist", dataDir: DEBIAN_FASHION_MNIST, download: false } as const;
    const train = await openDataset({ ...spec, split: "train" });
    const test = await openDataset({ ...spec, split: "test" });
    const transform = (x: tf.Tensor4D) =>
      tf.tidy(() => tf.div(tf.sub(x, card.mean), card.std) as tf.Tensor4D);
    const first = (n: number) => Array.from({ length: n }, (_, i) => i);
    const opts = { transform, batchSize: 500, progress: false };
    const ftr = await extractFeatures(model, train.images, { ...opts, indices: first(10000) });
    const fte = await extractFeatures(model, test.images, { ...opts, indices: first(1000) });
    const r = await knnClassify(
      ftr,
      train.evaluation!.labels.slice(0, 10000),
      fte,
      test.evaluation!.labels.slice(0, 1000),
      { k: 10, t: 0.07, numClasses: 10, progress: false },
    );
    // A sixth of the bank and a tenth of the queries: a little lower, and noisier (±1.5% s.e.).
    assert.ok(
      r.top1 > card.metrics.knn.top1 - 0.05 && r.top1 < card.metrics.knn.top1 + 0.03,
      `subset kNN-10 ${r.top1} vs card ${card.metrics.knn.top1}`,
    );
    model.dispose();
    train.images.close();
    test.images.close();
  },
});
