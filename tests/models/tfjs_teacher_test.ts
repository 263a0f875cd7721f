/**
 * loadTfjsTeacher: layers teachers (default output, an inner 4-D layer pooled,
 * an inner 2-D layer), a hand-written graph teacher checked against a hand
 * computation, output-name errors, format detection, and no leaked tensors.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, backendTest, readAndDispose, withTempDir } from "../_helpers.ts";
import { randn } from "../kernels/_conv_reference.ts";
import { fileSystemHandler } from "../../lib/io/tfjs_files.ts";
import { loadTfjsTeacher } from "../../lib/models/tfjs_teacher.ts";

/** conv → bn → relu ("feat", 4-D) → gap (2-D) → dense ("head"), saved to `dir`. */
async function saveLayersTeacher(dir: string): Promise<void> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, name: "conv" }),
      tf.layers.batchNormalization({ name: "bn" }),
      tf.layers.reLU({ name: "feat" }),
      tf.layers.globalAveragePooling2d({ name: "gap" }),
      tf.layers.dense({ units: 3, name: "head" }),
    ],
  });
  const stats = [1.5, -0.3, 0.2, 0.8].map((v, i) => tf.fill([4], v + 0.1 * i));
  model.getLayer("bn").setWeights(stats);
  tf.dispose(stats);
  await model.save(fileSystemHandler(dir));
  model.dispose();
}

const X_SHAPE: [number, number, number, number] = [3, 6, 6, 2];

backendTest(
  "loadTfjsTeacher: layers, inner 4-D layer pooled, default output, 2-D layer",
  async () => {
    await withTempDir("tfjs_teacher_layers", async (dir) => {
      await saveLayersTeacher(dir);
      const stock = await tf.loadLayersModel(fileSystemHandler(dir));
      const x = tf.tensor4d(randn(7, X_SHAPE.reduce((a, b) => a * b)), X_SHAPE);
      const featModel = tf.model({ inputs: stock.inputs, outputs: stock.getLayer("feat").output });
      const wantFeat = await readAndDispose(
        tf.tidy(() => tf.mean(featModel.predict(x) as tf.Tensor, [1, 2])),
      );
      const wantHead = await readAndDispose(stock.predict(x) as tf.Tensor);

      const feat = await loadTfjsTeacher(dir, { output: "feat" });
      assert.equal(feat.kind, "layers");
      assert.equal(feat.outputName, "feat");
      assert.equal(feat.featureDim, 4);
      assert.deepEqual(feat.inputShape, [null, 6, 6, 2]);
      assert.equal((feat.model as tf.LayersModel).trainableWeights.length, 0, "teacher is frozen");
      const y = feat.embed(x);
      assert.deepEqual(y.shape, [3, 4]);
      assertClose(await readAndDispose(y), wantFeat, { label: "pooled feat" });
      // training: true is ignored: batch norm stays in inference mode.
      assertClose(await readAndDispose(feat.embed(x, { training: true })), wantFeat, {
        label: "training ignored",
      });

      const gap = await loadTfjsTeacher(dir, { output: "gap" });
      assert.equal(gap.featureDim, 4);
      assertClose(await readAndDispose(gap.embed(x)), wantFeat, { label: "gap layer" });

      const head = await loadTfjsTeacher(`${dir}/model.json`);
      assert.equal(head.outputName, "head");
      assert.equal(head.featureDim, 3);
      assertClose(await readAndDispose(head.embed(x)), wantHead, { label: "default output" });

      // Stable memory across embeds, inside and outside tf.tidy.
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          feat.embed(x);
        });
        feat.embed(x).dispose();
      }
      assert.equal(tf.memory().numTensors, before);

      for (const t of [feat, gap, head]) t.dispose();
      stock.dispose();
      x.dispose();
      assert.throws(() => feat.embed(x), /is disposed/);
    });
  },
);

// ---- a hand-written graph teacher ----
// x [-1, 4, 4, 3] → Conv2D 1x1 (K [1,1,3,5]) → Relu "feat" → Mean over [1, 2] "pool"
// → MatMul (W [5, 2]) "logits".

const F32 = { type: "DT_FLOAT" };
const I32 = { type: "DT_INT32" };
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });
const ones4 = { list: { i: ["1", "1", "1", "1"] } };

function constNode(name: string, shape: number[], dtype = "DT_FLOAT") {
  return {
    name,
    op: "Const",
    attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
  };
}

const K = Array.from(randn(11, 15)); // [1, 1, 3, 5]
const WL = Array.from(randn(12, 10)); // [5, 2]

