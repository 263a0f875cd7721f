/**
 * Loading PyTorch state dicts: key prefixes (MoCo / DINO wrappers), ignored
 * heads, and every problem reported at once (or as warnings when not strict).
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import {
  readSafetensors,
  type SafetensorsTensor,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";
import { loadSafetensorsModel } from "../../lib/models/load.ts";
import { createModel } from "../../lib/models/registry.ts";
import { loadTorchWeights } from "../../lib/models/torch_weights.ts";

const fixture = new URL("../fixtures/models/resnet18_cifar_w0.125.safetensors", import.meta.url)
  .pathname;
const ARGS = { stem: "cifar", width: 0.125, inChannels: 1 } as const;

function withPrefix(tensors: Map<string, SafetensorsTensor>, prefix: string) {
  return new Map([...tensors].map(([k, v]) => [prefix + k, v]));
}

backendTest(
  "a MoCo-style prefixed checkpoint loads with prefix, and matches the plain one",
  async () => {
    const st = await readSafetensors(fixture);
    const plain = createModel("resnet18", ARGS);
    loadTorchWeights(plain, st.tensors);
    const wrapped = withPrefix(st.tensors, "module.encoder_q.");
    // A MoCo checkpoint also holds the key encoder and the queue: outside the prefix, skipped.
    for (const [k, v] of st.tensors) wrapped.set(`module.encoder_k.${k}`, v);
    wrapped.set("module.queue", { dtype: "F32", shape: [4, 8], values: new Float32Array(32) });
    const moco = createModel("resnet18", ARGS);
    const report = loadTorchWeights(moco, wrapped, { prefix: "module.encoder_q." });
    assert.equal(report.skipped, st.tensors.size + 1);
    assert.ok(
      report.ignored.includes("fc.weight") && report.ignored.includes("bn1.num_batches_tracked"),
    );
    assert.equal(report.loaded.length, moco.params.names().length);
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, "float32", 1) as tf.Tensor4D;
    assert.deepEqual(await readAndDispose(moco.embed(x)), await readAndDispose(plain.embed(x)));
    tf.dispose(x);
    plain.dispose();
    moco.dispose();
  },
  { backends: ["wasm"] },
);

backendTest("missing, unexpected and mis-shaped tensors are all named in one error", async () => {
  const st = await readSafetensors(fixture);
  const broken = new Map(st.tensors);
  broken.delete("layer1.0.conv1.weight");
  broken.delete("bn1.running_var");
  broken.set("layer9.conv.weight", { dtype: "F32", shape: [1], values: new Float32Array(1) });
  const conv1 = st.tensors.get("conv1.weight")!;
  broken.set("conv1.weight", { ...conv1, shape: [8, 3, 3, 3], values: new Float32Array(216) });
  const model = createModel("resnet18", ARGS);
  const before = await model.params.get("layer2.0.conv1.weight").data();
  assert.throws(
    () => loadTorchWeights(model, broken, { source: "broken.safetensors" }),
    (e: Error) => {
      assert.match(e.message, /^Cannot load weights from "broken\.safetensors" into resnet18: /);
      assert.match(e.message, /2 missing \(bn1\.running_var, layer1\.0\.conv1\.weight\)/);
      assert.match(e.message, /1 unexpected \(layer9\.conv\.weight\)/);
      assert.match(
        e.message,
        /1 mis-shaped \(conv1\.weight: file \[8,3,3,3\] vs model \[8,1,3,3\]\)/,
      );
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    },
  );
  // Strict failure assigns nothing.
  assert.deepEqual(await model.params.get("layer2.0.conv1.weight").data(), before);
  const warnings: string[] = [];
  const report = loadTorchWeights(model, broken, { strict: false, warn: (l) => warnings.push(l) });
  assert.equal(warnings.length, 3);
  assert.ok(warnings.every((w) => w.startsWith("warning: Cannot load weights")));
  assert.equal(report.loaded.length, model.params.names().length - 3);
  assert.notDeepEqual(await model.params.get("layer2.0.conv1.weight").data(), before);
  model.dispose();
}, { backends: ["cpu"] });

backendTest("an unprefixed load of a prefixed file suggests the prefix option", async () => {
  const st = await readSafetensors(fixture);
  const model = createModel("resnet18", ARGS);
  assert.throws(
    () =>
      loadTorchWeights(model, withPrefix(st.tensors, "backbone."), { source: "dino.safetensors" }),
    /pass it as prefix/,
  );
  assert.throws(
    () => loadTorchWeights(model, st.tensors, { prefix: "student." }),
    /no tensors start with prefix "student\."/,
  );
  model.dispose();
}, { backends: ["cpu"] });

backendTest(
  "loadSafetensorsModel refuses a .pth pickle with the conversion one-liner",
  async () => {
    await Deno.mkdir("tests/.tmp", { recursive: true });
    const dir = await Deno.makeTempDir({ dir: "tests/.tmp", prefix: "pth-" });
    const path = `${dir}/teacher.pth`;
    await Deno.writeFile(path, new Uint8Array([0x80, 0x02, 0x7d, 0x71, 0x00]));
    await assert.rejects(
      loadSafetensorsModel(path, "resnet18"),
      /PyTorch pickle checkpoints are not supported.*save_file/,
    );
    const model = await loadSafetensorsModel(fixture, "resnet18", ARGS);
    assert.equal(model.featureDim, 64);
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  },
  { backends: ["cpu"] },
);

backendTest(
  "loadSafetensorsModel refuses NaN or Inf at load, naming the file and the tensor",
  async () => {
    await withTempDir("torch_weights_nonfinite", async (dir) => {
      const st = await readSafetensors(fixture);
      type Plain = { shape: number[]; values: Float32Array | Int32Array };
      const plain = (v: SafetensorsTensor): Plain => ({ shape: v.shape, values: v.values.slice() });
      const poisoned: Record<string, Plain> = Object.fromEntries(
        [...st.tensors].map(([k, v]) => [k, plain(v)]),
      );
      poisoned["layer1.0.conv1.weight"].values[3] = Infinity;
      poisoned["layer2.0.bn1.bias"].values[0] = NaN;
      const path = `${dir}/inf.safetensors`;
      await writeSafetensors(path, poisoned);
      const before = tf.memory().numTensors;
      await assert.rejects(
        loadSafetensorsModel(path, "resnet18", ARGS),
        (e: Error) =>
          e.message ===
            `Cannot load weights "${path}": tensor "layer1.0.conv1.weight" holds non-finite ` +
              "values (Inf); re-export the weights from a finite model",
      );
      // Refused before the model is built: nothing allocated.
      assert.equal(tf.memory().numTensors, before);
      // Outside the prefix, a non-finite tensor is not loaded, so not refused.
      const prefixed: Record<string, Plain> = Object.fromEntries(
        Object.entries(poisoned).map(([k, v]) => [`other.${k}`, v]),
      );
      for (const [k, v] of st.tensors) prefixed[`module.${k}`] = plain(v);
      await writeSafetensors(path, prefixed);
      const model = await loadSafetensorsModel(path, "resnet18", ARGS, { prefix: "module." });
      model.dispose();
    });
  },
  { backends: ["cpu"] },
);
