/**
 * Batch norm in training mode (EagerOps.batchNorm → lib/models/batch_norm.ts)
 * on every backend: output and gradients against central differences of the
 * definition in float64, against autodiff through the broadcasting ops it
 * replaced (for one layer and for a whole ResNet-18), running statistics as
 * PyTorch updates them, and one node on the gradient tape per call.
 *
 * No PyTorch golden exists for batch-norm gradients (tests/fixtures/models
 * holds inference features only); the float64 differences are the reference.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import { randn } from "../kernels/_conv_reference.ts";
import { BN_MOMENTUM, EagerOps } from "../../lib/models/ops.ts";
import { ParamStore } from "../../lib/models/params.ts";
import { createModel } from "../../lib/models/registry.ts";

const EPS = 1e-5;

/** The batch norm this toolkit used before, autodiff through broadcasting ops (commit ea53c01). */
class AutodiffBatchNormOps extends EagerOps {
  override batchNorm(x: tf.Tensor, prefix: string, eps = EPS): tf.Tensor {
    if (!this.training) return super.batchNorm(x, prefix, eps);
    const p = (n: string) => this.params.get(`${prefix}.${n}`);
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    const n = x.size / x.shape[x.rank - 1];
    const y = tf.add(
      tf.mul(tf.sub(x, mean), tf.mul(p("weight"), tf.rsqrt(tf.add(variance, eps)))),
      p("bias"),
    );
    tf.tidy(() => {
      const m = BN_MOMENTUM;
      p("running_mean").assign(tf.add(tf.mul(p("running_mean"), 1 - m), tf.mul(mean, m)));
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      p("running_var").assign(tf.add(tf.mul(p("running_var"), 1 - m), tf.mul(unbiased, m)));
    });
    return y;
  }
}

/** A batch-norm problem: input `x` of `shape`, loss `Σ y·w`, affine parameters. */
interface Problem {
  shape: number[];
  x: Float32Array;
  w: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
}

function problem(shape: number[], seed: number): Problem {
  const size = shape.reduce((a, b) => a * b, 1);
  const c = shape[shape.length - 1];
  // An offset and a scale per channel, so that centring and scaling both matter.
  const x = randn(seed, size).map((v, i) => 3 * v * (1 + (i % c)) + 1.5 - (i % c));
  const gamma = randn(seed + 2, c).map((v) => 1 + 0.4 * v);
  return { shape, x, w: randn(seed + 1, size), gamma, beta: randn(seed + 3, c) };
}

/** `Σ y·w` of batch norm over every axis but the last, in float64. */
function loss64(
  p: Problem,
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
) {
  const c = gamma.length, n = x.length / c;
  let total = 0;
  for (let j = 0; j < c; j++) {
    let mean = 0, sq = 0;
    for (let i = 0; i < n; i++) mean += x[i * c + j] / n;
    for (let i = 0; i < n; i++) sq += (x[i * c + j] - mean) ** 2 / n;
    for (let i = 0; i < n; i++) {
      const y = gamma[j] * (x[i * c + j] - mean) / Math.sqrt(sq + EPS) + beta[j];
      total += y * p.w[i * c + j];
    }
  }
  return total;
}

/** Gradients of {@linkcode loss64} by central differences. */
function reference(p: Problem): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array } {
  const args = [Float64Array.from(p.x), Float64Array.from(p.gamma), Float64Array.from(p.beta)];
  const grads = args.map((a) =>
    a.map((_, i) => {
      const keep = a[i], h = 1e-6 * Math.max(1, Math.abs(keep));
      a[i] = keep + h;
      const up = loss64(p, args[0], args[1], args[2]);
      a[i] = keep - h;
      const down = loss64(p, args[0], args[1], args[2]);
      a[i] = keep;
      return (up - down) / (2 * h);
    })
  );
  return { dx: grads[0], dGamma: grads[1], dBeta: grads[2] };
}

function store(p: Problem): ParamStore {
  const params = new ParamStore(0);
  const c = p.gamma.length;
  params.batchNorm("bn", c);
  tf.tidy(() => params.get("bn.weight").assign(tf.tensor1d(p.gamma)));
  tf.tidy(() => params.get("bn.bias").assign(tf.tensor1d(p.beta)));
  tf.tidy(() => params.get("bn.running_mean").assign(tf.fill([c], 0.25)));
  tf.tidy(() => params.get("bn.running_var").assign(tf.fill([c], 2)));
  return params;
}

/** One training-mode forward and backward; gradients, running stats and the tape it left. */
async function run(ops: EagerOps, p: Problem) {
  const x = tf.tensor(p.x, p.shape);
  const w = tf.tensor(p.w, p.shape);
  const gamma = ops.params.get("bn.weight"), beta = ops.params.get("bn.bias");
  let nodes: { inputs: number; saved: number }[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const tape = tf.engine().state.activeTape;
    const before = tape.length;
    const y = ops.batchNorm(x, "bn");
    nodes = tape.slice(before).map((node) => ({
      inputs: Object.keys(node.inputs).length,
      saved: (node.saved ?? []).reduce((total, t) => total + t.size, 0),
    }));
    return tf.sum(tf.mul(y, w)) as tf.Scalar;
  }, [gamma, beta]);
  const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ops.batchNorm(t, "bn"), w)))(x);
  const out = {
    loss: (await readAndDispose(value))[0],
    dx: await readAndDispose(dx),
    dGamma: await readAndDispose(grads[gamma.name]),
    dBeta: await readAndDispose(grads[beta.name]),
    // After two training passes (the variableGrads one and the tf.grad one).
    runningMean: await ops.params.get("bn.running_mean").data(),
    runningVar: await ops.params.get("bn.running_var").data(),
    nodes,
  };
  tf.dispose([x, w]);
  return out;
}

