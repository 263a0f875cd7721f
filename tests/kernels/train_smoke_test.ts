/**
 * A small conv net (conv, strided conv, depthwise conv, 1x1 conv, max-pool,
 * batch norm, global pooling, an embedding gather) trained for a few steps
 * with the CoSS loss on every backend: the loss must fall and the number of
 * live tensors must stay flat.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest } from "../_helpers.ts";
import { cossLoss } from "../../lib/losses/mod.ts";
import { randn } from "./_conv_reference.ts";

const BATCH = 8, SIZE = 12, EMBED = 8;

function makeNet(seed: number) {
  const v = <R extends tf.Rank>(shape: number[], scale: number, s: number) =>
    tf.tidy(() =>
      tf.variable<R>(
        tf.mul(tf.tensor(randn(seed + s, shape.reduce((a, b) => a * b, 1)), shape), scale),
      )
    );
  const params = {
    c1: v<tf.Rank.R4>([3, 3, 1, 8], 0.4, 1),
    c2: v<tf.Rank.R4>([3, 3, 8, 16], 0.15, 2),
    dw: v<tf.Rank.R4>([3, 3, 16, 1], 0.3, 3),
    c3: v<tf.Rank.R4>([1, 1, 16, 16], 0.25, 4),
    gamma: tf.tidy(() => tf.variable(tf.ones([16]))),
    beta: tf.tidy(() => tf.variable(tf.zeros([16]))),
    fc: v<tf.Rank.R2>([16, EMBED], 0.25, 5),
    slot: v<tf.Rank.R2>([4, EMBED], 0.1, 6),
  };
  const slots = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32");
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = tf.relu(tf.conv2d(x, params.c1, 1, "same"));
    h = tf.relu(tf.conv2d(h, params.c2, 2, "same"));
    h = tf.relu(tf.depthwiseConv2d(h, params.dw, 1, "same"));
    h = tf.conv2d(h, params.c3, 1, "valid");
    h = tf.maxPool(h, 2, 2, "valid");
    // Batch norm in training mode, written with broadcasting ops.
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.relu(
      tf.add(
        tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), params.gamma),
        params.beta,
      ),
    );
    const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
    return tf.add(tf.matMul(pooled, params.fc), tf.gather(params.slot, slots));
  };
  return { params, forward, dispose: () => tf.dispose([...Object.values(params), slots]) };
}

backendTest("a small conv net trains with the CoSS loss", async (backend) => {
  const steps = backend === "webgpu" ? 6 : 12;
  const net = makeNet(11);
  const x = tf.tensor4d(randn(3, BATCH * SIZE * SIZE), [BATCH, SIZE, SIZE, 1]);
  const teacher = tf.tidy(() => tf.relu(tf.tensor2d(randn(4, BATCH * EMBED), [BATCH, EMBED])));
  // Plain SGD written out: tfjs's momentum optimizer leaks two scalars on dispose.
  const lr = 0.01;
  const losses: number[] = [];
  let tensorsAfterFirst = -1;
  for (let step = 0; step < steps; step++) {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => cossLoss(teacher, net.forward(x)));
      for (const [name, g] of Object.entries(grads)) {
        const v = tf.engine().registeredVariables[name];
        v.assign(tf.sub(v, tf.mul(g, lr)));
      }
      return value;
    });
    losses.push((await loss.data())[0]);
    loss.dispose();
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
    else {
      assert.equal(tf.memory().numTensors, tensorsAfterFirst, `tensor count grew at step ${step}`);
    }
  }
  assert.ok(losses.every(Number.isFinite), `non-finite loss: ${losses}`);
  assert.ok(
    losses[steps - 1] < losses[0] - 1,
    `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(", ")}`,
  );
  net.dispose();
  tf.dispose([x, teacher]);
});

backendTest("UnsortedSegmentSum matches a direct sum", async () => {
  const x = tf.tensor2d(randn(21, 6 * 3), [6, 3]);
  const ids = tf.tensor1d([2, 0, -1, 2, 4, 0], "int32");
  const out = tf.unsortedSegmentSum(x, ids, 5);
  const got = await out.data();
  const xs = await x.data();
  const want = new Float64Array(15);
  [2, 0, -1, 2, 4, 0].forEach((s, i) => {
    if (s >= 0) { for (let j = 0; j < 3; j++) want[s * 3 + j] += xs[i * 3 + j]; }
  });
  assert.deepEqual(out.shape, [5, 3]);
  for (let i = 0; i < 15; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `element ${i}`);
  tf.dispose([x, ids, out]);
});
