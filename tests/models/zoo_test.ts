/**
 * Every zoo model: the documented interface, batch-norm modes, training on
 * cpu and wasm (with the toolkit's conv kernels), inference on WebGPU, and
 * the registry's errors.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import { cossLoss } from "../../lib/losses/mod.ts";
import type { Backbone } from "../../lib/models/backbone.ts";
import { createProjectionHead } from "../../lib/models/head.ts";
import { createModel, listModels, type ModelName } from "../../lib/models/registry.ts";
import { ONNX_ZOO } from "./_onnx_zoo.ts";

/** Small configurations of every registry entry, with the input size each gets. */
const SMALL = ONNX_ZOO;

function build(i: number): { model: Backbone; x: tf.Tensor4D } {
  const [name, args, size] = SMALL[i];
  const model = createModel(name, args);
  const x = tf.randomNormal([4, size, size, model.inChannels], 0, 1, "float32", 3) as tf.Tensor4D;
  return { model, x };
}

Deno.test("every registry name has a small configuration here", () => {
  assert.deepEqual(SMALL.map((s) => s.at(0)).toSorted(), listModels().toSorted());
});

backendTest("zoo: shapes, featureDim and batch-norm modes", async () => {
  for (let i = 0; i < SMALL.length; i++) {
    const { model, x } = build(i);
    const name = SMALL[i][0];
    const y = model.embed(x);
    assert.deepEqual(y.shape, [4, model.featureDim], name);
    y.dispose();
    const bn = model.params.names().find((n) => n.endsWith(".running_mean"));
    if (bn) {
      const stat = model.params.get(bn);
      const before = await stat.data();
      model.embed(x).dispose();
      assert.deepEqual(await stat.data(), before, `${name}: inference mode changed ${bn}`);
      model.embed(x, { training: true }).dispose();
      const after = await stat.data();
      assert.ok(
        after.some((v, j) => v !== before[j]),
        `${name}: training mode left ${bn} unchanged`,
      );
    }
    assert.throws(
      () => tf.tidy(() => model.embed(tf.zeros([1, 28, 28, model.inChannels + 1]) as tf.Tensor4D)),
      RangeError,
    );
    x.dispose();
    model.dispose();
  }
}, { backends: ["wasm"] });

backendTest("zoo: every model trains (all weights get gradients, loss falls)", async () => {
  for (let i = 0; i < SMALL.length; i++) {
    const name = SMALL[i][0];
    const { model, x } = build(i);
    const teacher = tf.tidy(() =>
      tf.relu(tf.randomNormal([4, 16], 0, 1, "float32", 5))
    ) as tf.Tensor2D;
    const head = createProjectionHead(model.featureDim, 16, { hidden: 32 })!;
    const vars = [...model.trainableVariables(), ...head.trainableVariables()];
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => cossLoss(teacher, head.apply(model.embed(x, { training: true }))),
          vars,
        );
        assert.equal(Object.keys(grads).length, vars.length, `${name}: missing gradients`);
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 2e-3)));
        return value;
      });
      losses.push((await readAndDispose(loss))[0]);
    }
    assert.ok(losses.every(Number.isFinite), `${name}: ${losses}`);
    assert.ok(losses[3] < losses[0], `${name}: loss did not fall: ${losses}`);
    tf.dispose([x, teacher]);
    head.dispose();
    model.dispose();
  }
}, { backends: ["cpu", "wasm"] });

backendTest("zoo: every model runs on this backend and agrees with wasm", async () => {
  for (let i = 0; i < SMALL.length; i++) {
    const { model, x } = build(i);
    const y = await readAndDispose(model.embed(tf.slice(x, 0, 2) as tf.Tensor4D));
    // The reference: the same model and input on wasm, read back before switching back.
    const xs = await x.data();
    await initBackend({ backend: "wasm", log: false });
    const ref = createModel(SMALL[i][0], SMALL[i][1]);
    const xr = tf.tensor4d(xs, x.shape).slice(0, 2) as tf.Tensor4D;
    const want = await readAndDispose(ref.embed(xr));
    tf.dispose(xr);
    ref.dispose();
    await initBackend({ backend: "webgpu", log: false });
    assertClose(y, want, { rtol: 1e-3, label: SMALL[i][0] });
    x.dispose();
    model.dispose();
  }
}, { backends: ["webgpu"], checkLeaks: false });

Deno.test("registry: unknown names, unknown keys and bad values are RangeErrors", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  assert.throws(
    () => createModel("resnet99" as ModelName),
    /Unknown model "resnet99": expected one of resnet18,/,
  );
  assert.throws(
    () => createModel("resnet18", { widht: 2 } as Record<string, unknown>),
    /resnet18: unknown argument "widht"; valid arguments are stem, width/,
  );
  assert.throws(() => createModel("resnet18", { width: -1 }), /width must be a positive number/);
  assert.throws(() => createModel("vit", { dim: 10, heads: 3 }), /heads \(3\) must divide dim/);
});

Deno.test("projection head exists only when the widths differ", async () => {
  await initBackend({ backend: "cpu", log: false }); // a shuffled order may run this test first
  assert.equal(createProjectionHead(64, 64), undefined);
  const head = createProjectionHead(64, 128, { hidden: 16 })!;
  assert.deepEqual(head.params.names(), ["0.weight", "0.bias", "2.weight", "2.bias"]);
  assert.deepEqual(head.params.get("2.weight").shape, [16, 128]);
  head.dispose();
});
