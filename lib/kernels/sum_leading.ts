/**
 * `Sum` over the leading axes of a float32 tensor on wasm, as one pass over
 * the wasm heap: viewing `x` as `[R, C]` (`R` the product of the reduced
 * leading axes, `C` of the rest), `out[c] = Σ_r x[r·C + c]`, accumulated in
 * float64 four rows at a time.
 *
 * Batch norm reduces `[N,H,W,C]` over `[0,1,2]`. tfjs-wasm's `Sum` only
 * reduces innermost axes, so it first transposes the whole tensor (a full
 * copy) and then sums each row of the copy: one pass here against two there.
 * An empty input sums to zeros (tfjs-wasm's own `Sum` returns its output
 * buffer unwritten then). Every other reduction (inner, interleaved or all
 * axes, other dtypes) goes to tfjs's own kernel.
 *
 * @module
 */
import { type KernelBackend, type TensorInfo, util } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig } from "../tf_types.ts";
import { requireOriginal } from "./runner.ts";

/**
 * How many leading axes `axis` names when it is exactly `0..k-1` of a rank
 * `rank` tensor with at least one axis left over; 0 otherwise.
 */
function leadingAxes(axis: number | number[], rank: number): number {
  const axes = [...new Set(util.parseAxisParam(axis, Array(rank).fill(1)))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= rank) return 0;
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

/** Float64 accumulators, reused across calls (grown, never shrunk). */
let scratch = new Float64Array(0);

/**
 * `acc[c] = Σ_r x[r·cols + c]` over `rows` rows: four rows per pass over the
 * accumulators, so each accumulator is loaded and stored once per four inputs.
 */
function sumRows(x: Float32Array, rows: number, cols: number, acc: Float64Array): void {
  acc.fill(0, 0, cols);
  const r4 = rows - (rows % 4);
  let o = 0;
  for (let r = 0; r < r4; r += 4, o += 4 * cols) {
    const o1 = o + cols, o2 = o1 + cols, o3 = o2 + cols;
    for (let c = 0; c < cols; c++) {
      acc[c] += (x[o + c] + x[o1 + c]) + (x[o2 + c] + x[o3 + c]);
    }
  }
  for (let r = r4; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) acc[c] += x[o + c];
  }
}

/**
 * `Sum` for the `wasm` backend (the only one whose memory it can address),
 * specialised to float32 reductions over leading axes; any other call goes to
 * tfjs's own `Sum`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend.ts";
 *
 * // initBackend registers this kernel on wasm (see TRAINING_KERNELS).
 * await initBackend({ backend: "wasm", wasmThreads: 1, log: false });
 * const x = tf.tensor3d([[[1, 2]], [[3, 4]]]); // [2, 1, 2]
 * const s = tf.sum(x, [0, 1]);
 * console.log(await s.data()); // Float32Array [4, 6]
 * tf.dispose([x, s]);
 * ```
 */
export function sumLeadingConfig(backendName: string): KernelConfig {
  return {
    kernelName: "Sum",
    backendName,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
      const rank = x.shape.length;
      const k = x.dtype === "float32" ? leadingAxes(axis, rank) : 0;
      const rows = util.sizeFromShape(x.shape.slice(0, k));
      const cols = util.sizeFromShape(x.shape.slice(k));
      if (k === 0) return requireOriginal("Sum", backendName).kernelFunc(args);
      const backend = args.backend as KernelBackend as unknown as BackendWasm;
      const shape = keepDims ? [...Array(k).fill(1), ...x.shape.slice(k)] : x.shape.slice(k);
      const out = backend.makeOutput(shape, "float32");
      // Views only after makeOutput: a malloc that grows the heap detaches older ones.
      const xv = backend.typedArrayFromHeap(x) as Float32Array;
      const ov = backend.typedArrayFromHeap(out) as Float32Array;
      if (scratch.length < cols) scratch = new Float64Array(cols);
      sumRows(xv, rows, cols, scratch);
      ov.set(scratch.subarray(0, cols));
      return out;
    },
  };
}
