/**
 * Which formulation the toolkit's conv-gradient kernels pick, observed through
 * the backend kernels they call: the numbers are checked in conv_grads_test.ts,
 * this checks that the faster paths are the ones that run.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "assert";
import { backendTest } from "../_helpers.ts";
import type { BackendName } from "../../lib/backend.ts";
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from "../../lib/kernels/mod.ts";

/** Attributes of every call to the named kernels of `backend` while `fn` runs. */
function recordCalls(
  backend: BackendName,
  names: string[],
  fn: () => void,
): Map<string, tf.NamedAttrMap[]> {
  const calls = new Map(names.map((n) => [n, [] as tf.NamedAttrMap[]]));
  const originals = names.map((n) => tf.getKernel(n, backend)!);
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        calls.get(k.kernelName)!.push(args.attrs ?? {});
        return k.kernelFunc(args);
      },
    });
  }
  try {
    fn();
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
  return calls;
}

/** A forward conv layer: `[n, h, h, ci]` input, `k×k` filter to `co` channels. */
interface Layer {
  n: number;
  h: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
  pad: number;
}

function runGrad(backend: BackendName, kind: "Filter" | "Input", l: Layer): void {
  const config = kind === "Filter"
    ? conv2DBackpropFilterConfig(backend)
    : conv2DBackpropInputConfig(backend);
  const ho = Math.floor((l.h + 2 * l.pad - l.k) / l.stride) + 1;
  const x = tf.zeros([l.n, l.h, l.h, l.ci]);
  const w = tf.zeros([l.k, l.k, l.ci, l.co]);
  const dy = tf.zeros([l.n, ho, ho, l.co]);
  const attrs = {
    strides: [l.stride, l.stride],
    pad: [[0, 0], [l.pad, l.pad], [l.pad, l.pad], [0, 0]],
    dilations: [1, 1],
    dataFormat: "NHWC",
    filterShape: [l.k, l.k, l.ci, l.co],
    inputShape: [l.n, l.h, l.h, l.ci],
  } as unknown as tf.NamedAttrMap;
  const inputs = kind === "Filter" ? { x, dy } : { dy, filter: w };
  const backendImpl = tf.engine().backend;
  const out = config.kernelFunc({ inputs, attrs, backend: backendImpl }) as tf.TensorInfo;
  backendImpl.disposeData(out.dataId);
  tf.dispose([x, w, dy]);
}

backendTest("a 1×1 input gradient multiplies without a transposed operand", (backend) => {
  // The bench CNN's stride-1 shortcut and ResNet-18's stride-2 downsample take the same branch.
  for (const stride of [1, 2]) {
    const layer = { n: 2, h: 6, ci: 8, co: 16, k: 1, stride, pad: 0 };
    const calls = recordCalls(backend, ["BatchMatMul", "Conv2D"], () => {
      runGrad(backend, "Input", layer);
    });
    const products = calls.get("BatchMatMul")!;
    assert.equal(products.length, 1, `stride ${stride}: one product`);
    assert.equal(products[0].transposeA, false, `stride ${stride}: transposeA`);
    assert.equal(products[0].transposeB, false, `stride ${stride}: transposeB`);
    assert.equal(calls.get("Conv2D")!.length, 0, `stride ${stride}: no convolution`);
  }
});

backendTest("few-channel filter gradients take im2col on wasm only, at stride 1", (backend) => {
  const cases: [Layer, boolean][] = [
    [{ n: 2, h: 7, ci: 1, co: 4, k: 3, stride: 1, pad: 1 }, backend === "wasm"],
    [{ n: 2, h: 7, ci: 4, co: 4, k: 3, stride: 1, pad: 0 }, backend === "wasm"],
    [{ n: 2, h: 7, ci: 5, co: 4, k: 3, stride: 1, pad: 1 }, false],
    [{ n: 2, h: 8, ci: 1, co: 4, k: 3, stride: 2, pad: 1 }, false],
  ];
  for (const [layer, im2col] of cases) {
    const calls = recordCalls(backend, ["BatchMatMul", "Concat", "Conv2D"], () => {
      runGrad(backend, "Filter", layer);
    });
    const label = `Ci ${layer.ci} stride ${layer.stride}`;
    assert.equal(calls.get("Concat")!.length, im2col ? 1 : 0, `${label}: im2col matrix built`);
    assert.equal(calls.get("BatchMatMul")!.length, im2col ? 1 : 0, `${label}: one product`);
    assert.equal(calls.get("Conv2D")!.length, im2col ? 0 : 1, `${label}: dilated convolution`);
  }
});
