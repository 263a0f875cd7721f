/**
 * Teacher pretraining: NT-Xent against PyTorch, the config parser's errors,
 * and a tiny supervised run end to end (loss falls, files, card, resume).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { loadSafetensorsModel } from "../../lib/models/load.ts";
import {
  ntXentLoss,
  parsePretrainConfig,
  pretrain,
  PretrainConfigError,
  type TeacherCard,
} from "../../lib/pretrain/pretrain.ts";
import { assertClose, backendTest, DEBIAN_FASHION_MNIST, withTempDir } from "../_helpers.ts";

interface NtXentCase {
  b: number;
  d: number;
  tau: number;
  z1: number[];
  z2: number[];
  loss: number;
  grad_z1: number[];
}
const { cases } = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/pretrain/ntxent_cases.json", import.meta.url)),
) as { cases: NtXentCase[] };

backendTest("ntXentLoss matches PyTorch's loss and gradient", async () => {
  for (const c of cases) {
    const z1 = tf.tensor2d(c.z1, [c.b, c.d]);
    const z2 = tf.tensor2d(c.z2, [c.b, c.d]);
    const loss = ntXentLoss(z1, z2, c.tau);
    const grad = tf.grad((z: tf.Tensor) => ntXentLoss(z as tf.Tensor2D, z2, c.tau))(z1);
    const label = `b=${c.b} d=${c.d} tau=${c.tau}`;
    assertClose(await loss.data(), [c.loss], { rtol: 1e-5, label: `${label} loss` });
    assertClose(await grad.data(), c.grad_z1, { rtol: 1e-4, atol: 1e-6, label: `${label} grad` });
    tf.dispose([z1, z2, loss, grad]);
  }
});

Deno.test("parsePretrainConfig: defaults, overrides and one-line errors naming file and key", () => {
  const c = parsePretrainConfig("method: simclr\ntrain: {epochs: 2}", {
    source: "a.yaml",
    overrides: ["optim.lr=0.05", "model.args={width: 0.25}"],
  });
  assert.equal(c.method, "simclr");
  assert.equal(c.train.epochs, 2);
  assert.equal(c.optim.lr, 0.05);
  assert.deepEqual(c.model.args, { width: 0.25 });
  assert.equal(c.eval.k, 10);
  assert.equal(c.eval.t, 0.07);
  assert.throws(
    () => parsePretrainConfig("trian: {epochs: 2}", { source: "a.yaml" }),
    (e: Error) =>
      e instanceof PretrainConfigError && /a\.yaml: unknown key "trian".*"train"/.test(e.message),
  );
  assert.throws(
    () => parsePretrainConfig("method: dino", { source: "a.yaml" }),
    /a\.yaml: method: expected one of supervised, simclr, got "dino"/,
  );
  assert.throws(
    () => parsePretrainConfig("", { source: "b.yaml", overrides: ["optim.lr=fast"] }),
    /b\.yaml: optim\.lr: expected .*"fast"|b\.yaml: optim\.lr: expected .*fast/,
  );
  assert.throws(
    () => parsePretrainConfig("train: [1]", { source: "c.yaml" }),
    /c\.yaml: train: expected a mapping/,
  );
});

await testNeeding(["fashion-mnist"], {
  name: "pretrain: a tiny supervised run lowers the loss, writes the teacher and its card, resumes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await initBackend({ backend: "wasm", log: false });
    await withTempDir("pretrain", async (dir) => {
      const data = { dataDir: DEBIAN_FASHION_MNIST, download: false };
      const yaml = `
method: supervised
backend: wasm
runDir: ${dir}/run
out: ${dir}/teacher
data:
  train: { name: fashion-mnist, split: train, dataDir: ${data.dataDir}, download: false }
  test: { name: fashion-mnist, split: test, dataDir: ${data.dataDir}, download: false }
  subset: 64
  augment: []
model: { architecture: resnet18, args: { stem: cifar, width: 0.125, inChannels: 1 } }
optim: { name: sgd, lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0 }
schedule: { name: constant }
train: { epochs: 3, batchSize: 32, logEvery: 1 }
eval: { trainImages: 300, testImages: 100, linear: { epochs: 2, milestones: [] } }
`;
      const lines: string[] = [];
      const config = parsePretrainConfig(yaml, { source: "test.yaml" });
      const before = tf.memory().numTensors;
      const { card, weights } = await pretrain(config, { log: (l) => lines.push(l) });
      assert.equal(tf.memory().numTensors, before, "pretrain leaked tensors");
      const losses = lines.flatMap((l) => l.match(/ loss ([\d.]+) /)?.[1] ?? []).map(Number);
      assert.equal(losses.length, 6, lines.join("\n"));
      // The same 64 images every epoch: the last epoch's loss is below the first step's.
      assert.ok(
        Math.max(losses[4], losses[5]) < losses[0],
        `loss did not fall: ${losses.join(", ")}`,
      );
      const onDisk = JSON.parse(await Deno.readTextFile(`${dir}/teacher/card.json`)) as TeacherCard;
      assert.deepEqual(onDisk.metrics.knn, card.metrics.knn);
      for (
        const key of ["architecture", "args", "featureDim", "mean", "std", "recipe", "backend"]
      ) {
        assert.ok(key in onDisk, `card lacks ${key}`);
      }
      assert.equal(onDisk.method, "supervised");
      assert.equal(onDisk.inputSize, 28);
      assert.equal(onDisk.channels, 1);
      assert.equal(onDisk.epochs, 3);
      assert.equal(onDisk.steps, 6);
      assert.equal(onDisk.backend, "wasm");
      assert.deepEqual([onDisk.metrics.knn.k, onDisk.metrics.knn.t], [10, 0.07]);
      assert.equal(onDisk.metrics.knn.n, 100);
      assert.equal(onDisk.metrics.rawPixelKnn.nTrain, 300);
      assert.ok(onDisk.metrics.linear && onDisk.metrics.linear.top1 >= 0);
      assert.match(String(onDisk.gitCommit), /^[0-9a-f]{40}$/);
      // The backbone alone, PyTorch names: no classifier, loads strictly.
      const model = await loadSafetensorsModel(weights, "resnet18", onDisk.args);
      assert.equal(model.featureDim, onDisk.featureDim);
      model.dispose();

      // One more epoch resumes from the checkpoint instead of starting over.
      lines.length = 0;
      const more = parsePretrainConfig(yaml, {
        source: "test.yaml",
        overrides: ["train.epochs=4"],
      });
      const resumed = await pretrain(more, { log: (l) => lines.push(l) });
      assert.ok(lines.some((l) => /resumed .* at epoch 3, step 6/.test(l)), lines.join("\n"));
      assert.equal(resumed.card.steps, 8);
      assert.equal(resumed.card.resumed, true);
    });
  },
});