async function saveGraphTeacher(
  dir: string,
  inputShape = [-1, 4, 4, 3],
  extra: Record<string, unknown> = {},
): Promise<void> {
  const json = {
    format: "graph-model",
    generatedBy: "hand-written",
    convertedBy: null,
    modelTopology: {
      node: [
        { name: "x", op: "Placeholder", attr: { dtype: F32, shape: { shape: dims(inputShape) } } },
        constNode("K", [1, 1, 3, 5]),
        constNode("axes", [2], "DT_INT32"),
        constNode("W", [5, 2]),
        {
          name: "conv",
          op: "Conv2D",
          input: ["x", "K"],
          attr: {
            T: F32,
            strides: ones4,
            dilations: ones4,
            padding: { s: btoa("VALID") }, // string attrs are base64 bytes
            data_format: { s: btoa("NHWC") },
          },
        },
        { name: "feat", op: "Relu", input: ["conv"], attr: { T: F32 } },
        {
          name: "pool",
          op: "Mean",
          input: ["feat", "axes"],
          attr: { T: F32, Tidx: I32, keep_dims: { b: false } },
        },
        {
          name: "logits",
          op: "MatMul",
          input: ["pool", "W"],
          attr: { T: F32, transpose_a: { b: false }, transpose_b: { b: false } },
        },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{
      paths: ["weights.bin"],
      weights: [
        { name: "K", shape: [1, 1, 3, 5], dtype: "float32" },
        { name: "axes", shape: [2], dtype: "int32" },
        { name: "W", shape: [5, 2], dtype: "float32" },
      ],
    }],
    ...extra,
  };
  const bytes = new Uint8Array(4 * (15 + 2 + 10));
  new Float32Array(bytes.buffer, 0, 15).set(K);
  new Int32Array(bytes.buffer, 60, 2).set([1, 2]);
  new Float32Array(bytes.buffer, 68, 10).set(WL);
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  await Deno.writeFile(`${dir}/weights.bin`, bytes);
}

/** Hand computation of the graph: pooled relu features [B, 5] and logits [B, 2]. */
function graphReference(x: Float32Array, b: number, hw: number) {
  const pooled = new Float64Array(b * 5);
  for (let n = 0; n < b; n++) {
    for (let p = 0; p < hw; p++) {
      for (let o = 0; o < 5; o++) {
        let s = 0;
        for (let c = 0; c < 3; c++) s += x[(n * hw + p) * 3 + c] * K[c * 5 + o];
        pooled[n * 5 + o] += Math.max(0, s) / hw;
      }
    }
  }
  const logits = new Float64Array(b * 2);
  for (let n = 0; n < b; n++) {
    for (let j = 0; j < 2; j++) {
      for (let o = 0; o < 5; o++) logits[n * 2 + j] += pooled[n * 5 + o] * WL[o * 2 + j];
    }
  }
  return { pooled, logits };
}

backendTest(
  "loadTfjsTeacher: graph model, default output and a 4-D node, vs hand computation",
  async () => {
    await withTempDir("tfjs_teacher_graph", async (dir) => {
      await saveGraphTeacher(dir);
      const data = randn(13, 2 * 4 * 4 * 3);
      const x = tf.tensor4d(data, [2, 4, 4, 3]);
      const want = graphReference(data, 2, 16);

      const logits = await loadTfjsTeacher(dir);
      assert.equal(logits.kind, "graph");
      assert.equal(logits.outputName, "logits");
      assert.equal(logits.featureDim, 2, "probed with one zero image");
      assert.deepEqual(logits.inputShape, [null, 4, 4, 3]);
      assertClose(await readAndDispose(logits.embed(x)), want.logits, { label: "logits" });

      const feat = await loadTfjsTeacher(dir, { output: "feat" });
      assert.equal(feat.featureDim, 5);
      const y = feat.embed(x);
      assert.deepEqual(y.shape, [2, 5]);
      assertClose(await readAndDispose(y), want.pooled, { label: "pooled feat" });
      const viaIndex = await loadTfjsTeacher(dir, { output: "pool:0", format: "graph" });
      assertClose(await readAndDispose(viaIndex.embed(x)), want.pooled, { label: "pool:0" });

      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          feat.embed(x);
        });
      }
      assert.equal(tf.memory().numTensors, before);
      const wrong = tf.zeros<tf.Rank.R4>([1, 5, 4, 3]);
      assert.throws(() => feat.embed(wrong), /expects images \[\?, 4, 4, 3\], got \[1, 5, 4, 3\]/);
      wrong.dispose();

      for (const t of [logits, feat, viaIndex]) t.dispose();
      x.dispose();
    });
  },
  { checkLeaks: true },
);

Deno.test("loadTfjsTeacher: graph featureDim from inputShape option, signature, or first embed", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  await withTempDir("tfjs_teacher_dim", async (dir) => {
    await saveGraphTeacher(dir, [-1, -1, -1, 3]);
    const lazy = await loadTfjsTeacher(dir, { output: "feat" });
    assert.deepEqual(lazy.inputShape, [null, null, null, 3]);
    assert.throws(() => lazy.featureDim, /not known until the first embed\(\)/);
    tf.tidy(() => {
      lazy.embed(tf.zeros([1, 3, 3, 3]));
    });
    assert.equal(lazy.featureDim, 5);
    lazy.dispose();

    const probed = await loadTfjsTeacher(dir, { output: "feat", inputShape: [2, 2, 3] });
    assert.equal(probed.featureDim, 5);
    probed.dispose();

    const signature = {
      outputs: {
        embedding: { name: "pool:0", dtype: "DT_FLOAT", tensorShape: dims([-1, 5]) },
      },
    };
    await saveGraphTeacher(dir, [-1, -1, -1, 3], { signature });
    const signed = await loadTfjsTeacher(dir, { output: "embedding" });
    assert.equal(signed.featureDim, 5);
    signed.dispose();
  });
});

