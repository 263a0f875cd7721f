/**
 * The WebGPU implicit-GEMM weight gradient against the float64 direct-loop
 * reference, with and without split-K, across tile edges; and its launch plan.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import {
  conv2DBackpropFilterWebGPUConfig,
  planFilterGemm,
  registerTrainingKernels,
} from "../../lib/kernels/mod.ts";
import {
  type ConvCase,
  convGrads,
  convGrid,
  describe,
  outShape,
  randn,
} from "./_conv_reference.ts";

// float32 sums of up to a few thousand terms against a float64 reference.
const RTOL = 1e-4;

const VARIANTS = {
  Default: {},
  // Every chunk 16 rows long: as many partial products as K allows.
  Split: { targetWorkgroups: 1e9, minChunk: 16 },
  Whole: { targetWorkgroups: 1 },
} as const;

for (const [name, options] of Object.entries(VARIANTS)) {
  const config = conv2DBackpropFilterWebGPUConfig("webgpu", options);
  tf.registerKernel({ ...config, kernelName: `TestGemm${name}${config.kernelName}` });
}

/** Shapes that cross the 32- and 64-wide output tiles and the 16-row K passes. */
const EDGE_CASES: ConvCase[] = [
  { n: 3, h: 9, w: 7, ci: 9, kh: 3, kw: 3, co: 70, stride: 1, pad: "same" }, // M 81, N 70
  { n: 2, h: 8, w: 8, ci: 16, kh: 3, kw: 2, co: 33, stride: 2, pad: "valid" },
  { n: 1, h: 5, w: 6, ci: 130, kh: 1, kw: 1, co: 65, stride: 1, pad: "same" }, // M > 128
  {
    n: 2,
    h: 7,
    w: 9,
    ci: 3,
    kh: 3,
    kw: 5,
    co: 5,
    stride: 2,
    pad: [[0, 0], [2, 0], [1, 3], [0, 0]],
  },
];

async function check(c: ConvCase, seed: number) {
  const wShape: [number, number, number, number] = [c.kh, c.kw, c.ci, c.co];
  const yShape = outShape(c);
  const x = randn(seed, c.n * c.h * c.w * c.ci);
  const dy = randn(seed + 2, yShape.reduce((p, q) => p * q, 1));
  const ref = convGrads(c, x, new Float32Array(wShape.reduce((p, q) => p * q, 1)), dy).dw;
  const xt = tf.tensor4d(x, [c.n, c.h, c.w, c.ci]);
  const dyt = tf.tensor4d(dy, yShape);
  const attrs = {
    strides: [c.stride, c.stride],
    pad: c.pad,
    dataFormat: "NHWC",
    filterShape: wShape,
  };
  for (const name of Object.keys(VARIANTS)) {
    const dw = tf.engine().runKernel(
      `TestGemm${name}Conv2DBackpropFilter`,
      { x: xt, dy: dyt },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
    assert.deepEqual(dw.shape, wShape);
    assertClose(await readAndDispose(dw), ref, { rtol: RTOL, label: `${name} ${describe(c)}` });
  }
  tf.dispose([xt, dyt]);
}

backendTest("webgpu implicit-GEMM filter gradient matches the direct-loop reference", async () => {
  let seed = 2000;
  for (const c of [...convGrid(false), ...EDGE_CASES]) await check(c, seed += 10);
}, { backends: ["webgpu"] });

backendTest("webgpu trains with the implicit-GEMM filter gradient registered", async () => {
  assert.deepEqual(registerTrainingKernels("webgpu").slice(0, 2), ["Conv2DBackpropFilter", "AddN"]);
  const kernel = tf.getKernel("Conv2DBackpropFilter", "webgpu");
  assert.ok(kernel?.kernelFunc.toString().includes("FilterGemmProgram"));
  // NCHW is handed to tfjs's own kernel, which still gives the right answer.
  const c: ConvCase = { n: 2, h: 6, w: 5, ci: 3, kh: 3, kw: 3, co: 4, stride: 1, pad: "same" };
  const x = randn(7, 2 * 6 * 5 * 3);
  const dy = randn(8, 2 * 6 * 5 * 4);
  const ref = convGrads(c, x, new Float32Array(3 * 3 * 3 * 4), dy).dw;
  const nchw = (a: Float32Array, ch: number) =>
    tf.tidy(() => tf.tensor4d(a, [2, 6, 5, ch]).transpose([0, 3, 1, 2]));
  const [xt, dyt] = [nchw(x, 3), nchw(dy, 4)];
  const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x: xt, dy: dyt }, {
    strides: [1, 1],
    pad: "same",
    dataFormat: "NCHW",
    filterShape: [3, 3, 3, 4],
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  assertClose(await readAndDispose(dw), ref, { rtol: RTOL, label: "NCHW delegate" });
  tf.dispose([xt, dyt]);
}, { backends: ["webgpu"] });

Deno.test("planFilterGemm: tiles cover the output and the chunks cover K", () => {
  for (const [m, n, k] of [[9, 32, 100352], [576, 64, 65536], [4608, 512, 1024], [81, 70, 189]]) {
    for (const options of [{}, { targetWorkgroups: 1 }, { targetWorkgroups: 1e9, minChunk: 16 }]) {
      const p = planFilterGemm(m, n, k, options);
      const label = `${m}×${n}×${k} ${JSON.stringify(options)}`;
      assert.equal(p.tile, 4 * p.threads, label);
      assert.ok(p.dispatch[0] * p.tile >= n && (p.dispatch[0] - 1) * p.tile < n, label);
      assert.ok(p.dispatch[1] * p.tile >= m && (p.dispatch[1] - 1) * p.tile < m, label);
      assert.equal(p.chunk % 16, 0, label);
      assert.equal(p.dispatch[2], p.splits, label);
      // Every split has work and together they cover K exactly once.
      assert.ok(p.splits * p.chunk >= k && (p.splits - 1) * p.chunk < k, label);
    }
  }
  assert.equal(planFilterGemm(4608, 512, 1024).splits, 1); // 1152 tiles need no split
  assert.equal(planFilterGemm(9, 32, 100352).splits, 98); // one 32×32 tile: K split to 1024-row chunks
  assert.equal(planFilterGemm(81, 70, 189, { targetWorkgroups: 1 }).splits, 1);
});
