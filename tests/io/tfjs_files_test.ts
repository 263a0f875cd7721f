/**
 * fileSystemHandler: a layers model saved with it and loaded back by the stock
 * `tf.loadLayersModel`, hand-written graph models (several shards, quantized
 * weights) loaded by the stock `tf.loadGraphModel`, and every refusal.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { randn } from "../kernels/_conv_reference.ts";
import { fileSystemHandler } from "../../lib/io/tfjs_files.ts";

function smallCnn(): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, name: "conv" }),
      tf.layers.batchNormalization({ name: "bn" }),
      tf.layers.reLU({ name: "relu" }),
      tf.layers.globalAveragePooling2d({ name: "gap" }),
      tf.layers.dense({ units: 3, name: "head" }),
    ],
  });
  // Non-trivial running statistics, so inference-mode batch norm is tested.
  const bn = model.getLayer("bn");
  const stats = [1.5, -0.3, 0.2, 0.8].map((v, i) => tf.fill([4], v + 0.1 * i));
  bn.setWeights(stats);
  tf.dispose(stats);
  return model;
}

backendTest(
  "fileSystemHandler: LayersModel save, stock loadLayersModel, same predictions",
  async () => {
    await withTempDir("tfjs_files_layers", async (dir) => {
      const model = smallCnn();
      const result = await model.save(fileSystemHandler(dir));
      assert.equal(result.modelArtifactsInfo.modelTopologyType, "JSON");
      assert.equal(
        result.modelArtifactsInfo.weightDataBytes,
        4 * (3 * 3 * 2 * 4 + 4 + 4 * 4 + 4 * 3 + 3),
      );
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names, ["model.json", "weights.bin"]); // no temp files left
      const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
      assert.equal(json.format, "layers-model");
      assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);

      const loaded = await tf.loadLayersModel(fileSystemHandler(dir));
      const x = tf.tensor4d(randn(1, 2 * 6 * 6 * 2), [2, 6, 6, 2]);
      const want = await readAndDispose(model.predict(x) as tf.Tensor);
      const got = await readAndDispose(loaded.predict(x) as tf.Tensor);
      assertClose(got, want, { rtol: 1e-5, label: "predictions" });
      tf.dispose(x);
      model.dispose();
      loaded.dispose();
    });
  },
);

Deno.test("fileSystemHandler: custom weights file name, load by model.json path", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  await withTempDir("tfjs_files_named", async (dir) => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    await model.save(fileSystemHandler(`${dir}/sub/m.json`, { weightsFileName: "head.bin" }));
    const json = JSON.parse(await Deno.readTextFile(`${dir}/sub/m.json`));
    assert.deepEqual(json.weightsManifest[0].paths, ["head.bin"]);
    assert.equal((await Deno.stat(`${dir}/sub/head.bin`)).size, 4 * (3 * 2 + 2));
    const artifacts = await fileSystemHandler(`${dir}/sub/m.json`).load!();
    assert.equal(artifacts.format, "layers-model");
    assert.equal((artifacts.weightData as ArrayBuffer).byteLength, 32);
    model.dispose();
  });
});

// ---- hand-written graph models (tfjs-converter GraphDef JSON) ----

const F32 = { type: "DT_FLOAT" };
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

function constNode(name: string, shape: number[], dtype = "DT_FLOAT") {
  // tfjs takes a Const's values from the weights, by node name; `value` only
  // carries dtype and shape, as the converter writes it.
  return {
    name,
    op: "Const",
    attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
  };
}

/** x [-1, 3] → MatMul(x, W [3, 2]) → Relu. */
function matmulGraph(weights: tf.io.WeightsManifestEntry[], paths: string[]): tf.io.ModelJSON {
  return {
    format: "graph-model",
    generatedBy: "hand-written",
    convertedBy: "tests/io/tfjs_files_test.ts",
    modelTopology: {
      node: [
        { name: "x", op: "Placeholder", attr: { dtype: F32, shape: { shape: dims([-1, 3]) } } },
        constNode("W", [3, 2]),
        {
          name: "MatMul",
          op: "MatMul",
          input: ["x", "W"],
          attr: { T: F32, transpose_a: { b: false }, transpose_b: { b: false } },
        },
        { name: "Relu", op: "Relu", input: ["MatMul"], attr: { T: F32 } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths, weights }],
  };
}

const W = [0.5, -1, 2, 0.25, -1.5, 1]; // [3, 2], row-major
const X = [1, 2, 3, -1, 0.5, -2]; // [2, 3]
function matmulRelu(w: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += X[i * 3 + k] * w[k * 2 + j];
      out.push(Math.max(0, s));
    }
  }
  return out;
}

async function writeGraph(dir: string, json: unknown, shards: Record<string, Uint8Array>) {
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  for (const [name, bytes] of Object.entries(shards)) await Deno.writeFile(`${dir}/${name}`, bytes);
}

const f32Bytes = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

