/**
 * Run by `wasm_threads_test.ts` in a fresh process (the wasm build is chosen
 * once per process): start wasm with the thread count in argv (or from
 * `COSS_WASM_THREADS` when argv is empty), compute a convolution, its two
 * gradients and a matrix product, compute the same on cpu, and print one JSON
 * line. It returns without `Deno.exit`, so a pthread worker that kept the
 * process alive would show up as a timeout.
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend.ts";

function inputs() {
  const x = tf.randomUniform([4, 9, 9, 8], -1, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomUniform([3, 3, 8, 16], -1, 1, "float32", 2) as tf.Tensor4D;
  const a = tf.randomUniform([96, 200], -1, 1, "float32", 3) as tf.Tensor2D;
  const b = tf.randomUniform([200, 64], -1, 1, "float32", 4) as tf.Tensor2D;
  return { x, w, a, b };
}

async function compute(): Promise<Float32Array[]> {
  const { x, w, a, b } = inputs();
  const loss = (xi: tf.Tensor, wi: tf.Tensor) =>
    tf.sum(tf.square(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 2, "same")));
  const [gx, gw] = tf.grads(loss)([x, w]);
  const outs = [tf.conv2d(x, w, 1, "same"), gx, gw, tf.matMul(a, b)];
  const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([x, w, a, b, ...outs]);
  return values;
}

let report: Record<string, unknown>;
try {
  const arg = Deno.args[0];
  const info = await initBackend({
    backend: "wasm",
    log: false,
    wasmThreads: arg ? Number(arg) : undefined,
  });
  const before = tf.memory().numTensors;
  const wasm = await compute();
  const leaked = tf.memory().numTensors - before;
  await initBackend({ backend: "cpu", log: false });
  const cpu = await compute();
  let worst = 0;
  wasm.forEach((v, i) => {
    const scale = Math.max(...cpu[i].map(Math.abs));
    v.forEach((x, j) => worst = Math.max(worst, Math.abs(x - cpu[i][j]) / scale));
  });
  report = { line: info.line, threads: info.wasmThreads, worst, leaked };
} catch (e) {
  report = { error: (e as Error).message };
}
console.log(JSON.stringify(report));
