import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { ALL_BACKENDS, assertClose, backendTest, readAndDispose } from "../_helpers.ts";
import {
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
} from "../../lib/kernels/mod.ts";
import {
  type ConvCase,
  convForward,
  convGrads,
  convGrid,
  describe,
  outShape,
  randn,
} from "./_conv_reference.ts";

// float32 sums of up to a few hundred terms against a float64 reference.
const RTOL = 1e-4;

function tensors(c: ConvCase, seed: number) {
  const wShape: [number, number, number, number] = [c.kh, c.kw, c.ci, c.co];
  const yShape = outShape(c);
  const x = randn(seed, c.n * c.h * c.w * c.ci);
  const w = randn(seed + 1, wShape.reduce((p, q) => p * q, 1));
  const dy = randn(seed + 2, yShape.reduce((p, q) => p * q, 1));
  return { x, w, dy, wShape, yShape, xShape: [c.n, c.h, c.w, c.ci] as const };
}

/** Gradients through the public ops, i.e. through whatever kernels are registered. */
async function checkPublicPath(c: ConvCase, seed: number) {
  const { x, w, dy, wShape, yShape, xShape } = tensors(c, seed);
  const xt = tf.tensor4d(x, [...xShape]);
  const wt = tf.tensor4d(w, wShape);
  const dyt = tf.tensor4d(dy, yShape);
  const op = (a: tf.Tensor4D, b: tf.Tensor4D) =>
    c.depthwise
      ? tf.depthwiseConv2d(a, b, c.stride, c.pad)
      : tf.conv2d(a, b, c.stride, c.pad as "same");
  const y = op(xt, wt);
  assert.deepEqual(y.shape, yShape, describe(c));
  const [dx, dw] = tf.grads((a, b) => op(a as tf.Tensor4D, b as tf.Tensor4D))([xt, wt], dyt);
  const ref = convGrads(c, x, w, dy);
  assertClose(await readAndDispose(y), convForward(c, x, w), {
    rtol: RTOL,
    label: `y ${describe(c)}`,
  });
  assertClose(await readAndDispose(dx), ref.dx, { rtol: RTOL, label: `dx ${describe(c)}` });
  assertClose(await readAndDispose(dw), ref.dw, { rtol: RTOL, label: `dw ${describe(c)}` });
  tf.dispose([xt, wt, dyt]);
}

/** Filter-gradient formulations forced on, by kernel-name infix: im2col at stride 1, dilated conv. */
const FILTER_VARIANTS = {
  Im2col: { im2colMaxChannels: Infinity },
  Dilated: { im2colMaxChannels: 0 },
} as const;

// Register the toolkit's formulations under private names on every backend, so
// that they can be run directly even where the backend keeps its own kernel
// (WebGPU) and checked there too.
for (const backend of ALL_BACKENDS) {
  for (
    const factory of [
      conv2DBackpropFilterConfig,
      conv2DBackpropInputConfig,
      depthwiseBackpropFilterConfig,
      depthwiseBackpropInputConfig,
    ]
  ) {
    const config = factory(backend);
    tf.registerKernel({ ...config, kernelName: `Test${config.kernelName}` });
  }
  // Both filter-gradient formulations, whichever the backend defaults to.
  for (const [variant, options] of Object.entries(FILTER_VARIANTS)) {
    const config = conv2DBackpropFilterConfig(backend, options);
    tf.registerKernel({ ...config, kernelName: `Test${variant}${config.kernelName}` });
  }
}