backendTest(
  "fileSystemHandler: GraphModel in two shards, stock loadGraphModel.execute",
  async () => {
    await withTempDir("tfjs_files_graph", async (dir) => {
      const bytes = f32Bytes(W);
      const json = matmulGraph([{ name: "W", shape: [3, 2], dtype: "float32" }], [
        "./group1-shard1of2.bin",
        "group1-shard2of2.bin",
      ]);
      await writeGraph(dir, json, {
        "group1-shard1of2.bin": bytes.slice(0, 10),
        "group1-shard2of2.bin": bytes.slice(10),
      });
      const model = await tf.loadGraphModel(fileSystemHandler(dir));
      assert.deepEqual(model.inputs[0].shape, [-1, 3]);
      assert.deepEqual(model.outputNodes, ["Relu"]);
      const x = tf.tensor2d(X, [2, 3]);
      const got = await readAndDispose(model.execute(x) as tf.Tensor);
      assertClose(got, matmulRelu(W), { label: "relu(x W)" });
      x.dispose();
      model.dispose();
    });
  },
);

backendTest("fileSystemHandler: uint8- and float16-quantized weights are decoded", async () => {
  await withTempDir("tfjs_files_quant", async (dir) => {
    // uint8: value = q * scale + min.
    const q = [3, 0, 6, 2.5, 1, 4].map((v) => v * 2);
    const quant = { dtype: "uint8" as const, scale: 0.25, min: -1 };
    await writeGraph(
      dir,
      matmulGraph([{ name: "W", shape: [3, 2], dtype: "float32", quantization: quant }], ["w.bin"]),
      {
        "w.bin": new Uint8Array(q),
      },
    );
    let model = await tf.loadGraphModel(fileSystemHandler(dir));
    const x = tf.tensor2d(X, [2, 3]);
    const w8 = q.map((v) => v * quant.scale + quant.min);
    assertClose(await readAndDispose(model.execute(x) as tf.Tensor), matmulRelu(w8), {
      label: "uint8",
    });
    model.dispose();

    // float16 bit patterns of 0.5, -1, 2, 0.25, -1.5, 1.
    const halves = new Uint16Array([0x3800, 0xbc00, 0x4000, 0x3400, 0xbe00, 0x3c00]);
    const spec = {
      name: "W",
      shape: [3, 2],
      dtype: "float32" as const,
      quantization: { dtype: "float16" as const },
    };
    await writeGraph(dir, matmulGraph([spec], ["w.bin"]), {
      "w.bin": new Uint8Array(halves.buffer),
    });
    model = await tf.loadGraphModel(fileSystemHandler(dir));
    assertClose(await readAndDispose(model.execute(x) as tf.Tensor), matmulRelu(W), {
      label: "float16",
    });
    model.dispose();
    x.dispose();
  });
});

// ---- refusals: each one line, naming the file or shard ----

const W_SPEC: tf.io.WeightsManifestEntry = { name: "W", shape: [3, 2], dtype: "float32" };

async function loadError(dir: string, json: unknown, shards: Record<string, Uint8Array> = {}) {
  await writeGraph(dir, json, shards);
  try {
    await fileSystemHandler(dir).load!();
  } catch (e) {
    assert.ok(!(e as Error).message.includes("\n"), `one line: ${(e as Error).message}`);
    return e as Error;
  }
  assert.fail("load() did not throw");
}

Deno.test("fileSystemHandler: missing file, directory without model.json, not JSON", async () => {
  await withTempDir("tfjs_files_errors1", async (dir) => {
    await assert.rejects(
      fileSystemHandler(`${dir}/nope.json`).load!(),
      (e: Error) =>
        e instanceof Deno.errors.NotFound &&
        e.message === `Cannot load tfjs model "${dir}/nope.json": file not found`,
    );
    await assert.rejects(
      tf.loadLayersModel(fileSystemHandler(dir)),
      (e: Error) => e.message === `Cannot load tfjs model "${dir}/model.json": file not found`,
    );
    await Deno.writeTextFile(`${dir}/model.json`, "{ not json");
    await assert.rejects(
      fileSystemHandler(dir).load!(),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message.startsWith(`Cannot load tfjs model "${dir}/model.json": not JSON (`),
    );
  });
});

