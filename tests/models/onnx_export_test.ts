/**
 * The ONNX export of every zoo model: the file is a valid opset-17 model
 * with an NCHW input and a dynamic batch, onnxruntime-node (native, an
 * independent implementation of every op) gives the tfjs embedding to
 * ≤ 1e-4 absolute at batch 1 and 3, and the transformers.js folder says what
 * the card says.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import proto from "onnx-proto";
import assert from "assert";
import { backendTest, withTempDir } from "../_helpers.ts";
import { exportStudent } from "../../lib/models/export.ts";
import { ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT } from "../../lib/models/onnx_export.ts";
import { buildZooModel, maxAbsError, ONNX_ZOO, zooImages } from "./_onnx_zoo.ts";

const TOLERANCE = 1e-4;

for (let i = 0; i < ONNX_ZOO.length; i++) {
  const [name, , size] = ONNX_ZOO[i];
  backendTest(
    `ONNX export of ${name} matches tfjs in onnxruntime-node at batch 1 and 3`,
    () =>
      withTempDir("onnx", async (dir) => {
        const model = buildZooModel(i);
        const mean = Array(model.inChannels).fill(0.5), std = Array(model.inChannels).fill(0.25);
        try {
          const card = await exportStudent(model, dir, { format: "onnx", mean, std });
          assert.equal(card.format, "onnx");
          assert.equal(card.layout, "NCHW");
          assert.deepEqual(card.signature, { input: ONNX_INPUT, output: ONNX_OUTPUT });
          assert.deepEqual(card.files, [
            "model.onnx",
            "onnx/model.onnx",
            "config.json",
            "preprocessor_config.json",
          ]);
          const bytes = await Deno.readFile(`${dir}/model.onnx`);
          assert.deepEqual(await Deno.readFile(`${dir}/onnx/model.onnx`), bytes);
          const session = await ort.InferenceSession.create(bytes);
          try {
            for (const batch of [1, 3]) {
              const x = zooImages(batch, size, model.inChannels);
              const expected = tf.tidy(() => model.embed(x));
              const nchw = tf.transpose(x, [0, 3, 1, 2]);
              const feeds = {
                [ONNX_INPUT]: new ort.Tensor(
                  "float32",
                  await nchw.data() as Float32Array,
                  nchw.shape,
                ),
              };
              const out = (await session.run(feeds))[ONNX_OUTPUT];
              assert.deepEqual(out.dims, [batch, model.featureDim], `${name} batch ${batch}`);
              const { err, scale } = maxAbsError(out.data as Float32Array, await expected.data());
              console.log(
                `${name} batch ${batch}: max |onnx − tfjs| ${err.toExponential(2)} ` +
                  `(max |tfjs| ${scale.toFixed(2)})`,
              );
              assert.ok(err <= TOLERANCE, `${name} batch ${batch}: error ${err} > ${TOLERANCE}`);
              tf.dispose([x, expected, nchw]);
            }
          } finally {
            await session.release();
          }
        } finally {
          model.dispose();
        }
      }),
    { backends: ["cpu", "wasm"] },
  );
}

Deno.test("ONNX export: opset 17, NCHW input with a symbolic batch, card and transformers.js configs agree", async () => {
  const { initBackend } = await import("../../lib/backend.ts");
  await initBackend({ backend: "cpu", log: false });
  await withTempDir("onnx", async (dir) => {
    const model = buildZooModel(5); // the ViT: its height and width are fixed
    try {
      const card = await exportStudent(model, dir, {
        format: "onnx",
        inputSize: [28, 28],
        mean: [0.286],
        std: [0.353],
      });
      const m = proto.onnx.ModelProto.decode(await Deno.readFile(`${dir}/model.onnx`));
      assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [["", ONNX_OPSET]]);
      assert.ok(ONNX_OPSET >= 17);
      const input = m.graph!.input!.find((v) => v.name === ONNX_INPUT)!;
      const dims = input.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
      assert.deepEqual(dims, ["batch", 1, 28, 28]);
      const output = m.graph!.output![0];
      assert.equal(output.name, ONNX_OUTPUT);
      const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
      assert.equal(meta.layout, "NCHW");
      assert.equal(meta.mean, "[0.286]");
      const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
      assert.equal(config.model_type, "vit");
      assert.equal(config.hidden_size, card.featureDim);
      const pre = JSON.parse(await Deno.readTextFile(`${dir}/preprocessor_config.json`));
      assert.deepEqual(pre.image_mean, card.mean);
      assert.deepEqual(pre.image_std, card.std);
      assert.deepEqual(pre.size, { height: 28, width: 28 });
      assert.equal(pre.do_convert_rgb, false, "one channel: no RGB conversion");
      assert.equal(pre.num_channels, 1);
    } finally {
      model.dispose();
    }
  });
});
