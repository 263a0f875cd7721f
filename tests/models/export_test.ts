/**
 * Exports load elsewhere and give the same embeddings: the tfjs graph model
 * through stock `tf.loadGraphModel`, the safetensors state dict through
 * torchvision / the timm-named ViT in PyTorch.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "assert";
import { testNeeding } from "../_optional.ts";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, backendTest, scratch } from "../_helpers.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { fileSystemHandler } from "../../lib/io/tfjs_files.ts";
import type { Backbone } from "../../lib/models/backbone.ts";
import { exportStudent, GRAPH_OUTPUT } from "../../lib/models/export.ts";
import { createModel, type ModelName } from "../../lib/models/registry.ts";
import { loadTorchWeights } from "../../lib/models/torch_weights.ts";

const fixtures = new URL("../fixtures/models/", import.meta.url);
const index = JSON.parse(await Deno.readTextFile(new URL("models.json", fixtures)));
const PYTHON = "/usr/bin/python3";

async function fixtureModel(name: string): Promise<{ model: Backbone; input: tf.Tensor4D }> {
  const spec = index.models.find((m: { name: string }) => m.name === name);
  const model = createModel(spec.model as ModelName, spec.args);
  const st = await readSafetensors(new URL(`${name}.safetensors`, fixtures).pathname);
  loadTorchWeights(model, st.tensors);
  const io = await readSafetensors(new URL(`${name}_io.safetensors`, fixtures).pathname);
  const x = io.tensors.get("input")!;
  const input = tf.tidy(() =>
    tf.transpose(tf.tensor4d(x.values, x.shape as [number, number, number, number]), [0, 2, 3, 1])
  );
  return { model, input };
}

const SMALL_ZOO: [string, () => Backbone, number][] = [
  ["mobilenet_v2", () => createModel("mobilenet_v2", { width: 0.35, inChannels: 3 }), 40],
  ["efficientnet_b0", () => createModel("efficientnet_b0", { width: 0.25, stemStride: 1 }), 36],
];

for (const spec of index.models as { name: string }[]) {
  backendTest(`tfjs export of ${spec.name} loads with stock tf.loadGraphModel`, async () => {
    const { dir } = await scratch("export");
    const { model, input } = await fixtureModel(spec.name);
    const card = await exportStudent(model, dir, { mean: [0.5], std: [0.25] });
    assert.equal(card.format, "tfjs-graph-model");
    assert.deepEqual(card.files, ["model.json", "weights.bin"]);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/card.json`));
    assert.equal(saved.featureDim, model.featureDim);
    assert.deepEqual(saved.mean, [0.5]);
    const graph = await tf.loadGraphModel(fileSystemHandler(dir));
    const got = graph.execute(input, GRAPH_OUTPUT) as tf.Tensor;
    const want = model.embed(input);
    assert.deepEqual(got.shape, want.shape);
    assertClose(await got.data(), await want.data(), { rtol: 1e-4, label: spec.name });
    tf.dispose([got, want, input]);
    graph.dispose();
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }, { backends: ["cpu", "wasm"] });
}

backendTest("tfjs export of MobileNetV2 and EfficientNet-B0 matches embed", async () => {
  for (const [name, build, size] of SMALL_ZOO) {
    const { dir } = await scratch("export");
    const model = build();
    const input = tf.randomNormal([2, size, size, 3], 0, 1, "float32", 7) as tf.Tensor4D;
    // A few training-mode passes give the BN layers non-trivial running statistics.
    for (let i = 0; i < 2; i++) model.embed(input, { training: true }).dispose();
    await exportStudent(model, dir);
    const graph = await tf.loadGraphModel(fileSystemHandler(dir));
    const got = graph.execute(input, GRAPH_OUTPUT) as tf.Tensor;
    const want = model.embed(input);
    assertClose(await got.data(), await want.data(), { rtol: 1e-4, label: name });
    tf.dispose([got, want, input]);
    graph.dispose();
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}, { backends: ["wasm"] });

for (const spec of index.models as { name: string }[]) {
  await testNeeding(["pytorch"], {
    name: `safetensors export of ${spec.name} loads into PyTorch and matches`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
      const { dir } = await scratch("export");
      const { model, input } = await fixtureModel(spec.name);
      const card = await exportStudent(model, dir, { format: "safetensors" });
      assert.equal(card.layout, "NCHW");
      const features = model.embed(input);
      const nchw = tf.transpose(input, [0, 3, 1, 2]);
      await writeSafetensors(`${dir}/check_input.safetensors`, {
        input: { shape: nchw.shape, values: await nchw.data() },
      });
      await writeSafetensors(`${dir}/check_features.safetensors`, {
        features: { shape: features.shape, values: await features.data() },
      });
      tf.dispose([features, nchw, input]);
      model.dispose();
      const { code, stdout, stderr } = await new Deno.Command(PYTHON, {
        args: [new URL("make_model_fixtures.py", fixtures).pathname, "--check-export", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      const result = JSON.parse(new TextDecoder().decode(stdout));
      assert.deepEqual(result.missing, [], "tensors PyTorch expected but the export lacks");
      assert.deepEqual(result.unexpected, [], "tensors the export has but PyTorch does not know");
      assert.ok(result.max_rel_error <= 1e-4, `PyTorch disagrees: ${result.max_rel_error}`);
      await Deno.remove(dir, { recursive: true });
    },
  });
}

backendTest("export refuses to overwrite an earlier export unless asked", async () => {
  const { dir } = await scratch("export");
  const model = createModel("resnet18", { stem: "cifar", width: 0.125, inChannels: 1 });
  await exportStudent(model, dir);
  const before = await Deno.readFile(`${dir}/weights.bin`);
  await assert.rejects(exportStudent(model, dir), /already holds an export \(card\.json\)/);
  assert.deepEqual(await Deno.readFile(`${dir}/weights.bin`), before);
  await exportStudent(model, dir, { overwrite: true, format: "safetensors" });
  model.dispose();
  await Deno.remove(dir, { recursive: true });
}, { backends: ["cpu"] });