async function checkDirect(c: ConvCase, seed: number) {
  const { x, w, dy, wShape, yShape, xShape } = tensors(c, seed);
  const xt = tf.tensor4d(x, [...xShape]);
  const wt = tf.tensor4d(w, wShape);
  const dyt = tf.tensor4d(dy, yShape);
  const common: tf.NamedAttrMap = {
    strides: [c.stride, c.stride],
    pad: c.pad,
    dilations: [c.dilation ?? 1, c.dilation ?? 1],
    dataFormat: "NHWC",
  };
  const prefix = c.depthwise ? "TestDepthwiseConv2dNative" : "TestConv2D";
  const dw = tf.engine().runKernel(`${prefix}BackpropFilter`, { x: xt, dy: dyt }, {
    ...common,
    filterShape: wShape,
  }) as tf.Tensor;
  const dx = tf.engine().runKernel(`${prefix}BackpropInput`, { dy: dyt, filter: wt }, {
    ...common,
    inputShape: [...xShape],
  }) as tf.Tensor;
  assert.deepEqual(dw.shape, wShape, describe(c));
  assert.deepEqual(dx.shape, [...xShape], describe(c));
  const ref = convGrads(c, x, w, dy);
  assertClose(await readAndDispose(dx), ref.dx, { rtol: RTOL, label: `dx ${describe(c)}` });
  assertClose(await readAndDispose(dw), ref.dw, { rtol: RTOL, label: `dw ${describe(c)}` });
  for (const variant of c.depthwise ? [] : Object.keys(FILTER_VARIANTS)) {
    const forced = tf.engine().runKernel(`Test${variant}Conv2DBackpropFilter`, { x: xt, dy: dyt }, {
      ...common,
      filterShape: wShape,
    }) as tf.Tensor;
    assertClose(await readAndDispose(forced), ref.dw, {
      rtol: RTOL,
      label: `dw (${variant}) ${describe(c)}`,
    });
  }
  tf.dispose([xt, wt, dyt]);
}

backendTest("conv2d gradients match the direct-loop reference", async () => {
  let seed = 100;
  for (const c of convGrid(false)) await checkPublicPath(c, seed += 10);
});

backendTest("depthwise conv2d gradients match the direct-loop reference", async () => {
  let seed = 500;
  for (const c of convGrid(true)) await checkPublicPath(c, seed += 10);
});

backendTest("toolkit Conv2DBackprop{Filter,Input} kernels, called directly", async () => {
  let seed = 900;
  for (const c of convGrid(false)) await checkDirect(c, seed += 10);
});

backendTest("toolkit depthwise backprop kernels, called directly (incl. dilation)", async () => {
  let seed = 1300;
  const cases = convGrid(true);
  cases.push(
    {
      n: 2,
      h: 9,
      w: 8,
      ci: 3,
      kh: 3,
      kw: 3,
      co: 2,
      stride: 1,
      dilation: 2,
      pad: "same",
      depthwise: true,
    },
    {
      n: 1,
      h: 9,
      w: 9,
      ci: 2,
      kh: 2,
      kw: 3,
      co: 1,
      stride: 1,
      dilation: 3,
      pad: "valid",
      depthwise: true,
    },
  );
  for (const c of cases) await checkDirect(c, seed += 10);
});

Deno.test("the direct-loop reference agrees with finite differences", () => {
  const c: ConvCase = { n: 1, h: 5, w: 4, ci: 2, kh: 3, kw: 2, co: 2, stride: 2, pad: "same" };
  const { x, w, dy } = tensors(c, 7);
  const xs = Float64Array.from(x), ws = Float64Array.from(w);
  const loss = () => convForward(c, xs, ws).reduce((s, v, i) => s + v * dy[i], 0);
  const { dx, dw } = convGrads(c, xs, ws, dy);
  const h = 1e-6;
  for (const [arr, grad] of [[xs, dx], [ws, dw]] as const) {
    for (let i = 0; i < arr.length; i++) {
      const keep = arr[i];
      arr[i] = keep + h;
      const up = loss();
      arr[i] = keep - h;
      const down = loss();
      arr[i] = keep;
      assert.ok(Math.abs((up - down) / (2 * h) - grad[i]) < 1e-6, `element ${i}`);
    }
  }
});

backendTest(
  "NCHW input gradients go to tfjs's own kernel, set up (wasm's binds C++ in setup)",
  async () => {
    const c: ConvCase = { n: 2, h: 6, w: 5, ci: 3, kh: 3, kw: 3, co: 4, stride: 1, pad: "same" };
    const { w, dy, wShape } = tensors(c, 77);
    const ref = convGrads(c, new Float32Array(2 * 6 * 5 * 3), w, dy).dx;
    const wt = tf.tensor4d(w, wShape);
    const dyNchw = tf.tidy(() => tf.tensor4d(dy, outShape(c)).transpose([0, 3, 1, 2]));
    const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy: dyNchw, filter: wt }, {
      strides: [1, 1],
      pad: "same",
      dataFormat: "NCHW",
      dimRoundingMode: undefined,
      inputShape: [2, 3, 6, 5],
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dxNhwc = dx.transpose([0, 2, 3, 1]);
    dx.dispose();
    assertClose(await readAndDispose(dxNhwc), ref, { rtol: RTOL, label: "NCHW dx" });
    tf.dispose([wt, dyNchw]);
  },
  { backends: ["wasm", "cpu"] },
);
