/**
 * The wasm `Sum` over leading axes (lib/kernels/sum_leading.ts) against a
 * float64 sum in JavaScript, and every other reduction against tfjs's own
 * kernel, which it must still reach. The file runs in the build this process
 * starts (threaded by default) and again, in a child process, in the other.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose, testInOtherWasmBuild } from "../_helpers.ts";
import { randn } from "./_conv_reference.ts";
import { originalKernel } from "../../lib/kernels/mod.ts";

/** `Σ` over `axes` of `x` (shape `shape`) in float64, keeping the other axes in order. */
function referenceSum(x: ArrayLike<number>, shape: number[], axes: number[]): Float64Array {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const out = new Float64Array(kept.reduce((s, i) => s * shape[i], 1));
  const index = new Array(shape.length).fill(0);
  for (let f = 0; f < x.length; f++) {
    let o = 0;
    for (const i of kept) o = o * shape[i] + index[i];
    out[o] += x[f];
    for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
  }
  return out;
}

/** Values with a large common offset, so that a float32 running sum visibly drifts. */
function offsetData(size: number, seed: number): Float32Array {
  return randn(seed, size).map((v) => 1000 + v);
}

backendTest("Sum over leading axes is a float64 sum rounded once", async () => {
  const cases: [number[], number | number[]][] = [
    [[64, 32, 32, 8], [0, 1, 2]], // 65536 rows: a float32 running sum drifts far past 1 ulp
    [[7, 3, 5, 6], [0, 1, 2]], // 105 rows: not a multiple of the 4-row step
    [[5, 3, 7], [0, 1]],
    [[9, 4], 0],
    [[3, 1], [0]],
    [[6, 5, 4], [1, 0]], // unordered
    [[2, 3, 4, 5], [-4, -3, -2]], // negative
    [[4, 4, 4, 4], [0, 0, 1]], // repeated
    [[0, 3], [0]], // empty: zeros (tfjs's own Sum leaves the output unwritten)
  ];
  for (const [i, [shape, axis]] of cases.entries()) {
    const data = offsetData(shape.reduce((a, b) => a * b, 1), 10 + i);
    const x = tf.tensor(data, shape);
    const got = await readAndDispose(tf.sum(x, axis));
    x.dispose();
    const axes = [...new Set([axis].flat().map((a) => (a + shape.length) % shape.length))];
    const want = referenceSum(data, shape, axes);
    assert.equal(got.length, want.length);
    for (let j = 0; j < want.length; j++) {
      // One float32 ulp of the exact sum.
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(want[j]))) - 23);
      assert.ok(
        Math.abs(got[j] - want[j]) <= ulp,
        `${shape} over ${axis}: element ${j} is ${got[j]}, float64 sum ${want[j]}`,
      );
    }
  }
}, { backends: ["wasm"] });

backendTest("Sum keeps the reduced leading axes as 1s with keepDims", async () => {
  const data = randn(3, 2 * 3 * 4);
  const x = tf.tensor(data, [2, 3, 4]);
  const s = tf.sum(x, [0, 1], true);
  assert.deepEqual(s.shape, [1, 1, 4]);
  assertClose(await readAndDispose(s), referenceSum(data, [2, 3, 4], [0, 1]), { rtol: 1e-6 });
  x.dispose();
}, { backends: ["wasm"] });

backendTest("other reductions give exactly tfjs's own Sum", async () => {
  const original = originalKernel("Sum", "wasm");
  assert.ok(original, "tfjs's wasm Sum was recorded");
  const backend = tf.engine().backend;
  const cases: [number[], number[] | null, "float32" | "int32", boolean][] = [
    [[4, 5, 6, 7], [3], "float32", false], // innermost
    [[4, 5, 6, 7], [1, 2], "float32", false], // middle
    [[4, 5, 6, 7], [0, 2], "float32", true], // interleaved
    [[4, 5, 6, 7], [0, 1, 2, 3], "float32", false], // everything
    [[4, 5, 6, 7], null, "float32", false],
    [[11], [0], "float32", false],
    [[4, 5, 6], [0, 1], "int32", false],
  ];
  for (const [i, [shape, axis, dtype, keepDims]] of cases.entries()) {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = randn(20 + i, size).map((v) => dtype === "int32" ? Math.round(8 * v) : v);
    const x = tf.tensor(values, shape, dtype);
    const got = tf.sum(x, axis ?? undefined, keepDims);
    const direct = original.kernelFunc({
      inputs: { x },
      attrs: { axis: axis ?? shape.map((_, d) => d), keepDims },
      backend,
    }) as tf.TensorInfo;
    const want = tf.engine().makeTensorFromTensorInfo(direct);
    const label = `${dtype} ${shape} over ${axis}`;
    assert.deepEqual(got.shape, want.shape, label);
    assert.equal(got.dtype, want.dtype, label);
    assert.deepEqual(await got.data(), await want.data(), label);
    const ref = referenceSum(values, shape, axis ?? shape.map((_, d) => d));
    assertClose(await readAndDispose(got), ref, { rtol: 1e-5, label });
    tf.dispose([x, want]);
  }
}, { backends: ["wasm"] });

testInOtherWasmBuild("Sum over leading axes", import.meta.url, 3);