Deno.test("fileSystemHandler: no weightsManifest, no modelTopology, bad specs", async () => {
  await withTempDir("tfjs_files_errors2", async (dir) => {
    let e = await loadError(dir, { modelTopology: {} });
    assert.ok(e instanceof SyntaxError);
    assert.equal(
      e.message,
      `Cannot load tfjs model "${dir}/model.json": no weightsManifest (is it a tfjs model.json?)`,
    );
    e = await loadError(dir, { weightsManifest: [] });
    assert.match(e.message, /: no modelTopology \(is it a tfjs model\.json\?\)$/);
    e = await loadError(dir, { modelTopology: {}, weightsManifest: {} });
    assert.match(e.message, /weightsManifest is not a list of \{paths, weights\} groups/);
    e = await loadError(
      dir,
      matmulGraph([{ ...W_SPEC, dtype: "float64" as "float32" }], ["w.bin"]),
      {
        "w.bin": f32Bytes(W),
      },
    );
    assert.match(e.message, /weight "W" has unknown dtype "float64"$/);
    const int4 = { ...W_SPEC, quantization: { dtype: "int4" as "uint8" } };
    e = await loadError(dir, matmulGraph([int4], ["w.bin"]));
    assert.match(
      e.message,
      /weight "W" has unsupported quantization "int4" \(supported: uint8, uint16, float16\)$/,
    );
    const noScale = { ...W_SPEC, quantization: { dtype: "uint8" as const } };
    e = await loadError(dir, matmulGraph([noScale], ["w.bin"]));
    assert.match(e.message, /weight "W" is uint8-quantized without numeric "scale" and "min"$/);
  });
});

Deno.test("fileSystemHandler: missing, short and long shards are named", async () => {
  await withTempDir("tfjs_files_errors3", async (dir) => {
    let e = await loadError(dir, matmulGraph([W_SPEC], ["w.bin", "w2.bin"]), {
      "w.bin": f32Bytes(W),
    });
    assert.ok(e instanceof Deno.errors.NotFound);
    assert.equal(
      e.message,
      `Cannot load tfjs model "${dir}/model.json": weight shard "w2.bin" not found (${dir}/w2.bin)`,
    );
    e = await loadError(
      dir,
      matmulGraph([W_SPEC, { name: "b", shape: [2], dtype: "float32" }], ["short.bin"]),
      {
        "short.bin": f32Bytes(W).slice(0, 20),
      },
    );
    assert.ok(e instanceof SyntaxError);
    assert.equal(
      e.message,
      `Cannot load tfjs model "${dir}/model.json": weight shard "short.bin" is 20 bytes, ` +
        `but its 2 weights need 32: truncated (first incomplete weight: "W")`,
    );
    e = await loadError(dir, matmulGraph([W_SPEC], ["a.bin", "b.bin"]), {
      "a.bin": f32Bytes(W),
      "b.bin": new Uint8Array(4),
    });
    assert.match(
      e.message,
      /weight shards "a\.bin", "b\.bin" are 28 bytes together, but its 1 weights need 24: 4 bytes too many$/,
    );
  });
});

Deno.test("fileSystemHandler: shard paths that escape the model's directory are refused", async () => {
  await withTempDir("tfjs_files_escape", async (dir) => {
    for (
      const path of [
        "../w.bin",
        "sub/../../w.bin",
        "/etc/passwd",
        "\\w.bin",
        "file:///w.bin",
        "C:\\w.bin",
        "",
      ]
    ) {
      const e = await loadError(dir, matmulGraph([W_SPEC], [path]));
      assert.ok(e instanceof SyntaxError, path);
      assert.ok(e.message.includes(`"${path}"`) || path === "", e.message);
    }
    const e = await loadError(dir, matmulGraph([W_SPEC], ["../w.bin"]));
    assert.equal(
      e.message,
      `Cannot load tfjs model "${dir}/model.json": weight path "../w.bin" escapes the model's directory "${dir}"`,
    );
    // Going down and back up stays inside: allowed.
    await Deno.mkdir(`${dir}/sub`);
    await writeGraph(dir, matmulGraph([W_SPEC], ["sub/../w.bin"]), { "w.bin": f32Bytes(W) });
    const artifacts = await fileSystemHandler(`${dir}/model.json`).load!();
    assert.equal((artifacts.weightData as ArrayBuffer).byteLength, 24);
    assert.equal(artifacts.convertedBy, "tests/io/tfjs_files_test.ts");
  });
});

Deno.test("fileSystemHandler: save refuses bad names and mismatched data, writes weights first", async () => {
  assert.throws(() => fileSystemHandler("x", { weightsFileName: "a/b.bin" }), TypeError);
  assert.throws(() => fileSystemHandler("x", { weightsFileName: ".." }), TypeError);
  await withTempDir("tfjs_files_save", async (dir) => {
    const artifacts = { modelTopology: {}, weightSpecs: [W_SPEC], weightData: new ArrayBuffer(20) };
    await assert.rejects(
      fileSystemHandler(dir).save!(artifacts),
      (e: Error) =>
        e instanceof RangeError &&
        e.message ===
          `Cannot save tfjs model "${dir}/model.json": weightData is 20 bytes, its weight specs need 24`,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    // A model.json that cannot be written (here: a directory) fails after the weights are down.
    await Deno.mkdir(`${dir}/model.json`);
    await assert.rejects(
      fileSystemHandler(dir).save!({
        ...artifacts,
        weightData: [new ArrayBuffer(8), new ArrayBuffer(16)],
      }),
      /Cannot write ".*model\.json"/,
    );
    assert.equal((await Deno.stat(`${dir}/weights.bin`)).size, 24);
  });
});
