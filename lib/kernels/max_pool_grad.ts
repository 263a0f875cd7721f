/**
 * `MaxPoolGrad` on wasm for `2×2` windows at stride 2 without padding (the
 * pooling of conv nets), as one pass over the wasm heap: window `(n,i,j,c)`
 * passes `dy[n,i,j,c]` to the first of its four positions, in row-major
 * order, whose value equals the forward output `y[n,i,j,c]`; every other
 * position of `dx` is 0.
 *
 * For inputs without NaN that is the first maximum, as on tfjs's cpu
 * backend; tfjs-wasm's own kernel gives ties to the last maximum instead.
 * Windows with NaN follow the forward output (tfjs-wasm's max pool does not
 * skip NaN the way the cpu backend does): a NaN output passes no gradient.
 * A window of −∞ only passes its gradient to the first position, as
 * tfjs-wasm's kernel does (the cpu backend passes none).
 *
 * tfjs-wasm's C++ kernel is the general one (any window, stride, dilation
 * and padding) and recomputes every window's maximum. Other windows,
 * strides or paddings and dtypes other than float32 go to it.
 *
 * @module
 */
import { backend_util, type KernelBackend, type TensorInfo, util } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig } from "../tf_types.ts";
import { requireOriginal } from "./runner.ts";

/**
 * `dx` for `2×2` windows at stride 2, given the forward maxima `y`: the first
 * of the four positions (row-major) equal to its window's maximum gets
 * `dy`. The choice is computed with integer masks, not branches: on random
 * data a compare-and-branch argmax mispredicts about every other window and
 * ran slower (docs/performance.md, "Smaller measurements behind the code").
 */
function scatter2x2(
  x: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  [n, h, w, c]: number[],
  ho: number,
  wo: number,
): void {
  const row = w * c;
  let g = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      const top = (b * h + 2 * i) * row;
      for (let j = 0; j < wo; j++) {
        const corner = top + 2 * j * c;
        for (let ch = 0; ch < c; ch++, g++) {
          const a = corner + ch;
          const m = y[g];
          // notA: the top-left is not the max; notB: neither it nor top-right; ...
          const notA = +(x[a] !== m);
          const notB = notA & +(x[a + c] !== m);
          const notC = notB & +(x[a + row] !== m);
          const none = notC & +(x[a + row + c] !== m);
          const at = a + notA * c + notB * (row - c) + notC * c;
          // A window whose maximum is NaN has no position equal to it: no gradient.
          dx[at] = none ? 0 : dy[g];
        }
      }
    }
  }
}

/**
 * Whether the pooling is the fast path's: float32, NHWC, `2×2` windows at
 * stride 2 with no padding (rows or columns past the last window get 0), and
 * the forward output of matching shape.
 */
function twoByTwo(
  input: TensorInfo,
  dy: TensorInfo,
  output: TensorInfo,
  attrs: Record<string, unknown>,
): boolean {
  if (input.shape.length !== 4) return false;
  if ([input, dy, output].some((t) => t.dtype !== "float32")) return false;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as "valid",
    attrs.dimRoundingMode as "floor" | undefined,
  );
  const { padInfo: p, outShape } = info;
  return info.filterHeight === 2 && info.filterWidth === 2 &&
    info.strideHeight === 2 && info.strideWidth === 2 &&
    p.top === 0 && p.left === 0 && p.bottom <= 0 && p.right <= 0 &&
    util.arraysEqual(dy.shape, outShape) && util.arraysEqual(output.shape, outShape) &&
    util.sizeFromShape(outShape) > 0;
}

/**
 * `MaxPoolGrad` for the `wasm` backend (the only one whose memory it can
 * address), specialised to non-overlapping, unpadded windows of float32 data;
 * any other call goes to tfjs's own `MaxPoolGrad`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 *
 * // initBackend registers this kernel on wasm (see TRAINING_KERNELS).
 * await initBackend({ backend: "wasm", wasmThreads: 1, log: false });
 * const x = tf.tensor4d([1, 3, 3, 2], [1, 2, 2, 1]);
 * const dx = tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, 2, 2, "valid"))(x);
 * console.log(await dx.data()); // Float32Array [0, 1, 0, 0]: the first of the tied 3s
 * tf.dispose([x, dx]);
 * ```
 */
export function maxPoolGradConfig(backendName: string): KernelConfig {
  return {
    kernelName: "MaxPoolGrad",
    backendName,
    kernelFunc: (args) => {
      const { dy, input, output } = args.inputs as Record<string, TensorInfo | undefined>;
      const attrs = args.attrs as Record<string, unknown>;
      if (dy && input && output && twoByTwo(input, dy, output, attrs)) {
        const backend = args.backend as KernelBackend as unknown as BackendWasm;
        const out = backend.makeOutput(input.shape, "float32");
        // Views only after makeOutput: a malloc that grows the heap detaches older ones.
        const dx = backend.typedArrayFromHeap(out) as Float32Array;
        dx.fill(0);
        const [, ho, wo] = dy.shape;
        const x = backend.typedArrayFromHeap(input) as Float32Array;
        const y = backend.typedArrayFromHeap(output) as Float32Array;
        const g = backend.typedArrayFromHeap(dy) as Float32Array;
        scatter2x2(x, y, g, dx, input.shape, ho, wo);
        return out;
      }
      return requireOriginal("MaxPoolGrad", backendName).kernelFunc(args);
    },
  };
}
