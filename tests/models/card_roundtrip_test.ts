/**
 * Fault 8 of issue 16: whatever a card records loads back through the public
 * API. For every zoo model, a small configuration is exported as the distill
 * export writes it (safetensors and card.json), then rebuilt from the card
 * with `createModel(card.architecture, card.args)` (weights loaded from the
 * exported file) and with `loadSafetensorsModel(path, card.architecture,
 * card.args)`; both give the original's features on the same input.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import {
  createModel,
  exportStudent,
  listModels,
  loadSafetensorsModel,
  loadTorchWeights,
  type ModelCard,
  type ModelName,
  readSafetensors,
} from "../../mod.ts";
import { assertClose, backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { ONNX_ZOO } from "./_onnx_zoo.ts";

/**
 * Small configurations of every registry entry (tests/models/_onnx_zoo.ts), with the input side
 * each gets: 16 px where the network takes any size, to keep the cpu backend's training pass short.
 */
const SMALL: [ModelName, Record<string, unknown>, number][] = ONNX_ZOO.map((
  [name, args, size],
) => [name, args, name === "resnet18" || name === "mobilenet_v2" ? 16 : size]);

Deno.test("card round trip: every registry name has a small configuration here", () => {
  assert.deepEqual(SMALL.map((s) => s[0]).toSorted(), listModels().toSorted());
});

for (const [name, args, size] of SMALL) {
  backendTest(
    `card round trip: ${name}'s card loads back with createModel and loadSafetensorsModel`,
    async () => {
      await withTempDir(`card-${name}`, async (dir) => {
        const model = createModel(name, args);
        const x = tf.randomUniform(
          [2, size, size, model.inChannels],
          0,
          1,
          "float32",
          5,
        ) as tf.Tensor4D;
        // A training-mode pass moves batch norm's running averages off their 0/1 start, so the
        // comparison covers the buffers the card's weights carry too.
        tf.dispose(model.embed(x, { training: true }));
        const want = await readAndDispose(model.embed(x));
        const card = await exportStudent(model, dir, {
          format: "safetensors",
          mean: [0.5],
          std: [0.25],
        });
        model.dispose();
        // The card on disk, as a deployer reads it.
        const saved = JSON.parse(await Deno.readTextFile(`${dir}/card.json`)) as ModelCard;
        assert.deepEqual(saved.args, card.args);
        // A ViT preset (vit_tiny, vit_small) is recorded as "vit" with its resolved arguments.
        assert.equal(saved.architecture, name.startsWith("vit") ? "vit" : name);
        const path = `${dir}/${saved.files[0]}`;
        const arch = saved.architecture as ModelName;

        const rebuilt = createModel(arch, saved.args as never);
        try {
          assert.deepEqual(rebuilt.args, saved.args, `${name}: createModel(card.args).args`);
          assert.equal(rebuilt.featureDim, saved.featureDim);
          assert.equal(rebuilt.parameterCount, saved.parameters);
          const st = await readSafetensors(path);
          loadTorchWeights(rebuilt, st.tensors, { source: path });
          const got = await readAndDispose(rebuilt.embed(x));
          assertClose(got, want, { rtol: 1e-5, label: `${name} via createModel` });
        } finally {
          rebuilt.dispose();
        }

        const loaded = await loadSafetensorsModel(path, arch, saved.args as never);
        try {
          assert.deepEqual(loaded.args, saved.args, `${name}: loadSafetensorsModel(...).args`);
          const got = await readAndDispose(loaded.embed(x));
          assertClose(got, want, { rtol: 1e-5, label: `${name} via loadSafetensorsModel` });
        } finally {
          loaded.dispose();
        }
        x.dispose();
      });
    },
    { backends: ["cpu", "wasm"] },
  );
}
