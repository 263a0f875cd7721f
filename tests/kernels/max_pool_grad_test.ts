/**
 * The wasm `MaxPoolGrad` for `2×2` windows at stride 2
 * (lib/kernels/max_pool_grad.ts) against a JavaScript reference of the
 * first-maximum rule and against the cpu backend, on quantised inputs full
 * of ties; every other pooling against tfjs's own kernel, which it must
 * still reach. The file runs in the build this process starts (threaded by
 * default) and again, in a child process, in the other.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest, testInOtherWasmBuild } from "../_helpers.ts";
import { randn } from "./_conv_reference.ts";
import { initBackend } from "../../lib/backend.ts";
import { originalKernel } from "../../lib/kernels/mod.ts";

/** Inputs with few distinct values, so that most windows hold a tie. */
function quantised(size: number, seed: number, levels = 3): Float32Array {
  return randn(seed, size).map((v) => Math.round(levels * Math.tanh(v)));
}

/**
 * `dx` of `Σ maxPool(x, 2, 2, "valid") · dy`: each window's `dy` goes to its
 * first maximum in row-major order (rows and columns past the last window: 0).
 */
function referenceGrad(x: Float32Array, [n, h, w, c]: number[], dy: Float32Array): Float32Array {
  const ho = Math.floor(h / 2), wo = Math.floor(w / 2);
  const dx = new Float32Array(x.length);
  let g = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        for (let ch = 0; ch < c; ch++, g++) {
          let best = -Infinity, at = -1;
          for (const [u, v] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const p = ((b * h + 2 * i + u) * w + 2 * j + v) * c + ch;
            if (x[p] > best) [best, at] = [x[p], p];
          }
          if (at >= 0) dx[at] = dy[g];
        }
      }
    }
  }
  return dx;
}

/** The gradient of `Σ maxPool(x) · dy` through tfjs on the active backend. */
async function poolGrad(
  x: Float32Array,
  shape: number[],
  dy: Float32Array,
  size: number | [number, number] = 2,
  stride: number | [number, number] = 2,
  pad: "valid" | "same" = "valid",
): Promise<Float32Array> {
  const xt = tf.tensor4d(x, shape as [number, number, number, number]);
  const f = (v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, size, stride, pad);
  const outShape = tf.tidy(() => f(xt).shape);
  const dyt = tf.tensor(dy, outShape);
  const dx = tf.grad(f)(xt, dyt);
  const data = await dx.data<"float32">();
  tf.dispose([xt, dyt, dx]);
  return data;
}

const SHAPES = [
  [2, 8, 6, 5],
  [3, 7, 9, 3], // odd: the last row and column are in no window
  [1, 2, 2, 1],
  [16, 28, 28, 8],
];

backendTest("2×2 stride-2 max-pool gradients go to the first maximum", async () => {
  for (const [i, shape] of SHAPES.entries()) {
    const x = quantised(shape.reduce((a, b) => a * b, 1), 30 + i);
    const dy = randn(40 + i, shape[0] * (shape[1] >> 1) * (shape[2] >> 1) * shape[3]);
    const got = await poolGrad(x, shape, dy);
    assert.deepEqual(got, referenceGrad(x, shape, dy), `x ${shape}`);
  }
}, { backends: ["wasm"] });

backendTest("the wasm 2×2 max-pool gradient equals the cpu backend's, ties included", async () => {
  const shape = [4, 10, 12, 6];
  const x = quantised(shape.reduce((a, b) => a * b, 1), 50, 2);
  const dy = randn(51, 4 * 5 * 6 * 6);
  const wasm = await poolGrad(x, shape, dy);
  const memory = tf.memory().numTensors;
  await initBackend({ backend: "cpu", log: false });
  try {
    const cpu = await poolGrad(x, shape, dy);
    assert.deepEqual(wasm, cpu);
    assert.equal(tf.memory().numTensors, memory, "cpu leaked tensors");
  } finally {
    await initBackend({ backend: "wasm", log: false });
  }
}, { backends: ["wasm"] });

backendTest("a window whose forward maximum is NaN passes no gradient", async () => {
  // Channel 0 is all NaN (tfjs-wasm's max pool gives -Infinity, which no input equals); channel 1 ties.
  const x = new Float32Array([NaN, 1, NaN, 3, NaN, 2, NaN, 3]);
  const got = await poolGrad(x, [1, 2, 2, 2], new Float32Array([5, 7]));
  assert.deepEqual(Array.from(got), [0, 0, 0, 7, 0, 0, 0, 0]);
}, { backends: ["wasm"] });

backendTest("other poolings give exactly tfjs's own MaxPoolGrad", async () => {
  const original = originalKernel("MaxPoolGrad", "wasm");
  assert.ok(original, "tfjs's wasm MaxPoolGrad was recorded");
  const backend = tf.engine().backend;
  const cases: [
    number[],
    number | [number, number],
    number | [number, number],
    "valid" | "same",
  ][] = [
    [[2, 9, 9, 4], 3, 2, "same"], // overlapping and padded
    [[2, 8, 8, 4], 2, 1, "valid"], // overlapping
    [[2, 7, 7, 4], 2, 2, "same"], // padded below and right
    [[2, 9, 9, 4], 3, 3, "valid"], // another window
    [[2, 8, 8, 4], [2, 1], [2, 1], "valid"],
  ];
  for (const [i, [shape, size, stride, pad]] of cases.entries()) {
    const label = `x ${shape}, window ${size}, stride ${stride}, ${pad}`;
    const x = quantised(shape.reduce((a, b) => a * b, 1), 60 + i);
    const xt = tf.tensor4d(x, shape as [number, number, number, number]);
    const y = tf.maxPool(xt, size, stride, pad);
    const dy = tf.tensor(randn(70 + i, y.size), y.shape);
    const attrs = { filterSize: size, strides: stride, pad };
    const got = tf.engine().runKernel(
      "MaxPoolGrad",
      { dy, input: xt, output: y },
      attrs,
    ) as tf.Tensor;
    const direct = original.kernelFunc({
      inputs: { dy, input: xt, output: y },
      attrs,
      backend,
    }) as tf.TensorInfo;
    const want = tf.engine().makeTensorFromTensorInfo(direct);
    assert.deepEqual(await got.data(), await want.data(), label);
    tf.dispose([xt, y, dy, got, want]);
  }
}, { backends: ["wasm"] });

testInOtherWasmBuild("MaxPoolGrad 2×2", import.meta.url, 4);
