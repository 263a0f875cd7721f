/**
 * The fused WebGPU kernels (lib/kernels/batch_norm_webgpu.ts,
 * lib/kernels/optimizer_webgpu.ts): their launch plan, that the public code
 * takes them on webgpu and only there, how many dispatches they leave, and
 * their results against float64 references on every backend. Training batch
 * norm's gradients are checked against the definition in
 * tests/models/batch_norm_test.ts, the optimizers against PyTorch in
 * tests/optim/optim_test.ts; both run on webgpu too, through these kernels.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest } from "../_helpers.ts";
import { randn } from "./_conv_reference.ts";
import { planBatchNorm } from "../../lib/kernels/batch_norm_webgpu.ts";
import { EagerOps } from "../../lib/models/ops.ts";
import { ParamStore } from "../../lib/models/params.ts";
import { createOptimizer } from "../../lib/optim/optim.ts";
import { countGpuWork } from "../../bench/_gpu_work.ts";

Deno.test("planBatchNorm: 256 threads, every row in one block, at most 512 blocks", () => {
  assert.deepEqual(planBatchNorm(262144, 64), { tc: 64, tr: 4, rowsPerBlock: 512, blocks: 512 });
  assert.deepEqual(planBatchNorm(60, 6), { tc: 8, tr: 32, rowsPerBlock: 60, blocks: 1 });
  for (const [rows, channels] of [[1, 1], [7, 3], [200, 70], [3000, 5], [1e6, 512], [33, 1000]]) {
    const p = planBatchNorm(rows, channels);
    assert.equal(p.tc * p.tr, 256);
    assert.ok(p.tc >= Math.min(64, channels) && p.tc <= 64, JSON.stringify(p));
    assert.ok(p.blocks >= 1 && p.blocks <= 512, JSON.stringify(p));
    assert.ok(p.blocks * p.rowsPerBlock >= rows, `${rows} rows covered`);
    assert.ok((p.blocks - 1) * p.rowsPerBlock < rows, "no empty block");
  }
});

/** A batch-norm layer with set parameters and running statistics. */
function layer(c: number, seed: number): ParamStore {
  const params = new ParamStore(0);
  params.batchNorm("bn", c);
  const set = (name: string, v: Float32Array) =>
    tf.tidy(() => params.get(`bn.${name}`).assign(tf.tensor1d(v)));
  set("weight", randn(seed, c).map((v) => 1 + 0.3 * v));
  set("bias", randn(seed + 1, c));
  set("running_mean", randn(seed + 2, c));
  set("running_var", randn(seed + 3, c).map((v) => 0.5 + v * v));
  return params;
}

backendTest("inference batch norm: x·s + (β − μ·s), s = γ/√(var + ε)", async (backend) => {
  const shape = [3, 5, 5, 37];
  const c = shape[3];
  const params = layer(c, 11);
  const xv = randn(12, 3 * 5 * 5 * c).map((v, i) => 2 * v + (i % c) * 0.1);
  const x = tf.tensor4d(xv, shape as [number, number, number, number]);
  const ops = new EagerOps(params, false);
  const [g, b, m, v] = await Promise.all(
    ["weight", "bias", "running_mean", "running_var"].map((n) => params.get(`bn.${n}`).data()),
  );
  const expected = Float64Array.from(xv, (val, i) => {
    const j = i % c, s = g[j] / Math.sqrt(v[j] + 1e-5);
    return val * s + (b[j] - m[j] * s);
  });
  // EagerOps runs inside Backbone.embed's tf.tidy; here too.
  const run = () => tf.tidy(() => ops.batchNorm(x, "bn"));
  let y!: tf.Tensor;
  const { work } = backend === "webgpu"
    ? await countGpuWork(async () => {
      y = run();
      await y.data();
    })
    : { work: undefined };
  y ??= run();
  assertClose(await y.data(), expected, { rtol: 2e-6, label: `inference batch norm [${backend}]` });
  if (work) assert.equal(work.dispatches, 1, "one fused dispatch on webgpu");
  tf.dispose([x, y]);
  params.dispose();
});

backendTest("training batch norm: six dispatches on webgpu, forward and backward", async () => {
  const params = layer(70, 21);
  const ops = new EagerOps(params, true);
  const x = tf.tensor2d(randn(22, 300 * 70), [300, 70]);
  const w = tf.tensor2d(randn(23, 300 * 70), [300, 70]);
  const gamma = params.get("bn.weight");
  const { work } = await countGpuWork(async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(ops.batchNorm(x, "bn"), w)) as tf.Scalar,
      [gamma],
    );
    await value.data();
    tf.dispose([value, grads[gamma.name]]);
  }, { byKernel: true });
  const fused = Object.fromEntries(work.byKernel!.map((k) => [k.name, k.dispatches]));
  assert.equal(fused.CossBatchNormForward, 3, JSON.stringify(fused));
  assert.equal(fused.CossBatchNormGrad, 3, JSON.stringify(fused));
  tf.dispose([x, w]);
  params.dispose();
}, { backends: ["webgpu"] });

for (const name of ["sgd", "adamw"] as const) {
  backendTest(`${name}: one dispatch per variable on webgpu`, async () => {
    const vars = [[4, 5], [7], [3, 3, 2]].map((s, i) =>
      tf.tidy(() => tf.variable(tf.tensor(randn(30 + i, s.reduce((a, b) => a * b, 1)), s)))
    );
    const opt = createOptimizer({
      name,
      lr: 0.1,
      momentum: 0.9,
      nesterov: true,
      weightDecay: 0.01,
      betas: [0.9, 0.999],
      eps: 1e-8,
      clipNorm: null,
    }, vars);
    const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.fill(v.shape, i + 1)]));
    opt.apply(grads, 0.1); // compile the pipelines first
    const { work } = await countGpuWork(async () => {
      opt.apply(grads, 0.1);
      await vars[0].data();
    }, { byKernel: true });
    const byName = Object.fromEntries(work.byKernel!.map((k) => [k.name, k.dispatches]));
    const kernel = name === "sgd" ? "CossSgdUpdate" : "CossAdamWUpdate";
    assert.equal(byName[kernel], vars.length, JSON.stringify(byName));
    // Besides the updates, only the step counter (and AdamW's bias corrections) run.
    assert.ok(work.dispatches <= vars.length + (name === "sgd" ? 2 : 16), JSON.stringify(byName));
    tf.dispose(Object.values(grads));
    opt.dispose();
    tf.dispose(vars);
  }, { backends: ["webgpu"] });
}