Deno.test("loadTfjsTeacher: unknown output names list what exists", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  await withTempDir("tfjs_teacher_names", async (dir) => {
    await saveLayersTeacher(dir);
    await assert.rejects(
      loadTfjsTeacher(dir, { output: "nope" }),
      (e: Error) =>
        e instanceof RangeError &&
        e.message ===
          `Teacher "${dir}" has no layer "nope"; its layers are "conv", "bn", "feat", "gap", "head"`,
    );
    await saveGraphTeacher(dir);
    await assert.rejects(
      loadTfjsTeacher(dir, { output: "Relu" }),
      (e: Error) =>
        e instanceof RangeError &&
        e.message ===
          `Teacher "${dir}" has no node "Relu"; its outputs are "logits" and its operation nodes ` +
            `"conv", "feat", "pool", "logits"`,
    );
  });
  await withTempDir("tfjs_teacher_many", async (dir) => {
    const layers = [
      tf.layers.conv2d({ inputShape: [2, 2, 1], filters: 1, kernelSize: 1, name: "c0" }),
    ];
    for (let i = 1; i < 25; i++) {
      layers.push(tf.layers.conv2d({ filters: 1, kernelSize: 1, name: `c${i}` }));
    }
    const model = tf.sequential({ layers });
    await model.save(fileSystemHandler(dir));
    model.dispose();
    await assert.rejects(
      loadTfjsTeacher(dir, { output: "c99" }),
      (e: Error) =>
        e.message.includes('its layers are 5 earlier names, then "c5", "c6"') &&
        e.message.endsWith('"c24"'),
    );
  });
});

Deno.test("loadTfjsTeacher: format detection, forced formats, bad ranks", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  await withTempDir("tfjs_teacher_format", async (dir) => {
    await saveLayersTeacher(dir);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    delete json.format; // decided from the topology's shape
    await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
    const t = await loadTfjsTeacher(dir);
    assert.equal(t.kind, "layers");
    t.dispose();
    await assert.rejects(
      loadTfjsTeacher(dir, { format: "graph" }),
      (e: Error) =>
        e instanceof SyntaxError &&
        e.message ===
          `Cannot load tfjs teacher "${dir}" as a graph model (options.format is "graph"): ` +
            "its modelTopology has no GraphDef `node` list",
    );
    // @ts-expect-error: a wrong name, as from untyped config
    await assert.rejects(loadTfjsTeacher(dir, { format: "keras" }), RangeError);

    await saveGraphTeacher(dir);
    const g = await loadTfjsTeacher(dir, { format: "graph" });
    assert.equal(g.kind, "graph");
    g.dispose();
    await assert.rejects(loadTfjsTeacher(dir, { format: "layers" }), SyntaxError);

    // A 3-D output and a non-image input are refused at load.
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 1, name: "conv" }),
        tf.layers.reshape({ targetShape: [16, 2], name: "seq" }),
        tf.layers.flatten({ name: "flat" }),
      ],
    });
    await model.save(fileSystemHandler(dir));
    model.dispose();
    await assert.rejects(
      loadTfjsTeacher(dir, { output: "seq" }),
      (e: Error) =>
        e instanceof RangeError &&
        e.message ===
          `Output "seq" of teacher "${dir}" has shape [?, 16, 2]: expected [B, D] or a feature map [B, H, W, C]`,
    );
    const mlp = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    await mlp.save(fileSystemHandler(dir));
    mlp.dispose();
    await assert.rejects(
      loadTfjsTeacher(dir),
      /has input shape \[\?, 3\]: expected images \[B, H, W, C\]/,
    );
  });
});

backendTest(
  "loadTfjsTeacher refuses weights holding NaN or Inf, naming the file and the weight",
  async () => {
    await withTempDir("tfjs_teacher_nonfinite", async (dir) => {
      const model = tf.sequential({
        layers: [tf.layers.dense({ inputShape: [4], units: 2, name: "fc" })],
      });
      const [w] = model.getLayer("fc").getWeights(); // the variable itself: not disposed here
      const bad = tf.tensor1d([0, NaN]);
      model.getLayer("fc").setWeights([w, bad]);
      bad.dispose();
      await model.save(fileSystemHandler(dir));
      model.dispose();
      const before = tf.memory().numTensors;
      await assert.rejects(
        loadTfjsTeacher(dir),
        (e: Error) =>
          e.message ===
            `Cannot load weights "${dir}": tensor "fc/bias" holds non-finite values (NaN); ` +
              "re-export the weights from a finite model",
      );
      assert.equal(tf.memory().numTensors, before, "no tensor leaked");
    });
  },
  { backends: ["cpu"] },
);