// Float32 sums over up to 3000 values against float64; the largest error seen was 7e-7 up to
// 360 values.
const RTOL = 1e-5;

// The last two cross the fused WebGPU kernel's tiles: several blocks of rows, and a channel
// count that is neither a power of two nor within one 64-channel tile.
for (const shape of [[4, 3, 5, 6], [20, 7], [8, 5, 5, 70], [3000, 5]]) {
  backendTest(
    `training batch norm ${JSON.stringify(shape)}: gradients of the definition`,
    async (backend) => {
      const p = problem(shape, shape.length * 31);
      const params = store(p);
      const got = await run(new EagerOps(params, true), p);
      const ref = reference(p);
      const label = (s: string) => `${s} ${JSON.stringify(shape)}`;
      assertClose(got.loss, loss64(p, p.x, p.gamma, p.beta), { rtol: RTOL, label: label("loss") });
      assertClose(got.dx, ref.dx, { rtol: RTOL, label: label("dx") });
      assertClose(got.dGamma, ref.dGamma, { rtol: RTOL, label: label("dγ") });
      assertClose(got.dBeta, ref.dBeta, { rtol: RTOL, label: label("dβ") });
      // PyTorch's update, twice, from running mean 0.25 and variance 2; variance unbiased.
      const c = shape[shape.length - 1], n = p.x.length / c;
      const mean = new Float64Array(c), unbiased = new Float64Array(c);
      for (let i = 0; i < p.x.length; i++) mean[i % c] += p.x[i] / n;
      for (let i = 0; i < p.x.length; i++) unbiased[i % c] += (p.x[i] - mean[i % c]) ** 2 / (n - 1);
      const m = BN_MOMENTUM, keep = (1 - m) ** 2;
      const expectMean = mean.map((v) => keep * 0.25 + (1 - keep) * v);
      const expectVar = unbiased.map((v) => keep * 2 + (1 - keep) * v);
      assertClose(got.runningMean, expectMean, { rtol: 1e-5, label: label("running mean") });
      assertClose(got.runningVar, expectVar, { rtol: 1e-5, label: label("running var") });
      // One custom-gradient node that keeps x − μ, 1/σ and γ/σ (on webgpu, whose fused kernels
      // recompute x̂: x, μ, 1/σ and γ), and tfjs's one-input identity node per saved tensor
      // (three, or four). The statistics and the running updates are off the tape.
      const fused = backend === "webgpu";
      const saved = p.x.length + (fused ? 3 : 2) * c;
      assert.deepEqual(got.nodes.at(-1), { inputs: 3, saved }, "the op");
      const clones = Array(fused ? 4 : 3).fill({ inputs: 1, saved: 0 });
      assert.deepEqual(got.nodes.slice(0, -1), clones, "clones");
      params.dispose();
    },
  );
}

backendTest("training batch norm agrees with the autodiff formulation it replaced", async () => {
  for (const shape of [[4, 3, 5, 6], [20, 7]]) {
    const p = problem(shape, 7);
    const [a, b] = [store(p), store(p)];
    const got = await run(new EagerOps(a, true), p);
    const old = await run(new AutodiffBatchNormOps(b, true), p);
    const label = (s: string) => `${s} ${JSON.stringify(shape)}`;
    for (const k of ["dx", "dGamma", "dBeta", "runningMean", "runningVar"] as const) {
      // The largest difference seen was 2e-7.
      assertClose(got[k], old[k], { rtol: 2e-6, label: label(k) });
    }
    // The check above can tell: autodiff keeps several full-size tensors.
    const kept = old.nodes.reduce((total, node) => total + node.saved, 0);
    assert.ok(kept > 2 * p.x.length, `the old formulation keeps ${kept} values`);
    a.dispose();
    b.dispose();
  }
});

backendTest("ResNet-18 training gradients: custom batch-norm gradient = autodiff", async () => {
  const model = createModel("resnet18", { stem: "cifar", width: 0.125 });
  const x = tf.tensor4d(randn(5, 4 * 16 * 16 * 3), [4, 16, 16, 3]);
  const w = tf.tensor2d(randn(6, 4 * model.featureDim), [4, model.featureDim]);
  const vars = model.trainableVariables();
  const grads = (ops: EagerOps) => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(model.forward(ops, x), w)) as tf.Scalar,
      vars,
    );
    value.dispose();
    return grads;
  };
  const got = grads(new EagerOps(model.params, true));
  const old = grads(new AutodiffBatchNormOps(model.params, true));
  // float32 through 20 conv and batch-norm layers: the largest difference seen was 1.5e-6.
  const names = new Map(model.params.entries().map(([name, e]) => [e.variable.name, name]));
  for (const v of vars) {
    const ref = await readAndDispose(old[v.name]);
    assertClose(await readAndDispose(got[v.name]), ref, { rtol: 2e-5, label: names.get(v.name) });
  }
  tf.dispose([x, w]);
  model.dispose();
});
